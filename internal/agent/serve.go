package agent

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"runtime"
	"slices"
	"sync"

	"github.com/guestinject/guestinject/internal/wire"
	"github.com/guestinject/guestinject/vfs"
)

// MaxOpenFiles bounds the files the host may hold open at once.
const MaxOpenFiles = 64

// Session hooks for the requests that end a session.
type Hooks struct {
	// Sync flushes the guest filesystems; nil means nothing to flush.
	Sync func(ctx context.Context) error
	// Shutdown syncs and unmounts before the agent powers off; it runs
	// before the answer is sent, and Serve returns after sending it.
	Shutdown func(ctx context.Context) error
	// Inspect reports what the agent found on the disks; nil answers
	// OpInspect with vfs.ErrNotSupported.
	Inspect func(ctx context.Context) *wire.Inspection
	// Run runs a guest command whose limits are set and checked; nil
	// answers OpRun with vfs.ErrNotSupported. The call's context ends
	// when the host cancels it.
	Run func(ctx context.Context, c vfs.Command) (*wire.CommandResult, error)
}

// Conn is the agent's end of a connection whose hello is done: host and
// agent speak the same protocol version, and requests may follow.
type Conn struct {
	r *wire.Reader
	w *wire.Writer
}

// Hello answers the host's hello on conn, agreeing on wire.Version or
// failing with wire.ErrProtocol. The agent of a pooled VM says hello as it
// boots, before its disks are in, so a session's first request does not
// wait for it.
func Hello(conn io.ReadWriter) (*Conn, error) {
	c := &Conn{r: wire.NewReader(conn), w: wire.NewWriter(conn)}
	f, err := c.r.Next()
	if err != nil {
		return nil, fmt.Errorf("agent: reading hello: %w", err)
	}
	if f.Type != wire.FrameHello {
		return nil, fmt.Errorf("agent: %w: expected hello, got %s", wire.ErrProtocol, f.Type)
	}
	var h wire.Hello
	if err := wire.Decode(f.Payload, &h); err != nil {
		return nil, err
	}
	if slices.Contains(h.Versions, wire.Version) {
		if err := c.w.WriteJSON(wire.FrameHello, 0, wire.Hello{Version: wire.Version, Agent: "guestinject-agent"}); err != nil {
			return nil, err
		}
		return c, nil
	}
	_ = c.w.WriteJSON(wire.FrameHello, 0, wire.Hello{})
	return nil, fmt.Errorf("agent: %w: host speaks versions %v, agent %d", wire.ErrProtocol, h.Versions, wire.Version)
}

// Serve answers the hello on conn, then serves it (Conn.Serve).
func Serve(ctx context.Context, conn io.ReadWriter, fsys vfs.FS, hooks Hooks) error {
	c, err := Hello(conn)
	if err != nil {
		return err
	}
	return c.Serve(ctx, fsys, hooks)
}

// Serve answers requests against fsys until the host closes the
// connection, a Shutdown request is answered, or ctx is done. It returns
// nil on an orderly end.
//
// A nil fsys means the agent has no guest root. Inspect, Sync and
// Shutdown are answered as usual; every other request fails with
// vfs.ErrIO saying there is no guest root, followed by the inspection's
// message when hooks.Inspect gives one, so a host that skipped the
// inspection still learns why from its first call.
func (c *Conn) Serve(ctx context.Context, fsys vfs.FS, hooks Hooks) error {
	s := &server{
		fsys:  fsys,
		hooks: hooks,
		r:     c.r,
		w:     c.w,
		files: map[uint32]vfs.File{},
	}
	defer s.closeFiles()
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	return s.loop(ctx)
}

type server struct {
	fsys  vfs.FS
	hooks Hooks
	r     *wire.Reader

	wmu sync.Mutex // serialises frames
	w   *wire.Writer

	files      map[uint32]vfs.File // only touched by the call goroutine
	nextHandle uint32
}

func (s *server) send(t wire.FrameType, id uint32, payload []byte) error {
	s.wmu.Lock()
	defer s.wmu.Unlock()
	return s.w.Write(t, id, payload)
}

func (s *server) sendJSON(t wire.FrameType, id uint32, v any) error {
	s.wmu.Lock()
	defer s.wmu.Unlock()
	return s.w.WriteJSON(t, id, v)
}

// call is the request in progress. The host sends one request at a time.
type call struct {
	id     uint32
	cancel context.CancelFunc
	data   chan []byte   // Data frames of a WriteFile; closed at DataEnd
	done   chan struct{} // closed when the call has answered
	ended  bool          // DataEnd seen
}

