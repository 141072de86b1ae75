package inject

import (
	"context"
	"errors"
	"io/fs"
	"testing"
	"time"

	"github.com/guestinject/guestinject/vfs"
)

// timesOf returns the access and modification times of name itself.
func timesOf(t *testing.T, fsys vfs.FS, name string) (atime, mtime time.Time) {
	t.Helper()
	info, err := fsys.Lstat(context.Background(), name)
	if err != nil {
		t.Fatal(err)
	}
	a, _ := vfs.AttrOf(info)
	return a.Atime, info.ModTime()
}

// TestOverlayLchtimes: the planning overlay sets the times of a guest
// node, of a planned one and of a link itself, and refuses a missing name.
func TestOverlayLchtimes(t *testing.T) {
	forEachBackend(t, func(t *testing.T, open func(*testing.T, string) vfs.FS) {
		ctx := context.Background()
		guest := open(t, opsLayout)
		o := newOverlay(guest)
		at, mt := time.Unix(1e9, 1), time.Unix(2e9, 2)
		guestA, guestM := timesOf(t, guest, "/etc/motd")
		hostA, hostM := timesOf(t, guest, "/etc/issue")
		if err := o.Symlink(ctx, "/etc/issue", "/etc/link"); err != nil {
			t.Fatal(err)
		}
		for _, name := range []string{"/etc/motd", "/etc", "/etc/link", "/etc/evil"} {
			if err := o.Lchtimes(ctx, name, at, mt); err != nil {
				t.Fatalf("%s: %v", name, err)
			}
			if a, m := timesOf(t, o, name); !a.Equal(at) || !m.Equal(mt) {
				t.Errorf("%s: overlay times %v %v, want %v %v", name, a, m, at, mt)
			}
		}
		// A zero time leaves the planned one.
		if err := o.Lchtimes(ctx, "/etc/motd", time.Time{}, mt.Add(time.Second)); err != nil {
			t.Fatal(err)
		}
		if a, m := timesOf(t, o, "/etc/motd"); !a.Equal(at) || !m.Equal(mt.Add(time.Second)) {
			t.Errorf("after a zero atime: %v %v", a, m)
		}
		// The link's target and the guest are untouched.
		if a, m := timesOf(t, o, "/etc/issue"); !a.Equal(hostA) || !m.Equal(hostM) {
			t.Errorf("the link's target changed in the overlay: %v %v", a, m)
		}
		if a, m := timesOf(t, guest, "/etc/motd"); !a.Equal(guestA) || !m.Equal(guestM) {
			t.Errorf("planning changed the guest: %v %v", a, m)
		}
		err := o.Lchtimes(ctx, "/etc/absent", at, mt)
		var pe *fs.PathError
		if !errors.Is(err, fs.ErrNotExist) || !errors.As(err, &pe) || pe.Path != "/etc/absent" {
			t.Errorf("missing name: %v", err)
		}
	})
}

// TestSetTimesStepReplayed: a set-times step is replayed on the planning
// view after the steps before it (here a move), and applied to the guest.
func TestSetTimesStepReplayed(t *testing.T) {
	forEachBackend(t, func(t *testing.T, open func(*testing.T, string) vfs.FS) {
		ctx := context.Background()
		guest := open(t, opsLayout)
		view := newOverlay(guest)
		p := &planner{guest: guest, fsys: view, view: view, now: testNow, written: map[string]Item{}}
		item := Item{Field: FieldOperations, Index: 0, Name: "touch"}
		at, mt := time.Unix(1e9, 123), time.Unix(2e9, 456)
		if err := p.planMove(ctx, item, Move{From: "/etc/motd", To: "/etc/motd.old"}); err != nil {
			t.Fatal(err)
		}
		if err := p.setTimes(item, "/etc/motd.old", nil, at, mt); err != nil {
			t.Fatal(err)
		}
		if err := p.sync(ctx); err != nil {
			t.Fatal(err)
		}
		if a, m := timesOf(t, view, "/etc/motd.old"); !a.Equal(at) || !m.Equal(mt) {
			t.Errorf("planning view: %v %v, want %v %v", a, m, at, mt)
		}
		// A step that cannot follow the earlier ones fails planning.
		if err := p.setTimes(item, "/etc/motd", nil, at, mt); err != nil {
			t.Fatal(err)
		}
		if err := p.sync(ctx); !errors.Is(err, ErrConflict) || !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("set-times of a moved name: %v", err)
		}
		plan := &Plan{steps: p.steps[:2]}
		rep, err := plan.Apply(ctx, guest)
		if err != nil {
			t.Fatal(err)
		}
		if c := rep.Changes[1]; c.Action != ActionSetTimes || c.Detail != "atime 2001-09-09T01:46:40.000000123Z, mtime 2033-05-18T03:33:20.000000456Z" {
			t.Errorf("change %+v", c)
		}
		if a, m := timesOf(t, guest, "/etc/motd.old"); !a.Equal(at) || !m.Equal(mt) {
			t.Errorf("guest: %v %v, want %v %v", a, m, at, mt)
		}
	})
}
