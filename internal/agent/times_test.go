package agent_test

import (
	"context"
	"errors"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/guestinject/guestinject/internal/agent"
	"github.com/guestinject/guestinject/internal/inroot"
	"github.com/guestinject/guestinject/internal/wire"
	"github.com/guestinject/guestinject/vfs"
)

// TestLchtimesOverWire: the times the host sets arrive to the nanosecond,
// a zero one is left, and the access time comes back with Lstat.
func TestLchtimesOverWire(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "f"), []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	r, err := inroot.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	c := overWire(t, r)
	ctx := context.Background()
	at, mt := time.Date(2400, 1, 2, 3, 4, 5, 6, time.UTC), time.Unix(1e9, 7)
	if err := c.Lchtimes(ctx, "/f", at, mt); err != nil {
		t.Fatal(err)
	}
	if err := c.Lchtimes(ctx, "/f", time.Time{}, mt.Add(time.Second)); err != nil {
		t.Fatal(err)
	}
	info, err := os.Lstat(filepath.Join(dir, "f"))
	if err != nil {
		t.Fatal(err)
	}
	if a, _ := vfs.AttrOf(info); !a.Atime.Equal(at) || !info.ModTime().Equal(mt.Add(time.Second)) {
		t.Errorf("host times %v %v", a.Atime, info.ModTime())
	}
	// Lstat carries the access time back (in Unix nanoseconds, so one
	// that fits them).
	if err := c.Lchtimes(ctx, "/f", mt, time.Time{}); err != nil {
		t.Fatal(err)
	}
	got, err := c.Lstat(ctx, "/f")
	if err != nil {
		t.Fatal(err)
	}
	if a, _ := vfs.AttrOf(got); !a.Atime.Equal(mt) {
		t.Errorf("lstat over the wire: atime %v, want %v", a.Atime, mt)
	}
	err = c.Lchtimes(ctx, "/missing", at, mt)
	var pe *fs.PathError
	if !errors.Is(err, fs.ErrNotExist) || !errors.As(err, &pe) || pe.Path != "/missing" {
		t.Errorf("missing name: %v", err)
	}
}

// TestLchtimesRefusesBadTimes: a request whose nanoseconds are out of
// range is answered with fs.ErrInvalid and changes nothing.
func TestLchtimesRefusesBadTimes(t *testing.T) {
	dir := t.TempDir()
	name := filepath.Join(dir, "f")
	if err := os.WriteFile(name, []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	before, err := os.Lstat(name)
	if err != nil {
		t.Fatal(err)
	}
	r, err := inroot.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	hostEnd, agentEnd := net.Pipe()
	served := make(chan error, 1)
	go func() { served <- agent.Serve(context.Background(), agentEnd, r, agent.Hooks{}); agentEnd.Close() }()
	defer func() { hostEnd.Close(); <-served }()
	w, rd := wire.NewWriter(hostEnd), wire.NewReader(hostEnd)
	if err := w.WriteJSON(wire.FrameHello, 0, wire.Hello{Versions: []int{wire.Version}}); err != nil {
		t.Fatal(err)
	}
	if _, err := rd.Next(); err != nil {
		t.Fatal(err)
	}
	for id, bad := range []wire.Request{
		{Op: wire.OpLchtimes, Name: "/f", Atime: &wire.Timespec{Sec: 5, Nsec: -1}},
		{Op: wire.OpLchtimes, Name: "/f", Atime: &wire.Timespec{Sec: 5}, Mtime: &wire.Timespec{Sec: 5, Nsec: 1e9}},
	} {
		if err := w.WriteJSON(wire.FrameRequest, uint32(id+1), bad); err != nil {
			t.Fatal(err)
		}
		fr, err := rd.Next()
		if err != nil {
			t.Fatal(err)
		}
		var resp wire.Response
		if err := wire.Decode(fr.Payload, &resp); err != nil {
			t.Fatal(err)
		}
		if resp.Err == nil || !errors.Is(resp.Err.PathError("lchtimes", "/f"), fs.ErrInvalid) {
			t.Errorf("request %+v: answer %+v, want fs.ErrInvalid", bad, resp.Err)
		}
	}
	after, err := os.Lstat(name)
	if err != nil {
		t.Fatal(err)
	}
	if !after.ModTime().Equal(before.ModTime()) {
		t.Errorf("the file's mtime moved: %v, was %v", after.ModTime(), before.ModTime())
	}
}