func (s *server) loop(ctx context.Context) error {
	var cur *call
	finished := func() bool {
		if cur == nil {
			return true
		}
		select {
		case <-cur.done:
			return true
		default:
			return false
		}
	}
	shutdown := make(chan struct{})
	defer func() {
		if cur != nil {
			cur.cancel()
			if !cur.ended {
				close(cur.data)
			}
			<-cur.done
		}
	}()
	for {
		f, err := s.r.Next()
		if err != nil {
			select {
			case <-shutdown:
				return nil
			default:
			}
			if errors.Is(err, io.EOF) {
				return nil
			}
			return err
		}
		switch f.Type {
		case wire.FrameRequest:
			if !finished() {
				return fmt.Errorf("agent: %w: request %d while %d runs", wire.ErrProtocol, f.ID, cur.id)
			}
			var req wire.Request
			if err := wire.Decode(f.Payload, &req); err != nil {
				return err
			}
			cctx, cancel := context.WithCancel(ctx)
			cur = &call{id: f.ID, cancel: cancel, data: make(chan []byte, 4), done: make(chan struct{})}
			if req.Op != wire.OpWriteFile {
				close(cur.data)
				cur.ended = true
			}
			go func(c *call) {
				defer c.cancel()
				resp := s.handle(cctx, &req, c)
				// Whatever happened, consume the rest of the upload so
				// the stream stays in step.
				for range c.data {
				}
				// The call is over before its answer leaves: the host
				// may send its next request the moment it has it.
				close(c.done)
				if err := s.sendJSON(wire.FrameResponse, c.id, resp); err != nil {
					return
				}
				if req.Op == wire.OpShutdown && resp.Err == nil {
					close(shutdown)
				}
			}(cur)
		case wire.FrameData:
			if cur == nil || cur.id != f.ID || cur.ended {
				return fmt.Errorf("agent: %w: data for request %d not uploading", wire.ErrProtocol, f.ID)
			}
			chunk := append([]byte(nil), f.Payload...)
			select {
			case cur.data <- chunk:
			case <-ctx.Done():
				return ctx.Err()
			}
		case wire.FrameDataEnd:
			if cur == nil || cur.id != f.ID || cur.ended {
				return fmt.Errorf("agent: %w: data end for request %d not uploading", wire.ErrProtocol, f.ID)
			}
			cur.ended = true
			close(cur.data)
		case wire.FrameCancel:
			if cur != nil && cur.id == f.ID {
				cur.cancel()
			}
		default:
			return fmt.Errorf("agent: %w: unexpected %s frame", wire.ErrProtocol, f.Type)
		}
		select {
		case <-shutdown:
			return nil
		default:
		}
	}
}

// uploadReader reads the Data frames of a call.
type uploadReader struct {
	ctx  context.Context
	data <-chan []byte
	buf  []byte
}

func (u *uploadReader) Read(p []byte) (int, error) {
	for len(u.buf) == 0 {
		chunk, ok := <-u.data
		if !ok {
			// A cancelled upload also ends with DataEnd; it must not
			// look complete.
			if err := u.ctx.Err(); err != nil {
				return 0, err
			}
			return 0, io.EOF
		}
		u.buf = chunk
	}
	n := copy(p, u.buf)
	u.buf = u.buf[n:]
	return n, nil
}

