package wire

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/guestinject/guestinject/vfs"
)

// CancelGrace is how long a cancelled call waits for the agent to answer
// before the connection is given up as wedged. It is generous because an
// emulated (TCG) appliance on a loaded host can take seconds to drain an
// upload; it only matters when the agent has stopped answering.
const CancelGrace = 30 * time.Second

// Client is the host end of a connection: a vfs.FS (with the XattrFS,
// SymlinkFS, RenameFS and TimesFS capabilities) whose calls run in the
// agent. Calls are
// serialised; everything the agent sends is checked before use, and any
// protocol violation breaks the connection for good.
type Client struct {
	conn   io.ReadWriteCloser
	out    *countingWriter // under w: tells a torn frame from one never begun
	w      *Writer
	frames chan frameOrErr
	done   chan struct{} // closed when the connection is given up

	mu      sync.Mutex // one call at a time
	nextID  uint32
	pending pendingCall // a cancelled call whose answer is still due
	owed    []byte      // bytes the stream needs before the next frame (see leave)
	broken  error       // why the connection is unusable
	closed  bool
}

type frameOrErr struct {
	f   Frame
	err error
}

var (
	_ vfs.XattrFS     = (*Client)(nil)
	_ vfs.SymlinkFS   = (*Client)(nil)
	_ vfs.RenameFS    = (*Client)(nil)
	_ vfs.TimesFS     = (*Client)(nil)
	_ vfs.LstatManyFS = (*Client)(nil)
)

// NewClient performs the hello exchange on conn and returns the client.
// The client owns conn and closes it on Close.
func NewClient(ctx context.Context, conn io.ReadWriteCloser) (*Client, error) {
	c := &Client{conn: conn, frames: make(chan frameOrErr, 8), done: make(chan struct{})}
	c.out = &countingWriter{w: conn}
	c.w = NewWriter(c.out)
	go c.readLoop()
	if err := c.w.WriteJSON(FrameHello, 0, Hello{Versions: []int{Version}}); err != nil {
		conn.Close()
		return nil, fmt.Errorf("wire: sending hello: %w", err)
	}
	f, err := c.next(ctx)
	if err == nil && f.Type != FrameHello {
		err = protocolErr("expected hello, got %s", f.Type)
	}
	var h Hello
	if err == nil {
		err = Decode(f.Payload, &h)
	}
	if err == nil && h.Version != Version {
		err = protocolErr("agent chose version %d, host speaks %d", h.Version, Version)
	}
	if err != nil {
		conn.Close()
		return nil, fmt.Errorf("wire: hello: %w", err)
	}
	return c, nil
}

// readLoop turns the byte stream into frames, each with its own payload.
func (c *Client) readLoop() {
	r := NewReader(c.conn)
	for {
		f, err := r.Next()
		fe := frameOrErr{f: f, err: err}
		fe.f.Payload = slices.Clone(f.Payload)
		select {
		case c.frames <- fe:
		case <-c.done:
			return
		}
		if err != nil {
			close(c.frames)
			return
		}
	}
}

func (c *Client) next(ctx context.Context) (Frame, error) {
	select {
	case fe, ok := <-c.frames:
		if !ok {
			return Frame{}, io.ErrUnexpectedEOF
		}
		if fe.err == io.EOF {
			return Frame{}, io.ErrUnexpectedEOF
		}
		return fe.f, fe.err
	case <-ctx.Done():
		return Frame{}, ctx.Err()
	}
}

// fail marks the connection unusable.
func (c *Client) fail(err error) error {
	if c.broken == nil {
		c.broken = err
		close(c.done)
		c.conn.Close()
	}
	return err
}

