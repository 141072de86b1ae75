package appliance_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/guestinject/guestinject/appliance"
	"github.com/guestinject/guestinject/internal/initramfs"
	"github.com/guestinject/guestinject/internal/testsupport/testimage"
	"github.com/guestinject/guestinject/vfs"
)

// TestPayloadIsNoGuestDisk: an XFS guest, whose modules the agent loads
// from the payload disk, next to a guest disk that holds a copy of that
// very payload. The copy is a guest disk like any other, listed in the
// inspection; the payload disk itself never is.
func TestPayloadIsNoGuestDisk(t *testing.T) {
	needE2E(t)
	testimage.NeedTools(t, "mkfs.xfs")
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	dir := t.TempDir()
	img := filepath.Join(dir, "xfs.raw")
	testimage.Sparse(t, img, 300<<20)
	run(t, "mkfs.xfs", "-q", "-f", "-L", "xfsroot", img)

	app, err := initramfs.Build(ctx, initramfs.Config{})
	if err != nil {
		t.Fatal(err)
	}
	payload, err := os.ReadFile(app.Payload)
	if err != nil {
		t.Fatal(err)
	}
	lookalike := filepath.Join(dir, "payload-lookalike.raw")
	if err := os.WriteFile(lookalike, payload, 0o644); err != nil {
		t.Fatal(err)
	}

	s, err := appliance.Open(ctx, []vfs.Disk{{Path: img, Format: "raw"}, {Path: lookalike, Format: "raw", ReadOnly: true}})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	in := s.Inspection()
	if len(in.Filesystems) != 2 {
		t.Fatalf("inspection lists %d filesystems, want the XFS disk and the lookalike: %+v", len(in.Filesystems), in.Filesystems)
	}
	if fs := in.Filesystems[0]; fs.Disk != 0 || fs.Type != "xfs" || fs.Label != "xfsroot" || fs.MountPoint != "/" {
		t.Errorf("disk 0: %+v, want the XFS root", fs)
	}
	if fs := in.Filesystems[1]; fs.Disk != 1 || fs.Type != "" || fs.Candidate {
		t.Errorf("disk 1: %+v, want the lookalike as a guest disk of unknown content", fs)
	}
	if err := s.WriteFile(ctx, "/etc-hostname", strings.NewReader("xfs-host\n"), vfs.WriteOptions{Perm: 0o644}); err != nil {
		t.Fatal(err)
	}
	if got, err := vfs.ReadFile(ctx, s, "/etc-hostname", 1<<10); err != nil || string(got) != "xfs-host\n" {
		t.Errorf("ReadFile = %q, %v", got, err)
	}
	if err := s.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	after, err := os.ReadFile(lookalike)
	if err != nil {
		t.Fatal(err)
	}
	if string(after) != string(payload) {
		t.Error("the read-only lookalike changed")
	}
}