func (s *server) handle(ctx context.Context, req *wire.Request, c *call) (resp wire.Response) {
	var err error
	defer func() {
		if err != nil {
			resp = wire.Response{Err: wire.ErrorFrom(err)}
		}
	}()
	if s.fsys == nil && !sessionOp(req.Op) {
		err = s.noRoot(ctx, req)
		return resp
	}
	switch req.Op {
	case wire.OpStat, wire.OpLstat:
		var info fs.FileInfo
		if req.Op == wire.OpStat {
			info, err = s.fsys.Stat(ctx, req.Name)
		} else {
			info, err = s.fsys.Lstat(ctx, req.Name)
		}
		if err == nil {
			fi := wire.InfoFrom(info)
			resp.Info = &fi
		}
	case wire.OpLstatMany:
		resp.Lstats, err = s.lstatMany(ctx, req.Names)
	case wire.OpReadlink:
		resp.Target, err = s.fsys.Readlink(ctx, req.Name)
	case wire.OpReadDir:
		var entries []fs.DirEntry
		entries, err = s.fsys.ReadDir(ctx, req.Name)
		if err == nil && len(entries) > wire.MaxDirEntries {
			err = &fs.PathError{Op: "readdir", Path: req.Name, Err: fmt.Errorf("%w: %d entries", vfs.ErrTooLarge, len(entries))}
		}
		for _, d := range entries {
			if err != nil {
				break
			}
			var info fs.FileInfo
			if info, err = d.Info(); err == nil {
				resp.Entries = append(resp.Entries, wire.InfoFrom(info))
			}
		}
	case wire.OpOpen:
		resp, err = s.open(ctx, req, c)
	case wire.OpRead:
		f, ok := s.files[req.Handle]
		if !ok {
			err = &fs.PathError{Op: "read", Path: req.Name, Err: fs.ErrClosed}
			break
		}
		buf := make([]byte, min(max(req.Size, 0), wire.ChunkSize))
		var n int
		n, err = io.ReadFull(f, buf)
		if err == io.EOF || err == io.ErrUnexpectedEOF {
			resp.EOF, err = true, nil
		}
		if err == nil && n > 0 {
			err = s.send(wire.FrameData, c.id, buf[:n])
		}
	case wire.OpCloseFile:
		f, ok := s.files[req.Handle]
		if !ok {
			err = &fs.PathError{Op: "close", Path: req.Name, Err: fs.ErrClosed}
			break
		}
		delete(s.files, req.Handle)
		err = f.Close()
	case wire.OpMkdirAll:
		err = s.fsys.MkdirAll(ctx, req.Name, fs.FileMode(req.Mode))
	case wire.OpWriteFile:
		err = s.fsys.WriteFile(ctx, req.Name, &uploadReader{ctx: ctx, data: c.data}, req.WriteOptions())
	case wire.OpChmod:
		err = s.fsys.Chmod(ctx, req.Name, fs.FileMode(req.Mode))
	case wire.OpLchown:
		err = s.fsys.Lchown(ctx, req.Name, req.UID, req.GID)
	case wire.OpRemove:
		err = s.fsys.Remove(ctx, req.Name)
	case wire.OpGetxattr:
		resp.Value, err = vfs.Lgetxattr(ctx, s.fsys, req.Name, req.Attr)
	case wire.OpSetxattr:
		err = vfs.Lsetxattr(ctx, s.fsys, req.Name, req.Attr, req.Value)
	case wire.OpListxattr:
		resp.Names, err = vfs.Llistxattr(ctx, s.fsys, req.Name)
	case wire.OpSymlink:
		err = vfs.Symlink(ctx, s.fsys, req.Target, req.Name)
	case wire.OpRename:
		err = vfs.Rename(ctx, s.fsys, req.Name, req.Target)
	case wire.OpLchtimes:
		err = lchtimes(ctx, s.fsys, req)
	case wire.OpSync:
		if s.hooks.Sync != nil {
			err = s.hooks.Sync(ctx)
		}
	case wire.OpInspect:
		if s.hooks.Inspect == nil {
			err = &fs.PathError{Op: string(req.Op), Path: req.Name, Err: vfs.ErrNotSupported}
			break
		}
		resp.Inspection = s.hooks.Inspect(ctx)
	case wire.OpRun:
		resp.Command, err = s.run(ctx, req)
	case wire.OpShutdown:
		s.closeFiles()
		if s.hooks.Shutdown != nil {
			err = s.hooks.Shutdown(ctx)
		}
	default:
		err = &fs.PathError{Op: string(req.Op), Path: req.Name, Err: vfs.ErrNotSupported}
	}
	return resp
}

// open serves OpOpen: the file's info and its first req.Size bytes (at
// most ChunkSize) in Data frames before the answer. A file read to its end
// that holds what its size says is closed at once and answered with EOF
// and no handle, so the host needs no other call for it; any other keeps
// a handle, and the host reads on as with OpRead.
func (s *server) open(ctx context.Context, req *wire.Request, c *call) (wire.Response, error) {
	if len(s.files) >= MaxOpenFiles {
		return wire.Response{}, &fs.PathError{Op: "open", Path: req.Name, Err: fmt.Errorf("%w: more than %d open files", vfs.ErrNotSupported, MaxOpenFiles)}
	}
	f, err := s.fsys.Open(ctx, req.Name)
	if err != nil {
		return wire.Response{}, err
	}
	info, err := f.Stat()
	if err != nil {
		f.Close()
		return wire.Response{}, err
	}
	fi := wire.InfoFrom(info)
	resp := wire.Response{Info: &fi}
	if req.Size > 0 && info.Mode().IsRegular() {
		buf := make([]byte, min(req.Size, wire.ChunkSize))
		n, err := io.ReadFull(f, buf)
		switch {
		case err == io.EOF || err == io.ErrUnexpectedEOF:
			// A file whose size says otherwise (one that changed,
			// or a pseudo-file) ends with a read of its own.
			resp.EOF = int64(n) == info.Size()
		case err != nil:
			f.Close()
			return wire.Response{}, err
		}
		if n > 0 {
			if err := s.send(wire.FrameData, c.id, buf[:n]); err != nil {
				f.Close()
				return wire.Response{}, err
			}
		}
	}
	if resp.EOF {
		return resp, f.Close()
	}
	s.nextHandle++
	s.files[s.nextHandle] = f
	resp.Handle = s.nextHandle
	return resp, nil
}