// call sends req, then the upload if any, and returns the response and
// the data the agent sent before it: only reads and opens may receive
// data, at most min(req.Size, ChunkSize) bytes in non-empty frames, and
// the Response ends it (the agent sends no DataEnd). It holds c.mu.
//
// The call returns when ctx ends, whatever the agent does. A frame the
// agent has not taken whole by then is finished later: its rest, and the
// Cancel (and DataEnd of an upload) that end the call, are owed to the
// stream, and the next call sends them and drains the cancelled call's
// answer before its own request (see drain). So a slow agent keeps its
// connection, and one that stops reading cannot hold the caller.
func (c *Client) call(ctx context.Context, op, name string, req *Request, upload io.Reader, maxUpload int64) (*Response, []byte, error) {
	pathErr := func(err error) error { return &fs.PathError{Op: op, Path: name, Err: err} }
	ioErr := func(err error) error { return pathErr(fmt.Errorf("%w: %v", vfs.ErrIO, err)) }
	if err := vfs.CheckPath(op, name); err != nil {
		return nil, nil, err
	}
	if err := ctx.Err(); err != nil {
		return nil, nil, pathErr(err)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return nil, nil, pathErr(vfs.ErrClosed)
	}
	if c.broken != nil {
		return nil, nil, ioErr(fmt.Errorf("connection to agent lost: %v", c.broken))
	}
	if err := c.drain(ctx); err != nil {
		if c.broken == nil {
			return nil, nil, pathErr(err) // ctx ended first
		}
		return nil, nil, ioErr(err)
	}
	c.nextID++
	id := c.nextID
	endWatch := c.watchWrites(ctx)
	defer endWatch()
	if sent, err := c.send(ctx, FrameRequest, id, req); err != nil {
		if !sent {
			return nil, nil, pathErr(err) // nothing left: still in step
		}
		if c.broken != nil {
			return nil, nil, ioErr(err)
		}
		endWatch()
		c.leave(ctx, req.Op, id, upload != nil)
		return nil, nil, pathErr(err)
	}
	var uploadErr error
	if upload != nil {
		var torn bool
		if torn, uploadErr = c.upload(ctx, id, upload, maxUpload); torn {
			endWatch()
			c.leave(ctx, req.Op, id, true)
			return nil, nil, pathErr(uploadErr)
		}
		if c.broken != nil {
			return nil, nil, ioErr(uploadErr)
		}
	}
	endWatch()
	var data []byte
	for {
		f, err := c.next(ctx)
		if err != nil {
			if ctx.Err() != nil {
				c.leave(ctx, req.Op, id, false)
				c.pending.abortedUpload = uploadErr != nil
				return nil, nil, pathErr(ctx.Err())
			}
			return nil, nil, ioErr(c.fail(err))
		}
		if f.ID != id {
			return nil, nil, ioErr(c.fail(protocolErr("frame for request %d during %d", f.ID, id)))
		}
		switch f.Type {
		case FrameData:
			if !sendsData(req.Op) || len(f.Payload) == 0 || len(data)+len(f.Payload) > min(req.Size, ChunkSize) {
				return nil, nil, ioErr(c.fail(protocolErr("data the call did not ask for")))
			}
			data = append(data, f.Payload...)
		case FrameResponse:
			var resp Response
			if err := Decode(f.Payload, &resp); err != nil {
				return nil, nil, ioErr(c.fail(err))
			}
			if resp.Err != nil {
				if uploadErr != nil {
					return nil, nil, pathErr(uploadErr)
				}
				return nil, nil, resp.Err.PathError(op, errorPath(req, resp.Err, name))
			}
			if uploadErr != nil {
				// The agent finished a write the host could not
				// complete; it cannot have, since the upload ended
				// without success.
				return nil, nil, ioErr(c.fail(protocolErr("agent accepted an aborted upload")))
			}
			return &resp, data, nil
		default:
			return nil, nil, ioErr(c.fail(protocolErr("unexpected %s frame", f.Type)))
		}
	}
}

// sendsData reports whether the agent answers op with Data frames before
// its Response.
func sendsData(op Op) bool { return op == OpRead || op == OpOpen }

// cancelWriteWait is how long a call whose context has ended still tries
// to hand the agent its Cancel before leaving it owed: a few bytes that an
// agent still reading takes at once.
const cancelWriteWait = 100 * time.Millisecond

// pendingCall is a cancelled call whose answer has not come yet.
type pendingCall struct {
	id            uint32 // 0: none
	op            Op
	abortedUpload bool      // the agent must not report success
	by            time.Time // the connection is given up if no answer by then
}

