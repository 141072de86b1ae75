package agent_test

import (
	"context"
	"errors"
	"io"
	"net"
	"os"
	"testing"
	"time"

	"github.com/guestinject/guestinject/internal/agent"
	"github.com/guestinject/guestinject/internal/inroot"
	"github.com/guestinject/guestinject/internal/wire"
	"github.com/guestinject/guestinject/vfs"
	"github.com/guestinject/guestinject/vfs/vfstest"
)

// overWire serves fsys through the agent on one end of a pipe and returns
// the host client on the other: everything the appliance does but the VM.
func overWire(t testing.TB, fsys vfs.FS) *wire.Client {
	t.Helper()
	return overWireHooks(t, fsys, agent.Hooks{})
}

// overWireHooks is overWire with session hooks; fsys may be nil.
func overWireHooks(t testing.TB, fsys vfs.FS, hooks agent.Hooks) *wire.Client {
	t.Helper()
	hostEnd, agentEnd := net.Pipe()
	served := make(chan error, 1)
	go func() {
		served <- agent.Serve(context.Background(), agentEnd, fsys, hooks)
		agentEnd.Close()
	}()
	c, err := wire.NewClient(context.Background(), hostEnd)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		c.Close()
		if err := <-served; err != nil && !errors.Is(err, net.ErrClosed) {
			t.Errorf("agent: %v", err)
		}
		if fsys != nil {
			fsys.Close()
		}
	})
	return c
}

// TestConformanceOverWire runs the vfs conformance suite through the wire
// protocol against the in-root directory backend, as the appliance does.
func TestConformanceOverWire(t *testing.T) {
	root := os.Geteuid() == 0
	vfstest.Run(t, vfstest.Harness{
		New: func(t *testing.T, dir string, layout vfstest.Layout) vfs.FS {
			if err := layout.WriteDir(dir); err != nil {
				t.Fatal(err)
			}
			r, err := inroot.Open(dir)
			if err != nil {
				t.Fatal(err)
			}
			return overWire(t, r)
		},
		Caps: vfstest.Caps{Owners: root, DeviceNodes: root, Xattrs: true, Symlinks: true, Renames: true, Times: true},
	})
}

// slowAnswers delays the return of every write, as a slow VM may deschedule
// the agent right after it has sent an answer.
type slowAnswers struct {
	net.Conn
}

func (s slowAnswers) Write(p []byte) (int, error) {
	n, err := s.Conn.Write(p)
	time.Sleep(20 * time.Millisecond)
	return n, err
}

// The host sends its next request as soon as it has an answer; the agent
// must not take it for a request that overlaps the previous one.
func TestBackToBackRequestsWithSlowAgent(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(dir+"/f", []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	r, err := inroot.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	hostEnd, agentEnd := net.Pipe()
	served := make(chan error, 1)
	go func() {
		served <- agent.Serve(context.Background(), slowAnswers{agentEnd}, r, agent.Hooks{})
		agentEnd.Close()
	}()
	c, err := wire.NewClient(context.Background(), hostEnd)
	if err != nil {
		t.Fatal(err)
	}
	for range 5 {
		if _, err := c.Stat(context.Background(), "/f"); err != nil {
			t.Fatal(err)
		}
	}
	c.Close()
	if err := <-served; err != nil && !errors.Is(err, net.ErrClosed) {
		t.Errorf("agent: %v", err)
	}
}

// TestHelloBeforeServe is a pooled VM's order: the agent answers the
// hello before it has a guest root, the host's first request waits until
// it serves one, and is then answered from it.
func TestHelloBeforeServe(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(dir+"/hostname", []byte("pooled\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	hostEnd, agentEnd := net.Pipe()
	defer agentEnd.Close()
	greeted := make(chan *agent.Conn, 1)
	go func() {
		c, err := agent.Hello(agentEnd)
		if err != nil {
			t.Error(err)
		}
		greeted <- c
	}()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	client, err := wire.NewClient(ctx, hostEnd)
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	conn := <-greeted
	if conn == nil {
		t.FailNow()
	}
	answered := make(chan error, 1)
	var data []byte
	go func() {
		var err error
		data, err = vfs.ReadFile(ctx, client, "/hostname", 1<<10)
		answered <- err
	}()
	select {
	case err := <-answered:
		t.Fatalf("answered before the agent serves: %v", err)
	case <-time.After(100 * time.Millisecond):
	}
	r, err := inroot.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	served := make(chan error, 1)
	go func() { served <- conn.Serve(context.Background(), r, agent.Hooks{}) }()
	if err := <-answered; err != nil {
		t.Fatal(err)
	}
	if string(data) != "pooled\n" {
		t.Errorf("read %q", data)
	}
	client.Close()
	if err := <-served; err != nil && !errors.Is(err, net.ErrClosed) && !errors.Is(err, io.ErrClosedPipe) {
		t.Errorf("serve: %v", err)
	}
}
