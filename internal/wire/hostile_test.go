package wire

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"os"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/guestinject/guestinject/vfs"
)

// The hostile-agent suite: a fake agent on the far end of a unix socket
// pair lies to a real Client in every way the protocol allows a
// compromised appliance to, and each case says what the host must do.
// Every case also proves that the host does not panic and returns within
// the call's deadline plus hostileSlack. Adding a lie is adding a
// hostileCase.

// hostileSlack is how long past its deadline a call may take to return:
// generous, for a loaded machine running the race detector; a call that
// blocked would never return at all.
const hostileSlack = 1500 * time.Millisecond

// fakeAgent is the lying end of the connection.
type fakeAgent struct {
	conn net.Conn
	r    *Reader
	w    *Writer
}

// socketPair returns the two ends of a unix stream socket pair, as the
// appliance's host side gets its connection from a unix socket.
func socketPair(t *testing.T) (host, agent net.Conn) {
	t.Helper()
	fds, err := syscall.Socketpair(syscall.AF_UNIX, syscall.SOCK_STREAM|syscall.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	conns := make([]net.Conn, 2)
	for i, fd := range fds {
		f := os.NewFile(uintptr(fd), "socketpair")
		if conns[i], err = net.FileConn(f); err != nil {
			t.Fatal(err)
		}
		f.Close()
	}
	return conns[0], conns[1]
}

// startLiar connects a Client to a fake agent that answers the hello
// honestly and then runs lie. The agent's end is closed when lie returns
// unless lie says to keep it open (by blocking).
func startLiar(t *testing.T, lie func(a *fakeAgent)) *Client {
	t.Helper()
	host, agentEnd := socketPair(t)
	a := &fakeAgent{conn: agentEnd, r: NewReader(agentEnd), w: NewWriter(agentEnd)}
	t.Cleanup(func() { agentEnd.Close() })
	go func() {
		defer agentEnd.Close()
		if f, err := a.r.Next(); err != nil || f.Type != FrameHello {
			return
		}
		if a.w.WriteJSON(FrameHello, 0, Hello{Version: Version}) != nil {
			return
		}
		lie(a)
	}()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c, err := NewClient(ctx, host)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// request reads the host's next request, skipping the frames of an
// upload; ok is false when the host has gone.
func (a *fakeAgent) request() (id uint32, req Request, ok bool) {
	for {
		f, err := a.r.Next()
		if err != nil {
			return 0, Request{}, false
		}
		if f.Type != FrameRequest {
			continue
		}
		if Decode(f.Payload, &req) != nil {
			return 0, Request{}, false
		}
		return f.ID, req, true
	}
}

// answer reads the next request and answers it with the JSON body.
func (a *fakeAgent) answer(body string) uint32 {
	id, _, ok := a.request()
	if ok {
		a.w.Write(FrameResponse, id, []byte(body))
	}
	return id
}

// raw sends bytes as they are.
func (a *fakeAgent) raw(b []byte) { a.conn.Write(b) }

// hang keeps the connection open, reading and ignoring everything, until
// the host hangs up.
func (a *fakeAgent) hang() { io.Copy(io.Discard, a.conn) }

// stall keeps the connection open without reading a byte, until the test
// ends.
func (a *fakeAgent) stall(t *testing.T) {
	done := make(chan struct{})
	t.Cleanup(func() { close(done) })
	<-done
}

const goodInfo = `{"name":"hostname","size":6,"mode":420,"mtime":0,"uid":0,"gid":0}`

// inspection returns an Inspection answer with one root filesystem whose
// JSON fields are extra.
func inspection(fsExtra string) string {
	return `{"inspection":{"root":0,"os":{"id":"debian"},"filesystems":[{"device":"/dev/vda1","disk":0,"partition":1` + fsExtra + `}]}}`
}

// manyElements returns a JSON list of n copies of elem.
func manyElements(elem string, n int) string {
	return "[" + strings.TrimSuffix(strings.Repeat(elem+",", n), ",") + "]"
}

type hostileCase struct {
	name string
	lie  func(t *testing.T, a *fakeAgent)
	// call drives the host; its error is checked against want.
	call func(ctx context.Context, c *Client) error
	// want is what the error must match: vfs.ErrIO for a lie the host
	// caught (the connection is then given up), a context error for an
	// agent that stops answering, nil for a lie that is harmless.
	want error
	// deadline of the call; hostileDeadline when zero.
	deadline time.Duration
}

const hostileDeadline = time.Second

// heavyDeadline is the deadline of a call whose answer is a full frame of
// JSON: decoding one is bounded work, but a second or two of it under the
// race detector on a loaded machine, and no deadline interrupts it.
const heavyDeadline = 5 * time.Second

// lstatTwo asks for two names in one LstatMany.
func lstatTwo(ctx context.Context, c *Client) error {
	_, err := c.LstatMany(ctx, []string{"/etc/hostname", "/etc/passwd"})
	return err
}

func stat(ctx context.Context, c *Client) error {
	_, err := c.Stat(ctx, "/etc/hostname")
	return err
}

func readDir(ctx context.Context, c *Client) error {
	_, err := c.ReadDir(ctx, "/etc")
	return err
}

func inspect(ctx context.Context, c *Client) error {
	_, err := c.Inspect(ctx)
	return err
}

// readAll opens a file and reads it whole under a 1 MiB limit.
func readAll(ctx context.Context, c *Client) error {
	_, err := vfs.ReadFile(ctx, c, "/etc/hostname", 1<<20)
	return err
}

// openAnswer is the agent's answer to an Open of a regular file of size.
func openAnswer(size int64) string {
	return fmt.Sprintf(`{"handle":1,"info":{"name":"hostname","size":%d,"mode":420,"mtime":0,"uid":0,"gid":0}}`, size)
}

// openWhole is the agent's answer to an Open that read a file to its end:
// no handle, the info with mode and size, and EOF.
func openWhole(mode fs.FileMode, size int64) string {
	return fmt.Sprintf(`{"eof":true,"info":{"name":"hostname","size":%d,"mode":%d,"mtime":0,"uid":0,"gid":0}}`, size, uint32(mode))
}

// openWith answers the next request, an Open, with Data frames of chunks
// and then the body.
func (a *fakeAgent) openWith(body string, chunks ...[]byte) uint32 {
	id, _, ok := a.request()
	if ok {
		for _, c := range chunks {
			a.raw(frameBytes(FrameData, id, c))
		}
		a.raw(frameBytes(FrameResponse, id, []byte(body)))
	}
	return id
}

// readHostname opens /etc/hostname, reads it whole and closes it; the
// content must be "guest\n".
func readHostname(ctx context.Context, c *Client) error {
	f, err := c.Open(ctx, "/etc/hostname")
	if err != nil {
		return err
	}
	data, err := io.ReadAll(f)
	if err != nil {
		f.Close()
		return err
	}
	if string(data) != "guest\n" {
		f.Close()
		return fmt.Errorf("read %q", data)
	}
	return f.Close()
}

func hostileCases() []hostileCase {
	resp := func(id uint32, body string) []byte { return frameBytes(FrameResponse, id, []byte(body)) }
	answerWith := func(body string) func(*testing.T, *fakeAgent) {
		return func(_ *testing.T, a *fakeAgent) { a.answer(body); a.hang() }
	}
	afterRequest := func(b []byte) func(*testing.T, *fakeAgent) {
		return func(_ *testing.T, a *fakeAgent) {
			if _, _, ok := a.request(); ok {
				a.raw(b)
			}
			a.hang()
		}
	}
	return []hostileCase{
		// Framing.
		{name: "length prefix of 2 GiB", lie: afterRequest(rawFrame(1<<31, FrameResponse, 1, nil)), call: stat, want: vfs.ErrIO},
		{name: "length prefix past MaxPayload", lie: afterRequest(rawFrame(MaxPayload+1, FrameResponse, 1, nil)), call: stat, want: vfs.ErrIO},
		{name: "data frame past ChunkSize", lie: afterRequest(rawFrame(ChunkSize+1, FrameData, 1, nil)), call: readAll, want: vfs.ErrIO},
		{name: "truncated frame then hang-up", lie: func(_ *testing.T, a *fakeAgent) {
			a.request()
			a.raw(rawFrame(100, FrameResponse, 1, []byte(`{"info":`)))
		}, call: stat, want: vfs.ErrIO},
		{name: "truncated frame then silence", lie: func(t *testing.T, a *fakeAgent) {
			a.request()
			a.raw(rawFrame(100, FrameResponse, 1, []byte(`{"info":`)))
			a.stall(t)
		}, call: stat, want: context.DeadlineExceeded},
		{name: "truncated header then silence", lie: func(t *testing.T, a *fakeAgent) {
			a.request()
			a.raw([]byte{0, 0})
			a.stall(t)
		}, call: stat, want: context.DeadlineExceeded},
		{name: "frame split into one-byte writes", lie: func(_ *testing.T, a *fakeAgent) {
			if _, _, ok := a.request(); ok {
				for _, b := range resp(1, `{"info":`+goodInfo+`}`) {
					a.raw([]byte{b})
					time.Sleep(time.Millisecond)
				}
			}
			a.hang()
		}, call: stat, want: nil},
		{name: "garbage after a valid frame", lie: afterRequest(append(resp(1, `{"info":`+goodInfo+`}`), "\xde\xad\xbe\xef garbage"...)),
			call: func(ctx context.Context, c *Client) error {
				if err := stat(ctx, c); err != nil {
					return fmt.Errorf("the valid frame was refused: %w", err)
				}
				return stat(ctx, c)
			}, want: vfs.ErrIO},
		{name: "unknown frame type", lie: afterRequest(rawFrame(0, 77, 1, nil)), call: stat, want: vfs.ErrIO},
		{name: "hello mid-session", lie: afterRequest(frameBytes(FrameHello, 1, []byte(`{"version":3}`))), call: stat, want: vfs.ErrIO},
		{name: "data-end from the agent", lie: afterRequest(frameBytes(FrameDataEnd, 1, nil)), call: stat, want: vfs.ErrIO},
		{name: "cancel from the agent", lie: afterRequest(frameBytes(FrameCancel, 1, nil)), call: stat, want: vfs.ErrIO},
		{name: "payload that is not JSON", lie: afterRequest(resp(1, "\x00\xff not json")), call: stat, want: vfs.ErrIO},
		{name: "payload with an unknown field", lie: answerWith(`{"info":` + goodInfo + `,"exec":"/bin/sh"}`), call: stat, want: vfs.ErrIO},
		{name: "payload with trailing data", lie: answerWith(`{"info":` + goodInfo + `} {}`), call: stat, want: vfs.ErrIO},

		// Messages out of step.
		{name: "response with the wrong id", lie: afterRequest(resp(2, `{}`)), call: stat, want: vfs.ErrIO},
		{name: "response to a request never sent", lie: func(_ *testing.T, a *fakeAgent) {
			a.raw(resp(42, `{}`))
			a.hang()
		}, call: stat, want: vfs.ErrIO},
		{name: "duplicated response", lie: func(_ *testing.T, a *fakeAgent) {
			id, _, _ := a.request()
			a.raw(resp(id, `{"info":`+goodInfo+`}`))
			a.raw(resp(id, `{"info":`+goodInfo+`}`))
			a.hang()
		}, call: func(ctx context.Context, c *Client) error {
			if err := stat(ctx, c); err != nil {
				return fmt.Errorf("the first answer was refused: %w", err)
			}
			return stat(ctx, c)
		}, want: vfs.ErrIO},
		{name: "answers ahead of the request", lie: func(_ *testing.T, a *fakeAgent) {
			a.request()
			a.raw(resp(1, `{}`))
			a.raw(resp(2, `{}`))
			a.hang()
		}, call: func(ctx context.Context, c *Client) error {
			if err := c.Chmod(ctx, "/a", 0o644); err != nil {
				return fmt.Errorf("the first answer was refused: %w", err)
			}
			// The answer to request 2 arrived before request 2 left:
			// the host cannot tell it from a real one, but it cannot
			// come before the request either — the agent's lie is
			// about the order only, and the call still gets one
			// answer of its own id.
			return c.Chmod(ctx, "/b", 0o644)
		}, want: nil},

		// LstatMany answers.
		{name: "lstatmany: fewer answers than names", lie: answerWith(`{"lstats":[{"info":` + goodInfo + `}]}`), call: lstatTwo, want: vfs.ErrIO},
		{name: "lstatmany: more answers than names", lie: answerWith(`{"lstats":[{"info":` + goodInfo + `},{"info":` + goodInfo + `},{"info":` + goodInfo + `}]}`), call: lstatTwo, want: vfs.ErrIO},
		{name: "lstatmany: no answer list", lie: answerWith(`{}`), call: lstatTwo, want: vfs.ErrIO},
		{name: "lstatmany: an entry with info and error", lie: answerWith(`{"lstats":[{"info":` + goodInfo + `},{"info":` + goodInfo + `,"err":{"code":1}}]}`), call: lstatTwo, want: vfs.ErrIO},
		{name: "lstatmany: an empty entry", lie: answerWith(`{"lstats":[{"info":` + goodInfo + `},{}]}`), call: lstatTwo, want: vfs.ErrIO},
		{name: "lstatmany: a name with a slash", lie: answerWith(`{"lstats":[{"info":` + goodInfo + `},{"info":{"name":"../etc","size":0,"mode":420,"mtime":0,"uid":0,"gid":0}}]}`), call: lstatTwo, want: vfs.ErrIO},
		{name: "lstatmany: a list over the bound", lie: answerWith(`{"lstats":` + manyElements(`{}`, vfs.MaxLstatMany+1) + `}`), call: lstatTwo, want: vfs.ErrIO},
		{name: "lstatmany: one name's error is its own", lie: answerWith(`{"lstats":[{"info":` + goodInfo + `},{"err":{"code":1,"msg":"\u001b]0;pwned"}}]}`), call: func(ctx context.Context, c *Client) error {
			got, err := c.LstatMany(ctx, []string{"/etc/hostname", "/missing"})
			if err != nil {
				return err
			}
			if got[0].Err != nil || got[0].Info.Name() != "hostname" {
				return fmt.Errorf("first answer %v, %v", got[0].Info, got[0].Err)
			}
			var pe *fs.PathError
			if !errors.As(got[1].Err, &pe) || pe.Path != "/missing" || strings.ContainsRune(got[1].Err.Error(), 0x1b) {
				return fmt.Errorf("second answer's error %q", got[1].Err)
			}
			return nil
		}, want: nil},

		// Inspection reports.
		{name: "inspection mount point with ..", lie: answerWith(inspection(`,"mount_point":"/../../etc"`)), call: inspect, want: vfs.ErrIO},
		{name: "inspection device climbing out of /dev", lie: answerWith(inspection(`,"device":"/dev/../etc/passwd"`)), call: inspect, want: vfs.ErrIO},
		{name: "inspection relative mount point", lie: answerWith(inspection(`,"mount_point":"home"`)), call: inspect, want: vfs.ErrIO},
		{name: "inspection escape sequence in a label", lie: answerWith(inspection(`,"label":"\u001b]0;pwned\u0007"`)), call: inspect, want: vfs.ErrIO},
		{name: "inspection NUL in a label", lie: answerWith(inspection(`,"label":"a\u0000b"`)), call: inspect, want: vfs.ErrIO},
		// encoding/json turns invalid UTF-8 into U+FFFD: what the host
		// keeps is valid.
		{name: "inspection invalid UTF-8", lie: afterRequest(resp(1, inspection(`,"label":"`+"\xff\xfe"+`"`))), call: func(ctx context.Context, c *Client) error {
			in, err := c.Inspect(ctx)
			if err == nil && in.Filesystems[0].Label != "\ufffd\ufffd" {
				return fmt.Errorf("label %q", in.Filesystems[0].Label)
			}
			return err
		}, want: nil},
		{name: "inspection absolute path as a type", lie: answerWith(inspection(`,"type":"/etc/passwd\n"`)), call: inspect, want: vfs.ErrIO},
		{name: "inspection root out of range", lie: answerWith(`{"inspection":{"root":5,"os":{}}}`), call: inspect, want: vfs.ErrIO},
		{name: "inspection with a million filesystems", lie: answerWith(`{"inspection":{"root":0,"os":{},"filesystems":` +
			manyElements(`{}`, 1_000_000) + `}}`), call: inspect, want: vfs.ErrIO, deadline: heavyDeadline},

		{name: "error message with terminal escapes", lie: answerWith(`{"err":{"code":15,"msg":"\u001b[2J\u001b]0;owned\u0007 \ud800 gone"}}`), call: func(ctx context.Context, c *Client) error {
			_, err := c.Stat(ctx, "/etc/hostname")
			if !errors.Is(err, fs.ErrNotExist) {
				return fmt.Errorf("lost its sentinel: %w", err)
			}
			if msg := err.Error(); strings.ContainsFunc(msg, func(r rune) bool { return r < 0x20 || r == 0x7f }) || !utf8.ValidString(msg) {
				return fmt.Errorf("the agent's text reached the host as it was: %q", msg)
			}
			return nil
		}, want: nil},

		// File information.
		{name: "stat negative size", lie: answerWith(`{"info":{"name":"hostname","size":-1,"mode":420,"mtime":0,"uid":0,"gid":0}}`), call: stat, want: vfs.ErrIO},
		{name: "stat every mode bit", lie: answerWith(`{"info":{"name":"hostname","size":1,"mode":4294967295,"mtime":0,"uid":0,"gid":0}}`), call: stat, want: vfs.ErrIO},
		{name: "stat negative owner", lie: answerWith(`{"info":{"name":"hostname","size":1,"mode":420,"mtime":0,"uid":-1,"gid":0}}`), call: stat, want: vfs.ErrIO},
		{name: "stat name with ..", lie: answerWith(`{"info":{"name":"..","size":1,"mode":420,"mtime":0,"uid":0,"gid":0}}`), call: stat, want: vfs.ErrIO},
		{name: "stat absolute name", lie: answerWith(`{"info":{"name":"/etc/shadow","size":1,"mode":420,"mtime":0,"uid":0,"gid":0}}`), call: stat, want: vfs.ErrIO},
		{name: "stat size of 8 EiB is only a claim", lie: func(_ *testing.T, a *fakeAgent) {
			a.answer(openAnswer(1<<63 - 1))
			id, _, _ := a.request()
			a.raw(frameBytes(FrameData, id, []byte("guest\n")))
			a.raw(resp(id, `{"eof":true}`))
			a.answer(`{}`) // close
			a.hang()
		}, call: func(ctx context.Context, c *Client) error {
			f, err := c.Open(ctx, "/etc/hostname")
			if err != nil {
				return err
			}
			defer f.Close()
			data, err := io.ReadAll(f)
			if err == nil && string(data) != "guest\n" {
				return fmt.Errorf("read %q", data)
			}
			return err
		}, want: nil},
		{name: "read limit refuses a claimed size", lie: answerWith(openAnswer(1 << 62)), call: readAll, want: vfs.ErrTooLarge},
		{name: "readdir with a million entries", lie: answerWith(`{"entries":` + manyElements(`{}`, 1_000_000) + `}`), call: readDir, want: vfs.ErrIO, deadline: heavyDeadline},
		{name: "readdir with duplicate names", lie: answerWith(`{"entries":[{"name":"a","mode":420},{"name":"a","mode":420}]}`), call: readDir, want: vfs.ErrIO},
		{name: "readdir entry with a NUL", lie: answerWith(`{"entries":[{"name":"a\u0000b","mode":420}]}`), call: readDir, want: vfs.ErrIO},
		{name: "readdir entry named ..", lie: answerWith(`{"entries":[{"name":"..","mode":2147484141}]}`), call: readDir, want: vfs.ErrIO},
		{name: "readlink target with a NUL", lie: answerWith(`{"target":"/etc\u0000/shadow"}`), call: func(ctx context.Context, c *Client) error {
			_, err := c.Readlink(ctx, "/l")
			return err
		}, want: vfs.ErrIO},
		{name: "listxattr with a million names", lie: answerWith(`{"names":` + manyElements(`""`, 1_000_000) + `}`), call: func(ctx context.Context, c *Client) error {
			_, err := c.Llistxattr(ctx, "/a")
			return err
		}, want: vfs.ErrIO, deadline: heavyDeadline},
		{name: "listxattr name with a NUL", lie: answerWith(`{"names":["user.a\u0000b"]}`), call: func(ctx context.Context, c *Client) error {
			_, err := c.Llistxattr(ctx, "/a")
			return err
		}, want: vfs.ErrIO},
		{name: "getxattr value past XATTR_SIZE_MAX", lie: answerWith(`{"value":"` + strings.Repeat("AAAA", MaxXattrValue) + `"}`), call: func(ctx context.Context, c *Client) error {
			_, err := c.Lgetxattr(ctx, "/a", "user.a")
			return err
		}, want: vfs.ErrIO},

		// Open answers that carry the file's first chunk.
		{name: "open read whole costs one call", lie: func(_ *testing.T, a *fakeAgent) {
			// Any other call (a read, a close) would wait for an
			// answer that never comes, past the deadline.
			a.openWith(openWhole(0o644, 6), []byte("guest\n"))
			a.hang()
		}, call: readHostname, want: nil},
		{name: "open chunk then reads", lie: func(_ *testing.T, a *fakeAgent) {
			a.openWith(openAnswer(6), []byte("gue"))
			id, req, _ := a.request()
			if req.Op == OpRead && req.Handle == 1 {
				a.raw(frameBytes(FrameData, id, []byte("st\n")))
				a.raw(resp(id, `{"eof":true}`))
			}
			if id, req, _ := a.request(); req.Op == OpCloseFile && req.Handle == 1 {
				a.raw(resp(id, `{}`))
			}
			a.hang()
		}, call: readHostname, want: nil},
		{name: "open chunk past the first-chunk bound", lie: func(_ *testing.T, a *fakeAgent) {
			a.openWith(openAnswer(FirstChunkSize+1), make([]byte, FirstChunkSize), []byte("x"))
			a.hang()
		}, call: readAll, want: vfs.ErrIO},
		{name: "open chunk of a whole data frame", lie: func(_ *testing.T, a *fakeAgent) {
			a.openWith(openWhole(0o644, ChunkSize), make([]byte, ChunkSize))
			a.hang()
		}, call: readAll, want: vfs.ErrIO},
		{name: "open chunk in a frame past ChunkSize", lie: afterRequest(rawFrame(ChunkSize+1, FrameData, 1, nil)), call: readAll, want: vfs.ErrIO},
		{name: "open chunk in empty frames forever", lie: func(_ *testing.T, a *fakeAgent) {
			id, _, _ := a.request()
			empty := frameBytes(FrameData, id, nil)
			for {
				if _, err := a.conn.Write(empty); err != nil {
					return
				}
			}
		}, call: readAll, want: vfs.ErrIO},
		{name: "open chunk then silence", lie: func(t *testing.T, a *fakeAgent) {
			id, _, _ := a.request()
			a.raw(frameBytes(FrameData, id, []byte("guest\n")))
			a.stall(t)
		}, call: readAll, want: context.DeadlineExceeded},
		{name: "open end of file short of its size", lie: func(_ *testing.T, a *fakeAgent) {
			a.openWith(openWhole(0o644, 10), []byte("guest\n"))
			a.hang()
		}, call: readAll, want: vfs.ErrIO},
		{name: "open end of file past its size", lie: func(_ *testing.T, a *fakeAgent) {
			a.openWith(openWhole(0o644, 0), []byte("guest\n"))
			a.hang()
		}, call: readAll, want: vfs.ErrIO},
		{name: "open end of file of 8 EiB", lie: func(_ *testing.T, a *fakeAgent) {
			a.openWith(openWhole(0o644, 1<<63-1), []byte("guest\n"))
			a.hang()
		}, call: readHostname, want: vfs.ErrIO},
		{name: "open end of file with a negative size", lie: func(_ *testing.T, a *fakeAgent) {
			a.openWith(openWhole(0o644, -6), []byte("guest\n"))
			a.hang()
		}, call: readAll, want: vfs.ErrIO},
		{name: "open chunk with a negative size", lie: func(_ *testing.T, a *fakeAgent) {
			a.openWith(openAnswer(-1), []byte("guest\n"))
			a.hang()
		}, call: readAll, want: vfs.ErrIO},
		{name: "open end of file with a handle", lie: func(_ *testing.T, a *fakeAgent) {
			a.openWith(`{"eof":true,"handle":1,"info":{"name":"hostname","size":6,"mode":420,"mtime":0,"uid":0,"gid":0}}`, []byte("guest\n"))
			a.hang()
		}, call: readAll, want: vfs.ErrIO},
		{name: "open without end of file or handle", lie: func(_ *testing.T, a *fakeAgent) {
			a.openWith(`{"info":{"name":"hostname","size":6,"mode":420,"mtime":0,"uid":0,"gid":0}}`, []byte("guest\n"))
			a.hang()
		}, call: readAll, want: vfs.ErrIO},
		{name: "open end of file without info", lie: func(_ *testing.T, a *fakeAgent) {
			a.openWith(`{"eof":true}`, []byte("guest\n"))
			a.hang()
		}, call: readAll, want: vfs.ErrIO},
		{name: "open of a directory with data", lie: func(_ *testing.T, a *fakeAgent) {
			a.openWith(openWhole(fs.ModeDir|0o755, 6), []byte("guest\n"))
			a.hang()
		}, call: readAll, want: vfs.ErrIO},
		{name: "open of a fifo with data", lie: func(_ *testing.T, a *fakeAgent) {
			a.openWith(openWhole(fs.ModeNamedPipe|0o644, 6), []byte("guest\n"))
			a.hang()
		}, call: readAll, want: vfs.ErrIO},
		{name: "open of a device with data and a handle", lie: func(_ *testing.T, a *fakeAgent) {
			a.openWith(fmt.Sprintf(`{"handle":1,"info":{"name":"sda","size":6,"mode":%d,"mtime":0,"uid":0,"gid":0}}`, uint32(fs.ModeDevice|0o600)), []byte("guest\n"))
			a.hang()
		}, call: readAll, want: vfs.ErrIO},
		{name: "open end of file then data for it", lie: func(_ *testing.T, a *fakeAgent) {
			id := a.openWith(openWhole(0o644, 6), []byte("guest\n"))
			a.raw(frameBytes(FrameData, id, []byte("more")))
			a.raw(resp(id, `{"eof":true}`))
			a.hang()
		}, call: func(ctx context.Context, c *Client) error {
			// The file was whole at its answer; what follows is a
			// frame of a finished call, caught by the next one.
			if err := readHostname(ctx, c); err != nil {
				return fmt.Errorf("the answer was refused: %w", err)
			}
			return stat(ctx, c)
		}, want: vfs.ErrIO},
		{name: "open chunk then data after the answer", lie: func(_ *testing.T, a *fakeAgent) {
			id := a.openWith(openAnswer(10), []byte("guest"))
			a.raw(frameBytes(FrameData, id, []byte("\n")))
			a.hang()
		}, call: readHostname, want: vfs.ErrIO},

		// Floods.
		{name: "read answered with more than asked", lie: func(_ *testing.T, a *fakeAgent) {
			a.answer(openAnswer(10))
			id, _, _ := a.request()
			for range 2 {
				a.raw(frameBytes(FrameData, id, make([]byte, ChunkSize)))
			}
			a.hang()
		}, call: readAll, want: vfs.ErrIO},
		{name: "read answered with empty data frames forever", lie: func(_ *testing.T, a *fakeAgent) {
			a.answer(openAnswer(10))
			id, _, _ := a.request()
			empty := frameBytes(FrameData, id, nil)
			for {
				if _, err := a.conn.Write(empty); err != nil {
					return
				}
			}
		}, call: readAll, want: vfs.ErrIO},
		{name: "a file that never ends", lie: func(_ *testing.T, a *fakeAgent) {
			a.answer(openAnswer(10))
			for {
				id, _, ok := a.request()
				if !ok {
					return
				}
				a.raw(frameBytes(FrameData, id, make([]byte, ChunkSize)))
				a.raw(resp(id, `{}`))
			}
		}, call: readAll, want: vfs.ErrTooLarge},
		{name: "stat answered with a data flood", lie: func(_ *testing.T, a *fakeAgent) {
			id, _, _ := a.request()
			chunk := frameBytes(FrameData, id, make([]byte, ChunkSize))
			for {
				if _, err := a.conn.Write(chunk); err != nil {
					return
				}
			}
		}, call: stat, want: vfs.ErrIO},
		{name: "frames for other requests forever", lie: func(_ *testing.T, a *fakeAgent) {
			a.request()
			for id := uint32(100); ; id++ {
				if _, err := a.conn.Write(resp(id, `{}`)); err != nil {
					return
				}
			}
		}, call: stat, want: vfs.ErrIO},

		// An agent that stops or goes away.
		{name: "never answers", lie: func(t *testing.T, a *fakeAgent) { a.request(); a.stall(t) }, call: stat, want: context.DeadlineExceeded},
		{name: "stops reading during an upload", lie: func(t *testing.T, a *fakeAgent) { a.stall(t) }, call: func(ctx context.Context, c *Client) error {
			return c.WriteFile(ctx, "/big", io.LimitReader(zeros{}, 256<<20), vfs.WriteOptions{Perm: 0o644})
		}, want: context.DeadlineExceeded},
		{name: "hangs up mid-call", lie: func(_ *testing.T, a *fakeAgent) { a.request() }, call: stat, want: vfs.ErrIO},
		{name: "hangs up mid-upload", lie: func(_ *testing.T, a *fakeAgent) {
			a.request()
			a.r.Next()
		}, call: func(ctx context.Context, c *Client) error {
			return c.WriteFile(ctx, "/big", io.LimitReader(zeros{}, 64<<20), vfs.WriteOptions{Perm: 0o644})
		}, want: vfs.ErrIO},
		{name: "accepts an upload the host aborted", lie: func(_ *testing.T, a *fakeAgent) {
			id, _, _ := a.request()
			for {
				f, err := a.r.Next()
				if err != nil || f.Type == FrameDataEnd {
					break
				}
			}
			a.raw(resp(id, `{}`))
			a.hang()
		}, call: func(ctx context.Context, c *Client) error {
			return c.WriteFile(ctx, "/big", strings.NewReader(strings.Repeat("x", 100)), vfs.WriteOptions{Perm: 0o644, MaxSize: 10})
		}, want: vfs.ErrIO},
	}
}

// zeros reads as an endless stream of zero bytes.
type zeros struct{}

func (zeros) Read(p []byte) (int, error) { clear(p); return len(p), nil }

func TestHostileAgent(t *testing.T) {
	for _, tc := range hostileCases() {
		t.Run(tc.name, func(t *testing.T) {
			c := startLiar(t, func(a *fakeAgent) { tc.lie(t, a) })
			deadline := tc.deadline
			if deadline == 0 {
				deadline = hostileDeadline
			}
			ctx, cancel := context.WithTimeout(context.Background(), deadline)
			defer cancel()
			start := time.Now()
			err := tc.call(ctx, c)
			took := time.Since(start)
			t.Logf("%v after %v", err, took)
			if took > deadline+hostileSlack {
				t.Errorf("returned after %v, past the deadline %v", took, deadline)
			}
			switch {
			case tc.want == nil && err != nil:
				t.Fatalf("got %v, want success", err)
			case tc.want != nil && !errors.Is(err, tc.want):
				t.Fatalf("got %v, want %v", err, tc.want)
			}
			if err != nil {
				var pe *fs.PathError
				if !errors.As(err, &pe) {
					t.Errorf("error is not an *fs.PathError: %v", err)
				}
			}
			if errors.Is(tc.want, vfs.ErrIO) {
				// A caught lie gives the connection up: the next call
				// fails at once, whatever the agent does.
				start := time.Now()
				if err := c.Chmod(context.Background(), "/x", 0o644); !errors.Is(err, vfs.ErrIO) {
					t.Errorf("call after the lie: %v, want ErrIO", err)
				}
				if took := time.Since(start); took > hostileSlack {
					t.Errorf("call after the lie took %v", took)
				}
			}
		})
	}
}

// TestHostileAgentAllocatesForBoundsNotClaims checks that what a lying
// agent claims — a frame of 2 GiB, a million filesystems, directory
// entries or attribute names packed into one frame — costs the host what
// its own bounds allow, not what the claim would: the memory allocated
// during the call stays under a few times MaxPayload, where honouring the
// claim would take hundreds of MiB.
func TestHostileAgentAllocatesForBoundsNotClaims(t *testing.T) {
	response := func(body string) []byte { return frameBytes(FrameResponse, 1, []byte(body)) }
	const bound = 6 * MaxPayload
	for _, tc := range []struct {
		name  string
		frame []byte
		call  func(ctx context.Context, c *Client) error
		max   uint64
	}{
		{"length prefix of 4 GiB", rawFrame(1<<32-1, FrameResponse, 1, []byte("{}")), stat, 1 << 20},
		{"a million filesystems", response(`{"inspection":{"root":0,"os":{},"filesystems":` + manyElements(`{}`, 1_000_000) + `}}`), inspect, bound},
		{"a million fstab lines", response(`{"inspection":{"root":0,"os":{},"fstab":` + manyElements(`{}`, 1_000_000) + `}}`), inspect, bound},
		{"a million directory entries", response(`{"entries":` + manyElements(`{}`, 1_000_000) + `}`), readDir, bound},
		{"a million attribute names", response(`{"names":` + manyElements(`""`, 1_000_000) + `}`), func(ctx context.Context, c *Client) error {
			_, err := c.Llistxattr(ctx, "/a")
			return err
		}, bound},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if len(tc.frame) > headerSize+MaxPayload {
				t.Fatalf("test frame of %d bytes would not reach the decoder", len(tc.frame))
			}
			c := startLiar(t, func(a *fakeAgent) {
				if _, _, ok := a.request(); ok {
					a.raw(tc.frame)
				}
				a.hang()
			})
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			runtime.GC()
			var before, after runtime.MemStats
			runtime.ReadMemStats(&before)
			err := tc.call(ctx, c)
			runtime.ReadMemStats(&after)
			if !errors.Is(err, vfs.ErrIO) {
				t.Fatalf("got %v, want ErrIO", err)
			}
			got := after.TotalAlloc - before.TotalAlloc
			t.Logf("allocated %d KiB for a frame of %d KiB", got>>10, len(tc.frame)>>10)
			if got > tc.max {
				t.Errorf("allocated %d MiB, want at most %d MiB", got>>20, tc.max>>20)
			}
		})
	}
}