// leave ends the call id, whose context ended, without its answer: a
// Cancel, and a DataEnd when the call's upload was cut short, are owed
// after whatever part of a frame is owed already; they are sent now if
// the agent takes them within cancelWriteWait, and by the next call
// otherwise, which then drains the answer. It holds c.mu.
func (c *Client) leave(ctx context.Context, op Op, id uint32, cutUpload bool) {
	c.owed = append(c.owed, emptyFrame(FrameCancel, id)...)
	if cutUpload {
		c.owed = append(c.owed, emptyFrame(FrameDataEnd, id)...)
	}
	c.pending = pendingCall{id: id, op: op, abortedUpload: cutUpload, by: time.Now().Add(CancelGrace)}
	wait, cancel := context.WithTimeout(context.WithoutCancel(ctx), cancelWriteWait)
	defer cancel()
	c.flush(wait) // what does not leave now stays owed
}

// emptyFrame returns the bytes of a frame without payload.
func emptyFrame(t FrameType, id uint32) []byte {
	b := make([]byte, headerSize)
	b[4] = byte(t)
	binary.BigEndian.PutUint32(b[5:], id)
	return b
}

// flush writes the owed bytes until they have all left or ctx ends; what
// has not left by then stays owed. A write error of any other cause
// breaks the connection. It holds c.mu.
func (c *Client) flush(ctx context.Context) error {
	if len(c.owed) == 0 {
		return nil
	}
	end := c.watchWrites(ctx)
	defer end()
	before := c.out.n
	_, err := c.out.Write(c.owed)
	c.owed = c.owed[c.out.n-before:]
	if err == nil {
		c.owed = nil
		return nil
	}
	if ctx.Err() != nil {
		return ctx.Err()
	}
	return c.fail(err)
}

