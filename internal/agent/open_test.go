package agent_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"testing"

	"github.com/guestinject/guestinject/inject"
	"github.com/guestinject/guestinject/internal/agent"
	"github.com/guestinject/guestinject/internal/inroot"
	"github.com/guestinject/guestinject/internal/testsupport/testimage"
	"github.com/guestinject/guestinject/internal/testsupport/testimage/novaguest"
	"github.com/guestinject/guestinject/internal/wire"
	"github.com/guestinject/guestinject/vfs"
)

// requestLog records the bytes the host writes, to list the requests it
// sent: the round trips a host-side operation cost.
type requestLog struct {
	net.Conn
	mu  sync.Mutex
	out bytes.Buffer
}

func (l *requestLog) Write(p []byte) (int, error) {
	n, err := l.Conn.Write(p)
	l.mu.Lock()
	l.out.Write(p[:n])
	l.mu.Unlock()
	return n, err
}

// ops returns the operations of the requests sent since the last call.
func (l *requestLog) ops(t *testing.T) []wire.Op {
	t.Helper()
	l.mu.Lock()
	defer l.mu.Unlock()
	var ops []wire.Op
	r := wire.NewReader(bytes.NewReader(l.out.Bytes()))
	for {
		f, err := r.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		if f.Type != wire.FrameRequest {
			continue
		}
		var req wire.Request
		if err := wire.Decode(f.Payload, &req); err != nil {
			t.Fatal(err)
		}
		ops = append(ops, req.Op)
	}
	l.out.Reset()
	return ops
}

// overLoggedWire is overWire with the host's requests logged.
func overLoggedWire(t *testing.T, fsys vfs.FS) (*wire.Client, *requestLog) {
	t.Helper()
	hostEnd, agentEnd := net.Pipe()
	served := make(chan error, 1)
	go func() {
		served <- agent.Serve(context.Background(), agentEnd, fsys, agent.Hooks{})
		agentEnd.Close()
	}()
	log := &requestLog{Conn: hostEnd}
	c, err := wire.NewClient(context.Background(), log)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		c.Close()
		if err := <-served; err != nil && !errors.Is(err, net.ErrClosed) {
			t.Errorf("agent: %v", err)
		}
		fsys.Close()
	})
	log.ops(t) // the hello
	return c, log
}

// pattern returns n bytes that differ from one offset to the next, so a
// chunk out of place shows.
func pattern(n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(i*7 + i/251)
	}
	return b
}