// FuzzClient's seeds hold the lies of the hostile suite whose answer
// fits in a script (see hostileSeeds); this test keeps the list honest.
func TestHostileSeedsAreFrames(t *testing.T) {
	for i, seed := range hostileSeeds() {
		r := NewReader(bytes.NewReader(seed))
		if _, err := r.Next(); err != nil && !errors.Is(err, ErrProtocol) {
			t.Errorf("seed %d: %v", i, err)
		}
	}
}

// hostileSeeds are agent scripts for FuzzClient built from the hostile
// suite's lies: starting points near the checks the fuzzer should probe.
func hostileSeeds() [][]byte {
	resp := func(body string) []byte { return frameBytes(FrameResponse, 1, []byte(body)) }
	return [][]byte{
		rawFrame(1<<31, FrameResponse, 1, nil),
		rawFrame(100, FrameResponse, 1, []byte(`{"info":`)),
		append(resp(`{"info":`+goodInfo+`}`), "\xde\xad garbage"...),
		rawFrame(0, 77, 1, nil),
		frameBytes(FrameResponse, 2, []byte(`{}`)),
		append(resp(`{"info":`+goodInfo+`}`), resp(`{"info":`+goodInfo+`}`)...),
		resp(inspection(`,"mount_point":"/../../etc"`)),
		resp(inspection(`,"device":"/dev/../etc/passwd"`)),
		resp(inspection(`,"label":"\u001b]0;x\u0007"`)),
		resp(inspection(`,"label":"` + "\xff\xfe" + `"`)),
		resp(`{"inspection":{"root":0,"os":{},"filesystems":` + manyElements(`{}`, 300) + `}}`),
		resp(`{"info":{"name":"hostname","size":-1,"mode":420,"mtime":0,"uid":-1,"gid":0}}`),
		resp(`{"entries":[{"name":"a","mode":420},{"name":"a","mode":420}]}`),
		resp(`{"entries":` + manyElements(`{}`, MaxDirEntries+1) + `}`),
		resp(`{"target":"/etc\u0000/shadow"}`),
		resp(`{"names":["user.a\u0000b",""]}`),
		append(resp(openAnswer(10)), append(frameBytes(FrameData, 2, nil), frameBytes(FrameData, 2, make([]byte, ChunkSize))...)...),
		append(frameBytes(FrameData, 1, []byte("guest\n")), resp(openWhole(0o644, 10))...),
		append(frameBytes(FrameData, 1, []byte("guest\n")), resp(openWhole(0o644, -6))...),
		append(frameBytes(FrameData, 1, []byte("guest\n")), resp(openWhole(fs.ModeDir|0o755, 6))...),
		append(frameBytes(FrameData, 1, make([]byte, FirstChunkSize)), append(frameBytes(FrameData, 1, []byte("x")), resp(openAnswer(FirstChunkSize+1))...)...),
		append(frameBytes(FrameData, 1, []byte("guest\n")), append(resp(openWhole(0o644, 6)), frameBytes(FrameData, 1, []byte("more"))...)...),
	}
}