// drain puts the connection back in step after a cancelled call: it sends
// what is owed and waits for the cancelled call's answer, until ctx ends
// (all is then left to the call after) or until CancelGrace after the
// Cancel, when the agent is taken for wedged and the connection given up.
// Data that a cancelled read or open had under way is dropped, within
// the call's bound. It holds c.mu.
func (c *Client) drain(ctx context.Context) error {
	if c.pending.id == 0 {
		return nil
	}
	wait, stop := context.WithDeadline(ctx, c.pending.by)
	defer stop()
	wedged := func() error {
		return c.fail(fmt.Errorf("agent did not answer a cancelled call within %v", CancelGrace))
	}
	if err := c.flush(wait); err != nil {
		if c.broken != nil {
			return err
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		return wedged()
	}
	dropped := 0
	for {
		f, err := c.next(wait)
		switch {
		case err != nil && ctx.Err() != nil:
			return ctx.Err()
		case err != nil && wait.Err() != nil:
			return wedged()
		case err != nil:
			return c.fail(err)
		case f.ID != c.pending.id:
			return c.fail(protocolErr("frame for request %d while %d is cancelled", f.ID, c.pending.id))
		case f.Type == FrameData:
			dropped += len(f.Payload)
			if !sendsData(c.pending.op) || len(f.Payload) == 0 || dropped > ChunkSize {
				return c.fail(protocolErr("data the cancelled call did not ask for"))
			}
		case f.Type == FrameResponse:
			var resp Response
			if err := Decode(f.Payload, &resp); err != nil {
				return c.fail(err)
			}
			if c.pending.abortedUpload && resp.Err == nil {
				return c.fail(protocolErr("agent accepted an aborted upload"))
			}
			c.pending = pendingCall{}
			return nil
		default:
			return c.fail(protocolErr("unexpected %s frame", f.Type))
		}
	}
}

// writeDeadliner is a connection whose writes can be given a deadline, as
// the appliance's unix socket can.
type writeDeadliner interface{ SetWriteDeadline(time.Time) error }

// watchWrites makes writes give up when ctx ends, so an agent that stops
// reading cannot hold the caller past its context. The returned function
// ends the watch and may be called more than once. It holds c.mu.
func (c *Client) watchWrites(ctx context.Context) (end func()) {
	d, ok := c.conn.(writeDeadliner)
	if !ok || ctx.Done() == nil {
		return func() {}
	}
	fired := make(chan struct{})
	stop := context.AfterFunc(ctx, func() {
		d.SetWriteDeadline(time.Unix(1, 0))
		close(fired)
	})
	return sync.OnceFunc(func() {
		if !stop() {
			<-fired
		}
		d.SetWriteDeadline(time.Time{})
	})
}

// countingWriter counts the bytes written through it.
type countingWriter struct {
	w io.Writer
	n int64
}

func (cw *countingWriter) Write(p []byte) (int, error) {
	n, err := cw.w.Write(p)
	cw.n += int64(n)
	return n, err
}

// send writes one frame (a JSON payload for a Request, raw bytes
// otherwise) under the call's write watch. When ctx ends first, the part
// of the frame that did not leave is owed and send returns ctx's error,
// with sent false if none of it left. Any other write error breaks the
// connection. It holds c.mu.
func (c *Client) send(ctx context.Context, t FrameType, id uint32, payload any) (sent bool, err error) {
	before := c.out.n
	if req, ok := payload.(*Request); ok {
		err = c.w.WriteJSON(t, id, req)
	} else {
		err = c.w.Write(t, id, payload.([]byte))
	}
	if err == nil {
		return true, nil
	}
	if ctx.Err() == nil {
		return true, c.fail(err)
	}
	n := c.out.n - before
	if n == 0 {
		return false, ctx.Err()
	}
	c.owed = append(c.owed, c.w.buf[n:]...)
	return true, ctx.Err()
}

// upload sends r to the agent in Data frames, at most maxSize bytes (0: no
// bound), and ends it with DataEnd. An upload the host cannot finish (r's
// error, too many bytes) is ended by a Cancel before its DataEnd, so the
// agent fails the write rather than keep a short file. torn says that ctx
// ended first: the caller then leaves the call (see leave).
func (c *Client) upload(ctx context.Context, id uint32, r io.Reader, maxSize int64) (torn bool, err error) {
	buf := make([]byte, ChunkSize)
	var total int64
	frame := func(t FrameType, payload []byte) (bool, error) {
		if _, err := c.send(ctx, t, id, payload); err != nil {
			return c.broken == nil, err
		}
		return false, nil
	}
	abort := func(cause error) (bool, error) {
		if torn, err := frame(FrameCancel, nil); err != nil {
			return torn, err
		}
		if torn, err := frame(FrameDataEnd, nil); err != nil {
			return torn, err
		}
		return false, cause
	}
	for {
		if err := ctx.Err(); err != nil {
			return true, err
		}
		n, err := r.Read(buf)
		if n > 0 {
			total += int64(n)
			if maxSize > 0 && total > maxSize {
				return abort(fmt.Errorf("%w: more than %d bytes", vfs.ErrTooLarge, maxSize))
			}
			if torn, err := frame(FrameData, buf[:n]); err != nil {
				return torn, err
			}
		}
		if err == io.EOF {
			return frame(FrameDataEnd, nil)
		}
		if err != nil {
			if ctx.Err() != nil {
				return true, ctx.Err()
			}
			return abort(err)
		}
	}
}

func (c *Client) stat(ctx context.Context, op Op, name string) (fs.FileInfo, error) {
	resp, _, err := c.call(ctx, string(op), name, &Request{Op: op, Name: name}, nil, 0)
	if err != nil {
		return nil, err
	}
	if resp.Info == nil {
		return nil, c.badAnswer(string(op), name, "no file info")
	}
	if err := resp.Info.Check(name == "/"); err != nil {
		return nil, c.refuse(string(op), name, err)
	}
	return resp.Info.FileInfo(), nil
}

// badAnswer breaks the connection over an answer that makes no sense.
func (c *Client) badAnswer(op, name, why string) error {
	return c.refuse(op, name, protocolErr("%s", why))
}

// refuse breaks the connection over an answer that failed its check with
// err, an ErrProtocol.
func (c *Client) refuse(op, name string, err error) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return &fs.PathError{Op: op, Path: name, Err: fmt.Errorf("%w: %v", vfs.ErrIO, c.fail(err))}
}

// Stat implements vfs.FS.
func (c *Client) Stat(ctx context.Context, name string) (fs.FileInfo, error) {
	return c.stat(ctx, OpStat, name)
}