// TestReadFileRoundTrips counts the requests vfs.ReadFile costs over the
// wire: one for a file that fits in the Open answer (no read, no close,
// the Stat is the Open's), and for a larger one the Open, reads of
// ChunkSize for the rest and a Close, with the content whole.
func TestReadFileRoundTrips(t *testing.T) {
	dir := t.TempDir()
	passwd := []byte("root:x:0:0:root:/root:/bin/bash\n")
	large := pattern(wire.FirstChunkSize + 2*wire.ChunkSize + 17)
	exact := pattern(wire.FirstChunkSize)
	for name, data := range map[string][]byte{"passwd": passwd, "empty": nil, "large": large, "exact": exact} {
		if err := os.WriteFile(filepath.Join(dir, name), data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	root, err := inroot.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	c, log := overLoggedWire(t, root)
	ctx := context.Background()
	for _, tc := range []struct {
		name string
		want []byte
		ops  []wire.Op
	}{
		{"/passwd", passwd, []wire.Op{wire.OpOpen}},
		{"/empty", nil, []wire.Op{wire.OpOpen}},
		// The first chunk filled the buffer without meeting the end.
		{"/exact", exact, []wire.Op{wire.OpOpen, wire.OpRead, wire.OpCloseFile}},
		{"/large", large, []wire.Op{wire.OpOpen, wire.OpRead, wire.OpRead, wire.OpRead, wire.OpCloseFile}},
	} {
		got, err := vfs.ReadFile(ctx, c, tc.name, 1<<30)
		if err != nil {
			t.Fatalf("ReadFile(%s): %v", tc.name, err)
		}
		if !bytes.Equal(got, tc.want) {
			t.Errorf("ReadFile(%s): %d bytes, want %d as written", tc.name, len(got), len(tc.want))
		}
		if ops := log.ops(t); !slices.Equal(ops, tc.ops) {
			t.Errorf("ReadFile(%s) sent %v, want %v", tc.name, ops, tc.ops)
		}
	}

	// A file read whole at Open is closed by the agent: Stat, Read and
	// Close cost nothing, and the file behaves as any closed file after.
	f, err := c.Open(ctx, "/passwd")
	if err != nil {
		t.Fatal(err)
	}
	if info, err := f.Stat(); err != nil || info.Size() != int64(len(passwd)) || info.Name() != "passwd" {
		t.Errorf("Stat = %v, %v", info, err)
	}
	buf := make([]byte, 5)
	if n, err := f.Read(buf); n != 5 || err != nil || string(buf) != "root:" {
		t.Errorf("Read = %d %q %v", n, buf[:n], err)
	}
	if err := f.Close(); err != nil {
		t.Errorf("Close: %v", err)
	}
	if _, err := f.Read(buf); !errors.Is(err, fs.ErrClosed) {
		t.Errorf("Read after Close: %v", err)
	}
	if err := f.Close(); !errors.Is(err, fs.ErrClosed) {
		t.Errorf("second Close: %v", err)
	}
	if ops := log.ops(t); !slices.Equal(ops, []wire.Op{wire.OpOpen}) {
		t.Errorf("Open, Stat, Read, Close sent %v", ops)
	}

	// A large file closed early gives its handle back.
	f, err = c.Open(ctx, "/large")
	if err != nil {
		t.Fatal(err)
	}
	if n, err := io.ReadFull(f, buf); n != len(buf) || err != nil || !bytes.Equal(buf, large[:len(buf)]) {
		t.Errorf("Read = %d %v", n, err)
	}
	if err := f.Close(); err != nil {
		t.Errorf("Close: %v", err)
	}
	if ops := log.ops(t); !slices.Equal(ops, []wire.Op{wire.OpOpen, wire.OpCloseFile}) {
		t.Errorf("partial read of a large file sent %v", ops)
	}
}

// sizeLiar reports every file as empty, as a pseudo-file or a file that
// changed under the agent would.
type sizeLiar struct{ vfs.FS }

func (s sizeLiar) Open(ctx context.Context, name string) (vfs.File, error) {
	f, err := s.FS.Open(ctx, name)
	if err != nil {
		return nil, err
	}
	return emptyStat{f}, nil
}

type emptyStat struct{ vfs.File }

func (e emptyStat) Stat() (fs.FileInfo, error) {
	info, err := e.File.Stat()
	if err != nil {
		return nil, err
	}
	return zeroSize{info}, nil
}

type zeroSize struct{ fs.FileInfo }

func (zeroSize) Size() int64 { return 0 }

// TestOpenOfAFileLargerThanItsSize checks that the agent claims the end of
// a file at Open only when what it read is what the file's size says: a
// file whose size is wrong keeps its handle and ends with a read of its
// own, so the host, which refuses an end that disagrees with the size,
// reads it whole.
func TestOpenOfAFileLargerThanItsSize(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "status"), []byte("State: R (running)\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	root, err := inroot.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	c, log := overLoggedWire(t, sizeLiar{root})
	got, err := vfs.ReadFile(context.Background(), c, "/status", 1<<20)
	if err != nil || string(got) != "State: R (running)\n" {
		t.Fatalf("ReadFile = %q, %v", got, err)
	}
	if ops, want := log.ops(t), []wire.Op{wire.OpOpen, wire.OpRead, wire.OpCloseFile}; !slices.Equal(ops, want) {
		t.Errorf("sent %v, want %v", ops, want)
	}
}

// TestOpenKeepsNoHandleForFilesReadWhole opens more small files than the
// agent's open-file bound without closing them: the agent closed each
// at Open, so none counts against the bound.
func TestOpenKeepsNoHandleForFilesReadWhole(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "hosts"), []byte("127.0.0.1 localhost\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	root, err := inroot.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	c := overWire(t, root)
	for i := range 2 * agent.MaxOpenFiles {
		if _, err := c.Open(context.Background(), "/hosts"); err != nil {
			t.Fatalf("open %d: %v", i, err)
		}
	}
}

// TestNovaPlanReadsEachFileInOneCall plans the Nova-style injection over
// the wire: every guest file it reads (/etc/passwd, group, shadow, hosts,
// os-release, network/interfaces...) fits in the Open answer, so the plan
// sends no read and no close at all.
func TestNovaPlanReadsEachFileInOneCall(t *testing.T) {
	dir := t.TempDir()
	testimage.WriteTree(t, dir, novaguest.Files)
	// The modes novaguest.Image sets; the plan refuses a world-readable
	// shadow or root home.
	for name, mode := range map[string]fs.FileMode{"etc/shadow": 0o640, "root": 0o700} {
		if err := os.Chmod(filepath.Join(dir, name), mode); err != nil {
			t.Fatal(err)
		}
	}
	root, err := inroot.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	c, log := overLoggedWire(t, root)
	if _, err := inject.NewPlan(context.Background(), c, novaguest.Spec()); err != nil {
		t.Fatal(err)
	}
	ops := log.ops(t)
	count := map[wire.Op]int{}
	for _, op := range ops {
		count[op]++
	}
	t.Logf("%d requests: %v", len(ops), count)
	if count[wire.OpOpen] < 6 {
		t.Errorf("the plan opened %d files, want the guest's /etc files read", count[wire.OpOpen])
	}
	if count[wire.OpRead] != 0 || count[wire.OpCloseFile] != 0 {
		t.Errorf("the plan sent %d reads and %d closes, want none", count[wire.OpRead], count[wire.OpCloseFile])
	}
}
