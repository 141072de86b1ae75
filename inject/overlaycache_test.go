package inject

import (
	"bytes"
	"context"
	"io"
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