// Lstat implements vfs.FS.
func (c *Client) Lstat(ctx context.Context, name string) (fs.FileInfo, error) {
	return c.stat(ctx, OpLstat, name)
}

// Readlink implements vfs.FS.
func (c *Client) Readlink(ctx context.Context, name string) (string, error) {
	resp, _, err := c.call(ctx, "readlink", name, &Request{Op: OpReadlink, Name: name}, nil, 0)
	if err != nil {
		return "", err
	}
	if resp.Target == "" || len(resp.Target) > vfs.MaxPathLen || strings.IndexByte(resp.Target, 0) >= 0 {
		return "", c.badAnswer("readlink", name, "link target empty, too long or with a NUL")
	}
	return resp.Target, nil
}

// ReadDir implements vfs.FS.
func (c *Client) ReadDir(ctx context.Context, name string) ([]fs.DirEntry, error) {
	resp, _, err := c.call(ctx, "readdir", name, &Request{Op: OpReadDir, Name: name}, nil, 0)
	if err != nil {
		return nil, err
	}
	if len(resp.Entries) > MaxDirEntries {
		return nil, c.badAnswer("readdir", name, "too many entries")
	}
	entries := make([]fs.DirEntry, 0, len(resp.Entries))
	for i := range resp.Entries {
		if err := resp.Entries[i].Check(false); err != nil {
			return nil, c.refuse("readdir", name, err)
		}
		if i > 0 && resp.Entries[i-1].Name >= resp.Entries[i].Name {
			return nil, c.badAnswer("readdir", name, "entries not sorted or repeated")
		}
		entries = append(entries, resp.Entries[i].DirEntry())
	}
	return entries, nil
}

// Open implements vfs.FS. The answer carries the file's info and its
// first FirstChunkSize bytes, and says whether that is all of it: a small
// file is then read, stat'ed and closed without another round trip (the
// agent has closed it already), and a larger one is read on in chunks on
// demand.
func (c *Client) Open(ctx context.Context, name string) (vfs.File, error) {
	resp, data, err := c.call(ctx, "open", name, &Request{Op: OpOpen, Name: name, Size: FirstChunkSize}, nil, 0)
	if err != nil {
		return nil, err
	}
	if resp.Info == nil {
		return nil, c.badAnswer("open", name, "no file info")
	}
	if err := resp.Info.Check(false); err != nil || !fs.FileMode(resp.Info.Mode).IsRegular() {
		return nil, c.badAnswer("open", name, "opened file is not a regular file")
	}
	switch {
	case resp.EOF && resp.Handle != 0:
		return nil, c.badAnswer("open", name, "a handle for a file read to its end")
	case resp.EOF && int64(len(data)) != resp.Info.Size:
		// The agent closed the file: what it sent is all there is, and
		// it must be what the file's info says.
		return nil, c.badAnswer("open", name, fmt.Sprintf("%d bytes up to the end of a file of %d", len(data), resp.Info.Size))
	case !resp.EOF && resp.Handle == 0:
		return nil, c.badAnswer("open", name, "no handle")
	}
	return &remoteFile{c: c, ctx: ctx, name: name, handle: resp.Handle, info: resp.Info.FileInfo(), buf: data, eof: resp.EOF}, nil
}

// remoteFile reads a file held open by the agent, or, when handle is 0,
// one the agent read whole and closed at Open.
type remoteFile struct {
	c      *Client
	ctx    context.Context // of the Open call; io.Reader has no context
	name   string
	handle uint32
	info   fs.FileInfo
	buf    []byte // read ahead, not yet returned
	eof    bool   // buf holds the rest of the file
	closed bool
}

func (f *remoteFile) Stat() (fs.FileInfo, error) { return f.info, nil }

