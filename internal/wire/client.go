package wire

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"slices"
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
	w      *Writer
	frames chan frameOrErr
	done   chan struct{} // closed when the connection is given up

	mu     sync.Mutex // one call at a time
	nextID uint32
	broken error // why the connection is unusable
	closed bool
}

type frameOrErr struct {
	f   Frame
	err error
}

var (
	_ vfs.XattrFS   = (*Client)(nil)
	_ vfs.SymlinkFS = (*Client)(nil)
	_ vfs.RenameFS  = (*Client)(nil)
	_ vfs.TimesFS   = (*Client)(nil)
)

// NewClient performs the hello exchange on conn and returns the client.
// The client owns conn and closes it on Close.
func NewClient(ctx context.Context, conn io.ReadWriteCloser) (*Client, error) {
	c := &Client{conn: conn, w: NewWriter(conn), frames: make(chan frameOrErr, 8), done: make(chan struct{})}
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
// the data the agent sent before it: only reads may receive data, at most
// min(req.Size, ChunkSize) bytes, and the Response ends it (the agent
// sends no DataEnd). It holds c.mu.
func (c *Client) call(ctx context.Context, op, name string, req *Request, upload io.Reader, maxUpload int64) (*Response, []byte, error) {
	pathErr := func(err error) error { return &fs.PathError{Op: op, Path: name, Err: err} }
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
		return nil, nil, pathErr(fmt.Errorf("%w: connection to agent lost: %v", vfs.ErrIO, c.broken))
	}
	c.nextID++
	id := c.nextID
	if err := c.w.WriteJSON(FrameRequest, id, req); err != nil {
		return nil, nil, pathErr(fmt.Errorf("%w: %v", vfs.ErrIO, c.fail(err)))
	}
	var uploadErr error
	if upload != nil {
		uploadErr = c.upload(ctx, id, upload, maxUpload)
		if uploadErr != nil && c.broken != nil {
			return nil, nil, pathErr(fmt.Errorf("%w: %v", vfs.ErrIO, uploadErr))
		}
	}
	cancelled := false
	wait := ctx // until cancelled, then the grace period
	var data []byte
	for {
		f, err := c.next(wait)
		if err != nil {
			if !cancelled && ctx.Err() != nil {
				cancelled = true
				grace, stop := context.WithTimeout(context.Background(), CancelGrace)
				defer stop()
				wait = grace
				if err := c.w.Write(FrameCancel, id, nil); err != nil {
					c.fail(err)
					return nil, nil, pathErr(ctx.Err())
				}
				continue
			}
			if cancelled {
				c.fail(fmt.Errorf("agent did not answer a cancelled call within %v", CancelGrace))
				return nil, nil, pathErr(ctx.Err())
			}
			return nil, nil, pathErr(fmt.Errorf("%w: %v", vfs.ErrIO, c.fail(err)))
		}
		if f.ID != id {
			return nil, nil, pathErr(fmt.Errorf("%w: %v", vfs.ErrIO, c.fail(protocolErr("frame for request %d during %d", f.ID, id))))
		}
		switch f.Type {
		case FrameData:
			if req.Op != OpRead || len(data)+len(f.Payload) > min(req.Size, ChunkSize) {
				return nil, nil, pathErr(fmt.Errorf("%w: %v", vfs.ErrIO, c.fail(protocolErr("more data than asked for"))))
			}
			data = append(data, f.Payload...)
		case FrameResponse:
			var resp Response
			if err := Decode(f.Payload, &resp); err != nil {
				return nil, nil, pathErr(fmt.Errorf("%w: %v", vfs.ErrIO, c.fail(err)))
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
				return nil, nil, pathErr(fmt.Errorf("%w: %v", vfs.ErrIO, c.fail(protocolErr("agent accepted an aborted upload"))))
			}
			if cancelled {
				return nil, nil, pathErr(ctx.Err())
			}
			return &resp, data, nil
		default:
			return nil, nil, pathErr(fmt.Errorf("%w: %v", vfs.ErrIO, c.fail(protocolErr("unexpected %s frame", f.Type))))
		}
	}
}

// upload sends r to the agent in Data frames, at most maxSize bytes (0: no
// bound), and ends it with DataEnd. An upload the host cannot finish (ctx,
// r's error, too many bytes) is ended by a Cancel before its DataEnd, so
// the agent fails the write rather than keep a short file.
func (c *Client) upload(ctx context.Context, id uint32, r io.Reader, maxSize int64) error {
	buf := make([]byte, ChunkSize)
	var sent int64
	abort := func(err error) error {
		if werr := c.w.Write(FrameCancel, id, nil); werr != nil {
			return c.fail(werr)
		}
		if werr := c.w.Write(FrameDataEnd, id, nil); werr != nil {
			return c.fail(werr)
		}
		return err
	}
	for {
		if err := ctx.Err(); err != nil {
			return abort(err)
		}
		n, err := r.Read(buf)
		if n > 0 {
			sent += int64(n)
			if maxSize > 0 && sent > maxSize {
				return abort(fmt.Errorf("%w: more than %d bytes", vfs.ErrTooLarge, maxSize))
			}
			if werr := c.w.Write(FrameData, id, buf[:n]); werr != nil {
				return c.fail(werr)
			}
		}
		if err == io.EOF {
			if werr := c.w.Write(FrameDataEnd, id, nil); werr != nil {
				return c.fail(werr)
			}
			return nil
		}
		if err != nil {
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
		return nil, c.badAnswer(string(op), name, err.Error())
	}
	return resp.Info.FileInfo(), nil
}

// badAnswer breaks the connection over an answer that makes no sense.
func (c *Client) badAnswer(op, name, why string) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return &fs.PathError{Op: op, Path: name, Err: fmt.Errorf("%w: %v", vfs.ErrIO, c.fail(protocolErr("%s", why)))}
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
	if len(resp.Target) > vfs.MaxPathLen {
		return "", c.badAnswer("readlink", name, "link target too long")
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
			return nil, c.badAnswer("readdir", name, err.Error())
		}
		if i > 0 && resp.Entries[i-1].Name >= resp.Entries[i].Name {
			return nil, c.badAnswer("readdir", name, "entries not sorted or repeated")
		}
		entries = append(entries, resp.Entries[i].DirEntry())
	}
	return entries, nil
}

// Open implements vfs.FS. The file is read in chunks on demand.
func (c *Client) Open(ctx context.Context, name string) (vfs.File, error) {
	resp, _, err := c.call(ctx, "open", name, &Request{Op: OpOpen, Name: name}, nil, 0)
	if err != nil {
		return nil, err
	}
	if resp.Info == nil || resp.Handle == 0 {
		return nil, c.badAnswer("open", name, "no handle or file info")
	}
	if err := resp.Info.Check(false); err != nil || !fs.FileMode(resp.Info.Mode).IsRegular() {
		return nil, c.badAnswer("open", name, "opened file is not a regular file")
	}
	return &remoteFile{c: c, ctx: ctx, name: name, handle: resp.Handle, info: resp.Info.FileInfo()}, nil
}

// remoteFile reads a file held open by the agent.
type remoteFile struct {
	c      *Client
	ctx    context.Context // of the Open call; io.Reader has no context
	name   string
	handle uint32
	info   fs.FileInfo
	buf    []byte
	eof    bool
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
	// A cancelled Open context must not leak the agent's handle.
	_, _, err := f.c.call(context.WithoutCancel(f.ctx), "close", f.name, &Request{Op: OpCloseFile, Name: f.name, Handle: f.handle}, nil, 0)
	return err
}

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
		return nil, c.badAnswer("inspect", "/", err.Error())
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