// TestHostileHello has the agent lie in its hello: the client refuses it,
// within the deadline of NewClient's context.
func TestHostileHello(t *testing.T) {
	for name, lie := range map[string]func(a *fakeAgent){
		"another version":   func(a *fakeAgent) { a.w.WriteJSON(FrameHello, 0, Hello{Version: Version + 1}) },
		"no version":        func(a *fakeAgent) { a.w.WriteJSON(FrameHello, 0, Hello{}) },
		"a response first":  func(a *fakeAgent) { a.raw(frameBytes(FrameResponse, 0, []byte(`{}`))) },
		"unknown fields":    func(a *fakeAgent) { a.raw(frameBytes(FrameHello, 0, []byte(`{"version":3,"shell":true}`))) },
		"oversized hello":   func(a *fakeAgent) { a.raw(rawFrame(1<<31, FrameHello, 0, nil)) },
		"hangs up":          func(a *fakeAgent) { a.conn.Close() },
		"never says hello":  func(a *fakeAgent) { a.hang() },
		"half a hello then": func(a *fakeAgent) { a.raw(rawFrame(40, FrameHello, 0, []byte(`{"ver`))); a.hang() },
	} {
		t.Run(name, func(t *testing.T) {
			host, agentEnd := socketPair(t)
			defer agentEnd.Close()
			a := &fakeAgent{conn: agentEnd, r: NewReader(agentEnd), w: NewWriter(agentEnd)}
			go func() {
				if _, err := a.r.Next(); err == nil {
					lie(a)
				}
			}()
			ctx, cancel := context.WithTimeout(context.Background(), hostileDeadline)
			defer cancel()
			start := time.Now()
			c, err := NewClient(ctx, host)
			if err == nil {
				c.Close()
				t.Fatal("NewClient accepted the hello")
			}
			if took := time.Since(start); took > hostileDeadline+hostileSlack {
				t.Errorf("NewClient returned after %v", took)
			}
			if !errors.Is(err, ErrProtocol) && !errors.Is(err, context.DeadlineExceeded) && !errors.Is(err, io.ErrUnexpectedEOF) {
				t.Errorf("NewClient = %v", err)
			}
		})
	}
}

