package inject

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/netip"
	"slices"
	"strings"
	"testing"

	"github.com/guestinject/guestinject/vfs"
)

// openCounter counts the guest's Opens by name.
type openCounter struct {
	vfs.FS
	opens map[string]int
}

func (c *openCounter) Open(ctx context.Context, name string) (vfs.File, error) {
	c.opens[name]++
	return c.FS.Open(ctx, name)
}

// TestOverlayReadsAGuestFileOnce: a small guest file read whole while
// planning is read from the guest once (each read is a round trip to an
// appliance), and later reads see the same content and info; a file read
// in part, a large one and one the plan changes are not served from it.
func TestOverlayReadsAGuestFileOnce(t *testing.T) {
	ctx := context.Background()
	big := strings.Repeat("x", maxCachedFile+1)
	guest := &openCounter{FS: openMemGuest(t, debianLayout+`
f /etc/motd mode=0600 owner=0:0 data="hello"
f /etc/issue data="Debian\n"
f /var/big data="`+big+`"
l /etc/motd-link target=motd
`), opens: map[string]int{}}
	o := newOverlay(guest)
	read := func(name string) string {
		t.Helper()
		data, err := vfs.ReadFile(ctx, o, name, 1<<20)
		if err != nil {
			t.Fatal(err)
		}
		return string(data)
	}
	for range 3 {
		if got := read("/etc/motd"); got != "hello" {
			t.Fatalf("read %q", got)
		}
	}
	if got := read("/etc/motd-link"); got != "hello" {
		t.Fatalf("through the link: %q", got)
	}
	f, err := o.Open(ctx, "/etc/motd")
	if err != nil {
		t.Fatal(err)
	}
	if info, err := f.Stat(); err != nil || info.Size() != 5 || info.Name() != "motd" || info.Mode() != 0o600 {
		t.Errorf("Stat of the kept content = %v, %v", info, err)
	}
	f.Close()
	if n := guest.opens["/etc/motd"]; n != 1 {
		t.Errorf("the guest's /etc/motd was opened %d times, want 1", n)
	}

	for range 2 {
		if got := read("/var/big"); got != big {
			t.Fatalf("read %d bytes of /var/big", len(got))
		}
	}
	if n := guest.opens["/var/big"]; n != 2 {
		t.Errorf("a file over %d bytes was opened %d times, want every time (2)", maxCachedFile, n)
	}

	// A read that stops short keeps nothing.
	f, err = o.Open(ctx, "/etc/issue")
	if err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 2)
	if _, err := io.ReadFull(f, buf); err != nil {
		t.Fatal(err)
	}
	f.Close()
	if got := read("/etc/issue"); got != "Debian\n" {
		t.Errorf("read %q after a partial read", got)
	}
	if n := guest.opens["/etc/issue"]; n != 2 {
		t.Errorf("the guest's /etc/issue was opened %d times, want 2", n)
	}

	// A planned write is what later reads see.
	if err := o.WriteFile(ctx, "/etc/motd", bytes.NewReader([]byte("planned")), vfs.WriteOptions{Perm: 0o644}); err != nil {
		t.Fatal(err)
	}
	if got := read("/etc/motd"); got != "planned" {
		t.Errorf("read %q after a planned write", got)
	}
}

// lstatManyGuest answers LstatMany (vfs.LstatManyFS) and counts the calls
// that reach it, one per LstatMany and one per Lstat, as an appliance's
// round trips.
type lstatManyGuest struct {
	vfs.FS
	lstats, batches int
	batchNames      [][]string
}

func (g *lstatManyGuest) Lstat(ctx context.Context, name string) (fs.FileInfo, error) {
	g.lstats++
	return g.FS.Lstat(ctx, name)
}

func (g *lstatManyGuest) LstatMany(ctx context.Context, names []string) ([]vfs.LstatResult, error) {
	g.batches++
	g.batchNames = append(g.batchNames, names)
	return vfs.LstatMany(ctx, g.FS, names)
}

