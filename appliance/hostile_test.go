package appliance_test

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/guestinject/guestinject/appliance"
	"github.com/guestinject/guestinject/internal/wire"
	"github.com/guestinject/guestinject/vfs"
)

// The session-level hostile-agent suite: a Launcher that starts no VM
// plays a compromised appliance — it speaks for the agent on the session's
// socket and controls the overlays and the "power off" — and each case
// shows what the Session guarantees whatever the appliance does: no panic,
// calls that end within their deadlines, an image that only a Commit of a
// checked overlay changes, and nothing written outside the session's
// directory. The wire-level lies (frames, ids, reports) are covered one by
// one in internal/wire's suite; here each kind of lie meets the Session
// once. A case that needs a real VM (a guest program that talks on the
// agent's port) adds an entry to sessionLies whose lie is nil and whose
// drive does the talking through the session: the checks are the same.

// liarMachine is the appliance a liarLauncher "runs".
type liarMachine struct {
	conn   net.Conn
	spec   appliance.MachineSpec
	exited chan struct{}
	once   sync.Once
	err    error
}

// powerOff ends the "VM" with err (nil: a clean power off).
func (m *liarMachine) powerOff(err error) {
	m.once.Do(func() {
		m.err = err
		m.conn.Close()
		close(m.exited)
	})
}

func (m *liarMachine) Wait(ctx context.Context) error {
	select {
	case <-m.exited:
		return m.err
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (m *liarMachine) Kill() error {
	m.powerOff(errors.New("killed"))
	return nil
}

// liarLauncher connects a lying agent to each session it launches.
type liarLauncher struct {
	lie func(a *liarAgent)
}

func (l liarLauncher) Launch(ctx context.Context, spec appliance.MachineSpec) (appliance.Machine, error) {
	// The socket's path may be longer than a socket address holds.
	dir, err := os.OpenFile(filepath.Dir(spec.AgentSocket), unix.O_PATH|unix.O_DIRECTORY, 0)
	if err != nil {
		return nil, err
	}
	defer dir.Close()
	conn, err := (&net.Dialer{}).DialContext(ctx, "unix", "/proc/self/fd/"+strconv.Itoa(int(dir.Fd()))+"/"+filepath.Base(spec.AgentSocket))
	if err != nil {
		return nil, err
	}
	m := &liarMachine{conn: conn, spec: spec, exited: make(chan struct{})}
	a := &liarAgent{m: m, r: wire.NewReader(conn), w: wire.NewWriter(conn)}
	go func() {
		if !a.hello() {
			m.powerOff(errors.New("no hello"))
			return
		}
		l.lie(a)
	}()
	return m, nil
}

// liarAgent speaks for the agent.
type liarAgent struct {
	m *liarMachine
	r *wire.Reader
	w *wire.Writer
}

func (a *liarAgent) hello() bool {
	f, err := a.r.Next()
	if err != nil || f.Type != wire.FrameHello {
		return false
	}
	return a.w.WriteJSON(wire.FrameHello, 0, wire.Hello{Version: wire.Version}) == nil
}

// next returns the next request, with the size of its upload, which it
// reads to the end; ok is false once the host has gone.
func (a *liarAgent) next() (id uint32, req wire.Request, uploaded int, ok bool) {
	f, err := a.r.Next()
	if err != nil || f.Type != wire.FrameRequest || wire.Decode(f.Payload, &req) != nil {
		return 0, req, 0, false
	}
	if req.Op == wire.OpWriteFile {
		for {
			d, err := a.r.Next()
			if err != nil {
				return 0, req, 0, false
			}
			if d.Type == wire.FrameDataEnd {
				break
			}
			uploaded += len(d.Payload)
		}
	}
	return f.ID, req, uploaded, true
}

func (a *liarAgent) answer(id uint32, resp wire.Response) {
	a.w.WriteJSON(wire.FrameResponse, id, resp)
}

// goodInspection is the report of an agent that found a root on disk 0.
func goodInspection() *wire.Inspection {
	return &wire.Inspection{Root: 0, OS: wire.OSInfo{ID: "debian"},
		Filesystems: []wire.Filesystem{{Device: "/dev/vda", Disk: 0, Type: "ext4", MountPoint: "/"}}}
}

// serve answers the inspection honestly, then every request with
// success, except that handle may answer a request itself (it returns
// true). A successful Shutdown powers off, after afterShutdown.
func (a *liarAgent) serve(handle func(id uint32, req wire.Request) bool, afterShutdown func()) {
	for {
		id, req, _, ok := a.next()
		if !ok {
			return
		}
		if handle != nil && handle(id, req) {
			continue
		}
		switch req.Op {
		case wire.OpInspect:
			a.answer(id, wire.Response{Inspection: goodInspection()})
		case wire.OpStat, wire.OpLstat:
			a.answer(id, wire.Response{Info: &wire.FileInfo{Name: filepath.Base(req.Name), Mode: uint32(fs.ModeDir | 0o755)}})
		case wire.OpShutdown:
			a.answer(id, wire.Response{})
			// The host hangs up once it has the answer.
			io.Copy(io.Discard, a.m.conn)
			if afterShutdown != nil {
				afterShutdown()
			}
			a.m.powerOff(nil)
			return
		default:
			a.answer(id, wire.Response{})
		}
	}
}

// stall keeps the "VM" running without reading or answering until the
// host kills it.
func (a *liarAgent) stall() { <-a.m.exited }

// hostState is what the host's files look like: every file under the
// roots with its mode and a digest of its content.
func hostState(t *testing.T, roots ...string) map[string]string {
	t.Helper()
	state := map[string]string{}
	for _, root := range roots {
		filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
			if err != nil {
				return nil
			}
			info, err := d.Info()
			if err != nil {
				return nil
			}
			digest := ""
			if info.Mode().IsRegular() {
				b, err := os.ReadFile(p)
				if err != nil {
					t.Fatal(err)
				}
				digest = fmt.Sprintf("%x", sha256.Sum256(b))
			}
			state[p] = fmt.Sprintf("%v %s", info.Mode(), digest)
			return nil
		})
	}
	return state
}