// TestCancelledCallAnsweredLate checks the other side of returning at the
// deadline: an agent that answers a cancelled call late keeps the
// connection, its late answer (and what a cancelled read had under way)
// is drained by the next call, and a late answer that lies is caught
// there.
func TestCancelledCallAnsweredLate(t *testing.T) {
	short := 200 * time.Millisecond
	for _, tc := range []struct {
		name string
		// late answers the cancelled request id after the Cancel.
		late func(a *fakeAgent, id uint32)
		// cancelled is the call that runs out of time.
		cancelled func(ctx context.Context, c *Client) error
		want      error // of the next call
	}{
		{"late error", func(a *fakeAgent, id uint32) {
			a.raw(frameBytes(FrameResponse, id, []byte(`{"err":{"code":18}}`)))
		}, stat, nil},
		{"late success", func(a *fakeAgent, id uint32) {
			a.raw(frameBytes(FrameResponse, id, []byte(`{"info":`+goodInfo+`}`)))
		}, stat, nil},
		{"late read data", func(a *fakeAgent, id uint32) {
			a.raw(frameBytes(FrameData, id, []byte("partial")))
			a.raw(frameBytes(FrameResponse, id, []byte(`{}`)))
		}, func(ctx context.Context, c *Client) error {
			f, err := c.Open(ctx, "/etc/hostname")
			if err != nil {
				return err
			}
			_, err = io.ReadAll(f)
			return err
		}, nil},
		{"late data for a stat", func(a *fakeAgent, id uint32) {
			a.raw(frameBytes(FrameData, id, []byte("x")))
		}, stat, vfs.ErrIO},
		{"late answer with another id", func(a *fakeAgent, id uint32) {
			a.raw(frameBytes(FrameResponse, id+7, []byte(`{}`)))
		}, stat, vfs.ErrIO},
		{"late success for an aborted upload", func(a *fakeAgent, id uint32) {
			a.raw(frameBytes(FrameResponse, id, []byte(`{}`)))
		}, func(ctx context.Context, c *Client) error {
			return c.WriteFile(ctx, "/f", &slowReader{ctx: ctx}, vfs.WriteOptions{Perm: 0o644})
		}, vfs.ErrIO},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := startLiar(t, func(a *fakeAgent) {
				var id uint32
				for {
					f, err := a.r.Next()
					if err != nil {
						return
					}
					switch f.Type {
					case FrameRequest:
						var req Request
						Decode(f.Payload, &req)
						switch req.Op {
						case OpOpen:
							a.raw(frameBytes(FrameResponse, f.ID, []byte(openAnswer(10))))
						case OpChmod:
							a.raw(frameBytes(FrameResponse, f.ID, []byte(`{}`)))
						default:
							id = f.ID // held until cancelled
						}
					case FrameCancel:
						if f.ID == id {
							tc.late(a, id)
						}
					}
				}
			})
			ctx, cancel := context.WithTimeout(context.Background(), short)
			defer cancel()
			start := time.Now()
			if err := tc.cancelled(ctx, c); !errors.Is(err, context.DeadlineExceeded) {
				t.Fatalf("cancelled call = %v, want DeadlineExceeded", err)
			}
			if took := time.Since(start); took > short+hostileSlack {
				t.Errorf("cancelled call returned after %v", took)
			}
			err := c.Chmod(context.Background(), "/x", 0o644)
			switch {
			case tc.want == nil && err != nil:
				t.Fatalf("next call = %v, want success", err)
			case tc.want != nil && !errors.Is(err, tc.want):
				t.Fatalf("next call = %v, want %v", err, tc.want)
			}
		})
	}
}