// TestOverlayAsksForAPathAtOnce: against a guest that answers many Lstats
// in one call, the overlay asks for every component of a path it has not
// seen in one call, and a plan made that way is the plan made one Lstat at
// a time, in fewer calls.
func TestOverlayAsksForAPathAtOnce(t *testing.T) {
	ctx := context.Background()
	layout := debianLayout + `
l /etc/alt target=/home/alice
f /home/alice/.profile data="x"
`
	g := &lstatManyGuest{FS: openMemGuest(t, layout)}
	o := newOverlay(g)
	if _, err := o.Lstat(ctx, "/home/alice/.ssh/authorized_keys"); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("Lstat = %v, want ErrNotExist", err)
	}
	want := []string{"/", "/home", "/home/alice", "/home/alice/.ssh", "/home/alice/.ssh/authorized_keys"}
	if g.batches != 1 || g.lstats != 0 || !slices.Equal(g.batchNames[0], want) {
		t.Errorf("%d LstatMany (%q) and %d Lstat, want one LstatMany of %q", g.batches, g.batchNames, g.lstats, want)
	}
	// Through a guest symlink the walk asks for the link's target by
	// itself: what was fetched for the link's own path is not used for it.
	info, err := o.Lstat(ctx, "/etc/alt/.profile")
	if err != nil || info.Size() != 1 {
		t.Fatalf("Lstat through the link = %v, %v", info, err)
	}

	spec := Spec{
		SSHKeys:  []SSHKeys{{User: "alice", Keys: []string{testKeyA}}},
		Hostname: "batched",
		Files:    []File{{Path: "/etc/app/one.conf", Content: []byte("1\n")}, {Path: "/etc/alt/two", Content: []byte("2\n")}},
	}
	plain, batched := planBothWays(t, layout, spec)
	if plain.batches != 0 || batched.lstats+batched.batches >= plain.lstats {
		t.Errorf("batched plan: %d Lstat and %d LstatMany calls, one at a time: %d Lstat", batched.lstats, batched.batches, plain.lstats)
	}
	t.Logf("one at a time: %d calls; batched: %d Lstat and %d LstatMany %q", plain.lstats, batched.lstats, batched.batches, batched.batchNames)
}

// planBothWays plans spec on two copies of layout, one Lstat at a time and
// through LstatMany, checks that the plans are the same, and returns the
// two guests with their counts.
func planBothWays(t *testing.T, layout string, spec Spec) (plain, batched *lstatManyGuest) {
	t.Helper()
	ctx := context.Background()
	plain = &lstatManyGuest{FS: openMemGuest(t, layout)}
	one, err := NewPlan(ctx, lstatOnly{plain}, spec)
	if err != nil {
		t.Fatal(err)
	}
	batched = &lstatManyGuest{FS: openMemGuest(t, layout)}
	two, err := NewPlan(ctx, batched, spec)
	if err != nil {
		t.Fatal(err)
	}
	if a, b := fmt.Sprint(one.Changes()), fmt.Sprint(two.Changes()); a != b {
		t.Errorf("plans differ:\none Lstat at a time: %s\nbatched: %s", a, b)
	}
	return plain, batched
}

// lstatOnly hides an LstatMany: only vfs.FS's methods show.
type lstatOnly struct{ vfs.FS }

// TestPlanAsksForItsLookupsAtOnce: against a guest that answers many
// Lstats in one call, planning a Spec that touches accounts, keys, the
// host name, the network and files asks for everything its phases look at
// in a few calls before planning, and none afterwards one by one; the plan
// is the one made one Lstat at a time. A phase that starts looking at a
// path it does not name in its lookups fails here.
func TestPlanAsksForItsLookupsAtOnce(t *testing.T) {
	spec := Spec{
		SSHKeys:   []SSHKeys{{User: "alice", Keys: []string{testKeyA}}, {Keys: []string{testKeyA}}},
		Passwords: []Password{{User: "alice", Lock: Lock}},
		Hostname:  "batched",
		Metadata:  map[string]string{"role": "web"},
		Network: &Network{Interfaces: []Interface{{Name: "eth0",
			Addresses: []netip.Prefix{netip.MustParsePrefix("10.0.0.5/24")}}}},
		Files: []File{{Path: "/etc/app/one.conf", Content: []byte("1\n"), Group: "staff"}, {Path: "/opt/two", Content: []byte("2\n")}},
	}
	plain, batched := planBothWays(t, debianLayout, spec)
	if batched.lstats != 0 || batched.batches > 2 {
		t.Errorf("batched plan: %d Lstat and %d LstatMany calls (%q), want no Lstat and at most 2 LstatMany", batched.lstats, batched.batches, batched.batchNames)
	}
	t.Logf("one at a time: %d Lstat; batched: %d LstatMany", plain.lstats, batched.batches)
}