func diffStates(before, after map[string]string) []string {
	var diff []string
	for p, s := range after {
		if before[p] != s {
			diff = append(diff, p)
		}
	}
	for p := range before {
		if _, ok := after[p]; !ok {
			diff = append(diff, p+" (removed)")
		}
	}
	return diff
}

// backingFileAt makes the qcow2 header name victim as its backing file,
// as a compromised VM could to have Commit read a host file.
func backingFileAt(victim string) func(h []byte) {
	return func(h []byte) {
		binary.BigEndian.PutUint64(h[8:], 2048)
		binary.BigEndian.PutUint32(h[16:], uint32(len(victim)))
		copy(h[2048:], victim)
	}
}

// sessionLie is one case of the suite.
type sessionLie struct {
	name string
	// lie plays the appliance; canary is a host file the appliance would
	// like to read or change. Without a lie the session runs the real
	// appliance, and drive makes it misbehave.
	lie func(t *testing.T, a *liarAgent, canary string)
	// opts are added to the session's.
	opts []appliance.Option
	// openErr, when set, is what Open must fail with; drive does not run.
	openErr error
	// drive uses the session and returns the error the case expects,
	// checked against want.
	drive func(t *testing.T, s *appliance.Session) error
	// within bounds how long drive may take, past hostileSlack.
	within time.Duration
	want   error
	// succeeds says that drive must succeed: a lie the host cannot see
	// through or that it survives, which must still leave the host's
	// files as they were.
	succeeds bool
}

const hostileSlack = time.Second