func (f *remoteFile) Read(p []byte) (int, error) {
	if f.closed {
		return 0, &fs.PathError{Op: "read", Path: f.name, Err: fs.ErrClosed}
	}
	if len(f.buf) == 0 && !f.eof {
		resp, data, err := f.c.call(f.ctx, "read", f.name, &Request{Op: OpRead, Name: f.name, Handle: f.handle, Size: ChunkSize}, nil, 0)
		if err != nil {
			return 0, err
		}
		f.buf, f.eof = data, resp.EOF
		if len(data) == 0 && !resp.EOF {
			return 0, f.c.badAnswer("read", f.name, "empty read before end of file")
		}
	}
	if len(f.buf) == 0 {
		return 0, io.EOF
	}
	n := copy(p, f.buf)
	f.buf = f.buf[n:]
	return n, nil
}

func (f *remoteFile) Close() error {
	if f.closed {
		return &fs.PathError{Op: "close", Path: f.name, Err: fs.ErrClosed}
	}
	f.closed = true
	if f.handle == 0 {
		return nil // the agent closed it when it reached the end
	}
	ctx := f.ctx
	if ctx.Err() != nil {
		// A cancelled Open context must not leak the agent's handle,
		// nor let an agent that does not answer hold Close for ever.
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(context.WithoutCancel(ctx), closeWait)
		defer cancel()
	}
	_, _, err := f.c.call(ctx, "close", f.name, &Request{Op: OpCloseFile, Name: f.name, Handle: f.handle}, nil, 0)
	return err
}

// closeWait bounds the Close of a file whose Open context has ended.
const closeWait = time.Second

func (c *Client) simple(ctx context.Context, op string, name string, req *Request) error {
	_, _, err := c.call(ctx, op, name, req, nil, 0)
	return err
}

// MkdirAll implements vfs.FS.
func (c *Client) MkdirAll(ctx context.Context, name string, perm fs.FileMode) error {
	return c.simple(ctx, "mkdirall", name, &Request{Op: OpMkdirAll, Name: name, Mode: uint32(perm)})
}

// WriteFile implements vfs.FS.
func (c *Client) WriteFile(ctx context.Context, name string, r io.Reader, opts vfs.WriteOptions) error {
	_, _, err := c.call(ctx, "writefile", name, WriteRequest(name, opts), r, opts.MaxSize)
	return err
}

// Chmod implements vfs.FS.
func (c *Client) Chmod(ctx context.Context, name string, mode fs.FileMode) error {
	return c.simple(ctx, "chmod", name, &Request{Op: OpChmod, Name: name, Mode: uint32(mode)})
}

// Lchown implements vfs.FS.
func (c *Client) Lchown(ctx context.Context, name string, uid, gid int) error {
	return c.simple(ctx, "lchown", name, &Request{Op: OpLchown, Name: name, UID: uid, GID: gid})
}

// Remove implements vfs.FS.
func (c *Client) Remove(ctx context.Context, name string) error {
	return c.simple(ctx, "remove", name, &Request{Op: OpRemove, Name: name})
}

// Lgetxattr implements vfs.XattrFS.
func (c *Client) Lgetxattr(ctx context.Context, name, attr string) ([]byte, error) {
	resp, _, err := c.call(ctx, "lgetxattr", name, &Request{Op: OpGetxattr, Name: name, Attr: attr}, nil, 0)
	if err != nil {
		return nil, err
	}
	if len(resp.Value) > MaxXattrValue {
		return nil, c.badAnswer("lgetxattr", name, "attribute value too long")
	}
	return resp.Value, nil
}

// Lsetxattr implements vfs.XattrFS.
func (c *Client) Lsetxattr(ctx context.Context, name, attr string, value []byte) error {
	return c.simple(ctx, "lsetxattr", name, &Request{Op: OpSetxattr, Name: name, Attr: attr, Value: value})
}

// Llistxattr implements vfs.XattrFS.
func (c *Client) Llistxattr(ctx context.Context, name string) ([]string, error) {
	resp, _, err := c.call(ctx, "llistxattr", name, &Request{Op: OpListxattr, Name: name}, nil, 0)
	if err != nil {
		return nil, err
	}
	for _, n := range resp.Names {
		if n == "" || len(n) > MaxXattrName || strings.IndexByte(n, 0) >= 0 {
			return nil, c.badAnswer("llistxattr", name, "bad attribute name")
		}
	}
	return resp.Names, nil
}

// Symlink implements vfs.SymlinkFS.
func (c *Client) Symlink(ctx context.Context, target, name string) error {
	return c.simple(ctx, "symlink", name, &Request{Op: OpSymlink, Name: name, Target: target})
}

