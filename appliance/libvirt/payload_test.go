package libvirt_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/guestinject/guestinject/appliance"
	"github.com/guestinject/guestinject/internal/testsupport/testimage"
	"github.com/guestinject/guestinject/vfs"
)

// TestXFSThroughPayload: the xfs modules are on the payload disk, so an
// XFS guest opens through libvirt only when the domain has that disk,
// read-only and with its serial; the inspection lists the guest disk
// alone.
func TestXFSThroughPayload(t *testing.T) {
	launcher := needLibvirt(t)
	testimage.NeedTools(t, "mkfs.xfs")
	img := filepath.Join(imageDir(t), "xfs.raw")
	testimage.Sparse(t, img, 300<<20)
	testimage.Run(t, "mkfs.xfs", "-q", "-f", img)
	if err := os.Chmod(img, 0o644); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	s, err := appliance.Open(ctx, rawDisk(img), appliance.WithLauncher(launcher))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if in := s.Inspection(); len(in.Filesystems) != 1 || in.Filesystems[0].Type != "xfs" || in.Filesystems[0].Disk != 0 {
		t.Fatalf("inspection lists %+v, want the XFS disk alone", in.Filesystems)
	}
	if err := s.WriteFile(ctx, "/hostname", strings.NewReader("xfs-host\n"), vfs.WriteOptions{Perm: 0o644}); err != nil {
		t.Fatal(err)
	}
	if got, err := vfs.ReadFile(ctx, s, "/hostname", 1<<10); err != nil || string(got) != "xfs-host\n" {
		t.Errorf("ReadFile = %q, %v", got, err)
	}
}