func sessionLies() []sessionLie {
	writeHostname := func(ctx context.Context, s *appliance.Session) error {
		return s.WriteFile(ctx, "/etc/hostname", strings.NewReader("changed\n"), vfs.WriteOptions{Perm: 0o644})
	}
	return []sessionLie{
		{
			name: "report with a mount point climbing out",
			lie: func(t *testing.T, a *liarAgent, _ string) {
				in := goodInspection()
				in.Filesystems[0].MountPoint = "/../../etc"
				id, _, _, _ := a.next()
				a.answer(id, wire.Response{Inspection: in})
				a.stall()
			},
			openErr: vfs.ErrIO,
		},
		{
			name: "report naming a disk the session does not have",
			lie: func(t *testing.T, a *liarAgent, _ string) {
				in := goodInspection()
				in.Filesystems[0].Disk = 5
				id, _, _, _ := a.next()
				a.answer(id, wire.Response{Inspection: in})
				a.stall()
			},
			openErr: wire.ErrProtocol,
		},
		{
			name: "report with a million filesystems",
			lie: func(t *testing.T, a *liarAgent, _ string) {
				id, _, _, _ := a.next()
				body := `{"inspection":{"root":0,"os":{},"filesystems":[` + strings.Repeat(`{},`, 999_999) + `{}]}}`
				a.w.Write(wire.FrameResponse, id, []byte(body))
				a.stall()
			},
			openErr: vfs.ErrIO,
		},
		{
			name: "claims writes, then tampers with the overlay",
			lie: func(t *testing.T, a *liarAgent, canary string) {
				a.serve(nil, func() { patchQcow2(t, a.m.spec.Disks[0].Overlay, backingFileAt(canary)) })
			},
			drive: func(t *testing.T, s *appliance.Session) error {
				ctx := context.Background()
				if err := writeHostname(ctx, s); err != nil {
					t.Fatalf("the lying agent's write: %v", err)
				}
				return s.Commit(ctx)
			},
			within: 30 * time.Second,
			want:   appliance.ErrOverlayRefused,
		},
		{
			name: "claims writes it never made",
			lie: func(t *testing.T, a *liarAgent, _ string) {
				a.serve(nil, nil)
			},
			drive: func(t *testing.T, s *appliance.Session) error {
				ctx := context.Background()
				if err := writeHostname(ctx, s); err != nil {
					t.Fatalf("the lying agent's write: %v", err)
				}
				// The host cannot see into the overlay's filesystem: it
				// merges what the VM left, which here is nothing.
				return s.Commit(ctx)
			},
			within:   30 * time.Second,
			succeeds: true,
		},
		{
			name: "stops answering mid-call, caller's deadline",
			lie: func(t *testing.T, a *liarAgent, _ string) {
				a.serve(func(id uint32, req wire.Request) bool {
					if req.Op == wire.OpWriteFile {
						a.stall()
						return true
					}
					return false
				}, nil)
			},
			drive: func(t *testing.T, s *appliance.Session) error {
				ctx, cancel := context.WithTimeout(context.Background(), time.Second)
				defer cancel()
				return writeHostname(ctx, s)
			},
			within: time.Second,
			want:   context.DeadlineExceeded,
		},
		{
			name: "stops reading mid-upload, caller's deadline",
			lie: func(t *testing.T, a *liarAgent, _ string) {
				id, _, _, _ := a.next()
				a.answer(id, wire.Response{Inspection: goodInspection()})
				a.stall()
			},
			drive: func(t *testing.T, s *appliance.Session) error {
				ctx, cancel := context.WithTimeout(context.Background(), time.Second)
				defer cancel()
				return s.WriteFile(ctx, "/big", io.LimitReader(zeroReader{}, 1<<30), vfs.WriteOptions{Perm: 0o644})
			},
			within: time.Second,
			want:   context.DeadlineExceeded,
		},
		{
			name: "stops answering mid-call, session's timeout",
			opts: []appliance.Option{appliance.WithOperationTimeout(time.Second)},
			lie: func(t *testing.T, a *liarAgent, _ string) {
				a.serve(func(id uint32, req wire.Request) bool {
					if req.Op == wire.OpReadDir {
						a.stall()
						return true
					}
					return false
				}, nil)
			},
			drive: func(t *testing.T, s *appliance.Session) error {
				_, err := s.ReadDir(context.Background(), "/etc")
				var te *appliance.TimeoutError
				if err != nil && !errors.As(err, &te) {
					t.Errorf("ReadDir = %v, want a *TimeoutError", err)
				}
				return err
			},
			within: time.Second,
			want:   context.DeadlineExceeded,
		},
		{
			name: "answers a cancelled call late",
			lie: func(t *testing.T, a *liarAgent, _ string) {
				a.serve(func(id uint32, req wire.Request) bool {
					if req.Op != wire.OpWriteFile {
						return false
					}
					// The answer comes only after the host's Cancel.
					if f, err := a.r.Next(); err == nil && f.Type == wire.FrameCancel {
						a.answer(id, wire.Response{Err: &wire.Error{Code: wire.Code(context.Canceled)}})
					}
					return true
				}, nil)
			},
			drive: func(t *testing.T, s *appliance.Session) error {
				ctx, cancel := context.WithTimeout(context.Background(), time.Second)
				defer cancel()
				if err := writeHostname(ctx, s); !errors.Is(err, context.DeadlineExceeded) {
					t.Errorf("WriteFile = %v, want DeadlineExceeded", err)
				}
				// The session goes on: the late answer is drained.
				_, err := s.Stat(context.Background(), "/etc")
				return err
			},
			within:   time.Second,
			succeeds: true,
		},
		{
			name: "powers off mid-call",
			lie: func(t *testing.T, a *liarAgent, _ string) {
				a.serve(func(id uint32, req wire.Request) bool {
					if req.Op == wire.OpWriteFile {
						a.m.powerOff(nil)
						return true
					}
					return false
				}, nil)
			},
			drive: func(t *testing.T, s *appliance.Session) error {
				ctx := context.Background()
				if err := writeHostname(ctx, s); !errors.Is(err, vfs.ErrIO) {
					t.Errorf("WriteFile = %v, want ErrIO", err)
				}
				return s.Commit(ctx)
			},
			within: 5 * time.Second,
			want:   vfs.ErrIO,
		},
		openLie("open answer whose end disagrees with the file's size", []byte(strings.Repeat("x", 100)), &wire.FileInfo{Name: "hostname", Size: 10, Mode: 0o644}, "/etc/hostname"),
		openLie("open answer with a chunk past its bound", make([]byte, wire.ChunkSize), &wire.FileInfo{Name: "hostname", Size: wire.ChunkSize, Mode: 0o644}, "/etc/hostname"),
		openLie("open answer for a directory with data", []byte("root:x:0:0\n"), &wire.FileInfo{Name: "passwd", Size: 11, Mode: uint32(fs.ModeDir | 0o755)}, "/etc/passwd"),
		{
			name: "open answered whole, then data for it",
			lie: func(t *testing.T, a *liarAgent, _ string) {
				a.serve(func(id uint32, req wire.Request) bool {
					if req.Op != wire.OpOpen {
						return false
					}
					a.w.Write(wire.FrameData, id, []byte("guest\n"))
					a.answer(id, wire.Response{EOF: true, Info: &wire.FileInfo{Name: "hostname", Size: 6, Mode: 0o644}})
					a.w.Write(wire.FrameData, id, []byte("more"))
					return true
				}, nil)
			},
			drive: func(t *testing.T, s *appliance.Session) error {
				ctx := context.Background()
				data, err := vfs.ReadFile(ctx, s, "/etc/hostname", 1<<20)
				if err != nil || string(data) != "guest\n" {
					t.Fatalf("ReadFile = %q, %v", data, err)
				}
				// The frame after the answer is caught by the next call.
				_, err = s.Stat(ctx, "/etc")
				return err
			},
			within: time.Second,
			want:   vfs.ErrIO,
		},
		{
			name: "acknowledges Shutdown but never powers off",
			opts: []appliance.Option{appliance.WithCommitTimeout(time.Second)},
			lie: func(t *testing.T, a *liarAgent, _ string) {
				a.serve(func(id uint32, req wire.Request) bool {
					if req.Op == wire.OpShutdown {
						a.answer(id, wire.Response{})
						a.stall()
						return true
					}
					return false
				}, nil)
			},
			drive: func(t *testing.T, s *appliance.Session) error {
				ctx := context.Background()
				if err := writeHostname(ctx, s); err != nil {
					t.Fatal(err)
				}
				return s.Commit(ctx)
			},
			within: time.Second,
			want:   context.DeadlineExceeded,
		},
		{
			name: "powers off with an error after Shutdown",
			lie: func(t *testing.T, a *liarAgent, _ string) {
				a.serve(func(id uint32, req wire.Request) bool {
					if req.Op == wire.OpShutdown {
						a.answer(id, wire.Response{})
						io.Copy(io.Discard, a.m.conn)
						a.m.powerOff(errors.New("exit status 1"))
						return true
					}
					return false
				}, nil)
			},
			drive: func(t *testing.T, s *appliance.Session) error {
				ctx := context.Background()
				if err := writeHostname(ctx, s); err != nil {
					t.Fatal(err)
				}
				err := s.Commit(ctx)
				if err == nil || !strings.Contains(err.Error(), "exit status 1") {
					t.Errorf("Commit = %v, want the VM's exit error", err)
				}
				return err
			},
			within: 5 * time.Second,
		},
	}
}