// sessionOp reports whether op is served without a guest root.
func sessionOp(op wire.Op) bool {
	return op == wire.OpInspect || op == wire.OpSync || op == wire.OpShutdown
}

// noRoot is the refusal of a filesystem request when there is no guest
// root.
func (s *server) noRoot(ctx context.Context, req *wire.Request) error {
	err := fmt.Errorf("%w: no guest root (see the inspection)", vfs.ErrIO)
	if s.hooks.Inspect != nil {
		if in := s.hooks.Inspect(ctx); in != nil && in.Message != "" {
			err = fmt.Errorf("%w: %s", err, in.Message)
		}
	}
	return &fs.PathError{Op: string(req.Op), Path: req.Name, Err: err}
}

func (s *server) closeFiles() {
	for h, f := range s.files {
		f.Close()
		delete(s.files, h)
	}
}

// lchtimes serves OpLchtimes once the host's times are checked.
func lchtimes(ctx context.Context, fsys vfs.FS, req *wire.Request) error {
	atime, err := req.Atime.Time()
	if err != nil {
		return &fs.PathError{Op: "lchtimes", Path: req.Name, Err: fmt.Errorf("access time: %w", err)}
	}
	mtime, err := req.Mtime.Time()
	if err != nil {
		return &fs.PathError{Op: "lchtimes", Path: req.Name, Err: fmt.Errorf("modification time: %w", err)}
	}
	return vfs.Lchtimes(ctx, fsys, req.Name, atime, mtime)
}

// run serves OpRun.
func (s *server) run(ctx context.Context, req *wire.Request) (*wire.CommandResult, error) {
	if s.hooks.Run == nil {
		return nil, &fs.PathError{Op: "run", Path: req.Name, Err: vfs.ErrNotSupported}
	}
	if req.Command == nil {
		return nil, &fs.PathError{Op: "run", Path: req.Name, Err: fmt.Errorf("%w: no command", fs.ErrInvalid)}
	}
	c, err := req.Command.VFS()
	if err != nil {
		return nil, &fs.PathError{Op: "run", Path: req.Name, Err: fmt.Errorf("%w: %w", fs.ErrInvalid, err)}
	}
	res, err := s.hooks.Run(ctx, c)
	if err == nil && res != nil && len(res.Output) > c.MaxOutput {
		res.Output = res.Output[:c.MaxOutput]
	}
	return res, err
}

// WarmUp encodes and decodes the protocol's messages once, discarding
// them, then collects garbage. The first encoding of each type builds
// encoding/json's caches, which under emulation takes tens of
// milliseconds; an agent that waits for its disks does it before a
// session depends on it, and starts that session with an empty heap.
func WarmUp() {
	var req wire.Request
	_ = wire.Decode([]byte(`{"op":"lstat","name":"/"}`), &req)
	inspection := &wire.Inspection{}
	inspection.Filesystems = append(inspection.Filesystems, wire.Filesystem{Device: "/dev/vda"})
	inspection.Fstab = append(inspection.Fstab, wire.FstabLine{Line: 1})
	inspection.Issues = append(inspection.Issues, wire.Issue{Code: "warm-up"})
	answer := wire.Response{Err: wire.ErrorFrom(fs.ErrNotExist), Info: &wire.FileInfo{Name: "/"}, Inspection: inspection,
		Command: &wire.CommandResult{}}
	answer.Entries = append(answer.Entries, wire.FileInfo{Name: "warm-up"})
	_, _ = json.Marshal(answer)
	runtime.GC()
}

// lstatMany answers OpLstatMany: each name's Lstat, an error of its own
// for a name that fails.
func (s *server) lstatMany(ctx context.Context, names []string) ([]wire.LstatAnswer, error) {
	results, err := vfs.LstatMany(ctx, s.fsys, names)
	if err != nil {
		return nil, err
	}
	out := make([]wire.LstatAnswer, len(results))
	for i, r := range results {
		if r.Err != nil {
			out[i].Err = wire.ErrorFrom(r.Err)
			continue
		}
		fi := wire.InfoFrom(r.Info)
		out[i].Info = &fi
	}
	return out, nil
}
