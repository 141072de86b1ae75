package inject

import (
	"context"
	"encoding/json"
	"errors"
	"io/fs"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

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
		if err := p.setTimes(item, "/etc/motd.old", 0o600, 0, 0, at, mt); err != nil {
			t.Fatal(err)
		}
		if err := p.sync(ctx); err != nil {
			t.Fatal(err)
		}
		if a, m := timesOf(t, view, "/etc/motd.old"); !a.Equal(at) || !m.Equal(mt) {
			t.Errorf("planning view: %v %v, want %v %v", a, m, at, mt)
		}
		// A step that cannot follow the earlier ones fails planning.
		if err := p.setTimes(item, "/etc/motd", 0o600, 0, 0, at, mt); err != nil {
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

// withoutTimes hides the vfs.TimesFS of the backend inside, as a backend
// that cannot set times would be.
type withoutTimes struct{ vfs.FS }

// TestTouchSetsTimes: touch moves the times of an existing file or
// directory to Spec.Now and keeps everything else; a missing file is
// created with those times.
func TestTouchSetsTimes(t *testing.T) {
	forEachBackend(t, func(t *testing.T, open func(*testing.T, string) vfs.FS) {
		ctx := context.Background()
		fsys := open(t, opsLayout)
		before := snapshot(t, fsys)
		rep, err := Apply(ctx, fsys, Spec{Now: testNow, Operations: []Operation{
			{Touch: &Touch{Path: "/etc/motd"}},
			{Touch: &Touch{Path: "/var/cache/app"}},
			{Touch: &Touch{Path: "/etc/new"}},
		}})
		if err != nil {
			t.Fatal(err)
		}
		// Times are read before anything reads the files, since a read
		// may move an access time (relatime).
		for _, name := range []string{"/etc/motd", "/var/cache/app", "/etc/new"} {
			if a, m := timesOf(t, fsys, name); !a.Equal(testNow) || !m.Equal(testNow) {
				t.Errorf("%s: times %v %v, want %v", name, a, m, testNow)
			}
		}
		wantTreeDiff(t, map[string]node{"/etc/new": {Mode: 0o644}}, diffTrees(before, snapshot(t, fsys)))
		var got []string
		for _, c := range rep.Changes {
			got = append(got, string(c.Action)+" "+c.Path+" "+OctalMode(c.Mode)+" "+c.Detail)
			if c.Action == ActionSetTimes && (!c.Atime.Equal(testNow) || !c.Mtime.Equal(testNow)) {
				t.Errorf("change %+v: times are not Spec.Now", c)
			}
		}
		now := testNow.UTC().Format(time.RFC3339Nano)
		want := []string{
			"set-times /etc/motd 0600 atime and mtime " + now,
			"set-times /var/cache/app 0755 atime and mtime " + now,
			"create /etc/new 0644 ",
			"set-times /etc/new 0644 atime and mtime " + now,
		}
		if d := cmp.Diff(want, got); d != "" {
			t.Errorf("report (-want +got):\n%s", d)
		}
	})
}

// TestTouchTime: Touch.Time is touch -d; it wins over Spec.Now, and
// without either the current time is used.
func TestTouchTime(t *testing.T) {
	forEachBackend(t, func(t *testing.T, open func(*testing.T, string) vfs.FS) {
		ctx := context.Background()
		fsys := open(t, opsLayout)
		given := time.Date(2001, 2, 3, 4, 5, 6, 789, time.FixedZone("CET", 3600))
		if _, err := Apply(ctx, fsys, Spec{Now: testNow, Operations: []Operation{
			{Touch: &Touch{Path: "/etc/motd", Time: given}},
			{Touch: &Touch{Path: "/etc/made", Time: given}},
		}}); err != nil {
			t.Fatal(err)
		}
		for _, name := range []string{"/etc/motd", "/etc/made"} {
			if a, m := timesOf(t, fsys, name); !a.Equal(given) || !m.Equal(given) {
				t.Errorf("%s: times %v %v, want %v", name, a, m, given)
			}
		}
		start := time.Now()
		if _, err := Apply(ctx, fsys, Spec{Operations: []Operation{{Touch: &Touch{Path: "/etc/issue"}}}}); err != nil {
			t.Fatal(err)
		}
		end := time.Now()
		if a, m := timesOf(t, fsys, "/etc/issue"); a.Before(start) || a.After(end) || !m.Equal(a) {
			t.Errorf("times %v %v, want the current time, between %v and %v", a, m, start, end)
		}
	})
}

// TestTouchDryRun: the plan shows the time change and leaves the guest's
// times alone; a second touch to the same time is kept, as the planning
// view already has it.
func TestTouchDryRun(t *testing.T) {
	forEachBackend(t, func(t *testing.T, open func(*testing.T, string) vfs.FS) {
		ctx := context.Background()
		fsys := open(t, opsLayout)
		a0, m0 := timesOf(t, fsys, "/etc/motd")
		plan, err := NewPlan(ctx, fsys, Spec{Now: testNow, Operations: []Operation{
			{Touch: &Touch{Path: "/etc/motd"}},
			{Move: &Move{From: "/etc/motd", To: "/etc/motd.old"}},
			{Touch: &Touch{Path: "/etc/motd.old"}},
		}})
		if err != nil {
			t.Fatal(err)
		}
		if a, m := timesOf(t, fsys, "/etc/motd"); !a.Equal(a0) || !m.Equal(m0) {
			t.Errorf("planning changed the guest's times: %v %v, were %v %v", a, m, a0, m0)
		}
		var got []string
		for _, c := range plan.Changes() {
			got = append(got, string(c.Action)+" "+c.Path)
		}
		want := []string{"set-times /etc/motd", "move /etc/motd", "keep /etc/motd.old"}
		if d := cmp.Diff(want, got); d != "" {
			t.Errorf("plan (-want +got):\n%s", d)
		}
		out, err := json.Marshal(plan.Changes()[0])
		if err != nil {
			t.Fatal(err)
		}
		now := testNow.UTC().Format(time.RFC3339Nano)
		if s := string(out); !strings.Contains(s, `"action":"set-times"`) || !strings.Contains(s, `"mtime":"`+now+`"`) || !strings.Contains(s, `"atime":"`+now+`"`) {
			t.Errorf("JSON %s", s)
		}
		if out, _ := json.Marshal(plan.Changes()[1]); strings.Contains(string(out), "time") {
			t.Errorf("a move's JSON has times: %s", out)
		}
	})
}

// TestTouchWithoutTimesFS: a backend that cannot set times can still
// create a missing file, but not touch an existing one or honour
// Touch.Time.
func TestTouchWithoutTimesFS(t *testing.T) {
	ctx := context.Background()
	fsys := withoutTimes{openMemGuest(t, opsLayout)}
	for _, op := range []Touch{{Path: "/etc/motd"}, {Path: "/var/cache/app"}, {Path: "/etc/new", Time: testNow}} {
		ie := wantPlanErr(t, fsys, Spec{Operations: []Operation{{Touch: &op}}}, ErrUnsupported)
		if ie.Path != op.Path || !strings.Contains(ie.Error(), "cannot set file times") {
			t.Errorf("%s: error %v", op.Path, ie)
		}
	}
	rep, err := Apply(ctx, fsys, Spec{Now: testNow, Operations: []Operation{{Touch: &Touch{Path: "/etc/new"}}}})
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Changes) != 1 || rep.Changes[0].Action != ActionCreate {
		t.Errorf("report %+v, want the create alone", rep.Changes)
	}
	if _, err := fsys.Lstat(ctx, "/etc/new"); err != nil {
		t.Error(err)
	}
}