// zeroReader is an endless stream of zero bytes.
// openLie is a case whose agent answers an Open of path with data and an
// end of file described by info, which the host must refuse.
func openLie(name string, data []byte, info *wire.FileInfo, path string) sessionLie {
	return sessionLie{
		name: name,
		lie: func(t *testing.T, a *liarAgent, _ string) {
			a.serve(func(id uint32, req wire.Request) bool {
				if req.Op != wire.OpOpen {
					return false
				}
				a.w.Write(wire.FrameData, id, data)
				a.answer(id, wire.Response{EOF: true, Info: info})
				return true
			}, nil)
		},
		drive: func(t *testing.T, s *appliance.Session) error {
			_, err := vfs.ReadFile(context.Background(), s, path, 1<<20)
			return err
		},
		within: time.Second,
		want:   vfs.ErrIO,
	}
}

type zeroReader struct{}

func (zeroReader) Read(p []byte) (int, error) { clear(p); return len(p), nil }

func TestHostileAppliance(t *testing.T) {
	needE2E(t)
	for _, tc := range sessionLies() {
		t.Run(tc.name, func(t *testing.T) {
			img := smallImage(t)
			canaryDir := t.TempDir()
			canary := filepath.Join(canaryDir, "host-file")
			if err := os.WriteFile(canary, []byte(strings.Repeat("host data\n", 1000)), 0o644); err != nil {
				t.Fatal(err)
			}
			tmp := privateTemp(t)
			before := hostState(t, filepath.Dir(img), canaryDir)
			opts := tc.opts
			if tc.lie != nil {
				opts = append([]appliance.Option{appliance.WithAccelerator(appliance.AccelTCG),
					appliance.WithBootTimeout(30 * time.Second),
					appliance.WithLauncher(liarLauncher{lie: func(a *liarAgent) { tc.lie(t, a, canary) }})}, opts...)
			}
			s, err := appliance.Open(context.Background(), []vfs.Disk{{Path: img, Format: "raw"}}, opts...)
			switch {
			case tc.openErr != nil && err == nil:
				s.Close()
				t.Fatalf("Open accepted the lie")
			case tc.openErr != nil:
				if !errors.Is(err, tc.openErr) {
					t.Errorf("Open = %v, want %v", err, tc.openErr)
				}
				t.Logf("Open: %v", err)
			case err != nil:
				t.Fatal(err)
			default:
				start := time.Now()
				err := tc.drive(t, s)
				took := time.Since(start)
				t.Logf("%v after %v", err, took)
				if took > tc.within+hostileSlack {
					t.Errorf("returned after %v, want at most %v", took, tc.within)
				}
				switch {
				case tc.succeeds && err != nil:
					t.Errorf("got %v, want success", err)
				case !tc.succeeds && err == nil:
					t.Errorf("the lie went through")
				case tc.want != nil && !errors.Is(err, tc.want):
					t.Errorf("got %v, want %v", err, tc.want)
				}
				if err := s.Close(); err != nil {
					t.Errorf("Close = %v", err)
				}
			}
			assertNothingLeft(t, tmp)
			if diff := diffStates(before, hostState(t, filepath.Dir(img), canaryDir)); len(diff) > 0 {
				t.Errorf("host files changed: %v", diff)
			}
		})
	}
}