// slowReader yields a byte at a time until ctx ends, then fails as a
// caller's reader would.
type slowReader struct{ ctx context.Context }

func (r *slowReader) Read(p []byte) (int, error) {
	select {
	case <-r.ctx.Done():
		return 0, r.ctx.Err()
	case <-time.After(10 * time.Millisecond):
		p[0] = 'x'
		return 1, nil
	}
}

// TestSlowAgentKeepsConnectionAfterCancelledUpload cancels an upload to
// an agent that reads slowly, while a Data frame is only partly written:
// the call returns at once, and the next call finishes the frame, sends
// Cancel and DataEnd, drains the refusal and gets its own answer, so an
// agent that is slow (an emulated appliance) but honest keeps its
// connection.
func TestSlowAgentKeepsConnectionAfterCancelledUpload(t *testing.T) {
	verdict := make(chan string, 1)
	c := startLiar(t, func(a *fakeAgent) {
		for {
			f, err := a.r.Next()
			if err != nil {
				return
			}
			var req Request
			if f.Type != FrameRequest || Decode(f.Payload, &req) != nil {
				verdict <- fmt.Sprintf("%s frame out of step", f.Type)
				return
			}
			if req.Op != OpWriteFile {
				a.raw(frameBytes(FrameResponse, f.ID, []byte(`{}`)))
				continue
			}
			cancelled := false
			for {
				d, err := a.r.Next()
				if err != nil {
					verdict <- err.Error()
					return
				}
				if d.ID != f.ID {
					verdict <- "upload frame of another call"
					return
				}
				if d.Type == FrameCancel {
					cancelled = true
				}
				if d.Type == FrameDataEnd {
					break
				}
				time.Sleep(5 * time.Millisecond) // an emulated appliance
			}
			if !cancelled {
				verdict <- "upload ended without Cancel"
				a.raw(frameBytes(FrameResponse, f.ID, []byte(`{}`)))
				continue
			}
			verdict <- "cancelled"
			a.raw(frameBytes(FrameResponse, f.ID, []byte(`{"err":{"code":18}}`)))
		}
	})
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(300*time.Millisecond, cancel)
	start := time.Now()
	err := c.WriteFile(ctx, "/big", io.LimitReader(zeros{}, 1<<30), vfs.WriteOptions{Perm: 0o644})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("WriteFile = %v, want context.Canceled", err)
	}
	if took := time.Since(start); took > 300*time.Millisecond+hostileSlack {
		t.Errorf("WriteFile returned after %v", took)
	}
	next, cancelNext := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancelNext()
	if err := c.Chmod(next, "/x", 0o644); err != nil {
		t.Fatalf("the call after the cancelled upload: %v", err)
	}
	if v := <-verdict; v != "cancelled" {
		t.Errorf("the agent saw: %s", v)
	}
}