// errorPath is the guest path an error from the agent names: the caller's
// name, except that a rename's error may name the new name instead. The
// agent only picks between names the host sent.
func errorPath(req *Request, e *Error, name string) string {
	if req.Op == OpRename && e.Path == req.Target {
		return req.Target
	}
	return name
}

// Rename implements vfs.RenameFS.
func (c *Client) Rename(ctx context.Context, oldname, newname string) error {
	if err := vfs.CheckPath("rename", newname); err != nil {
		return err
	}
	return c.simple(ctx, "rename", oldname, &Request{Op: OpRename, Name: oldname, Target: newname})
}

// Lchtimes implements vfs.TimesFS.
func (c *Client) Lchtimes(ctx context.Context, name string, atime, mtime time.Time) error {
	return c.simple(ctx, "lchtimes", name, &Request{Op: OpLchtimes, Name: name, Atime: TimespecFrom(atime), Mtime: TimespecFrom(mtime)})
}

// Inspect asks the agent what it found on the disks. The answer is
// checked (Inspection.Check); one that fails breaks the connection.
func (c *Client) Inspect(ctx context.Context) (*Inspection, error) {
	resp, _, err := c.call(ctx, "inspect", "/", &Request{Op: OpInspect, Name: "/"}, nil, 0)
	if err != nil {
		return nil, err
	}
	if resp.Inspection == nil {
		return nil, c.badAnswer("inspect", "/", "no inspection")
	}
	if err := resp.Inspection.Check(); err != nil {
		return nil, c.refuse("inspect", "/", err)
	}
	return resp.Inspection, nil
}

// Sync asks the agent to flush the guest filesystems to the disks.
func (c *Client) Sync(ctx context.Context) error {
	return c.simple(ctx, "sync", "/", &Request{Op: OpSync, Name: "/"})
}

// Shutdown asks the agent to sync, unmount and power off; the connection
// ends after the answer.
func (c *Client) Shutdown(ctx context.Context) error {
	return c.simple(ctx, "shutdown", "/", &Request{Op: OpShutdown, Name: "/"})
}

// Close implements vfs.FS: it closes the connection, which makes the
// agent stop.
func (c *Client) Close() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return nil
	}
	c.closed = true
	if c.broken != nil {
		return nil
	}
	c.broken = errors.New("closed")
	close(c.done)
	return c.conn.Close()
}

// LstatMany implements vfs.LstatManyFS: one request for every name. An
// answer with another count than the names, or an entry with neither or
// both of an info and an error, breaks the connection as any answer that
// makes no sense does.
func (c *Client) LstatMany(ctx context.Context, names []string) ([]vfs.LstatResult, error) {
	const op = "lstat"
	if len(names) == 0 {
		return nil, nil
	}
	if len(names) > vfs.MaxLstatMany {
		return nil, &fs.PathError{Op: op, Path: names[0], Err: fmt.Errorf("%w: %d names in one call, at most %d", vfs.ErrTooLarge, len(names), vfs.MaxLstatMany)}
	}
	for _, name := range names {
		if err := vfs.CheckPath(op, name); err != nil {
			return nil, err
		}
	}
	resp, _, err := c.call(ctx, op, names[0], &Request{Op: OpLstatMany, Names: names}, nil, 0)
	if err != nil {
		return nil, err
	}
	if len(resp.Lstats) != len(names) {
		return nil, c.badAnswer(op, names[0], fmt.Sprintf("%d answers for %d names", len(resp.Lstats), len(names)))
	}
	out := make([]vfs.LstatResult, len(names))
	for i, a := range resp.Lstats {
		switch {
		case (a.Info == nil) == (a.Err == nil):
			return nil, c.badAnswer(op, names[i], "an answer with neither or both of an info and an error")
		case a.Err != nil:
			out[i].Err = a.Err.PathError(op, names[i])
		default:
			if err := a.Info.Check(names[i] == "/"); err != nil {
				return nil, c.refuse(op, names[i], err)
			}
			out[i].Info = a.Info.FileInfo()
		}
	}
	return out, nil
}
