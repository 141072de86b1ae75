package libvirt_test

import (
	"context"
	"testing"

	"github.com/guestinject/guestinject/appliance"
	"github.com/guestinject/guestinject/internal/testsupport/appliancetest"
	"github.com/guestinject/guestinject/internal/testsupport/libvirttest"
)

// BenchmarkWriteCommit compares the libvirt launcher with the direct one
// on the same small injection (appliancetest.WriteCommit: Open, two
// writes and a directory, Commit), one after the other in one process
// on one image. The difference is the libvirt overhead per session.
func BenchmarkWriteCommit(b *testing.B) {
	launcher := needLibvirt(b)
	img := appliancetest.WriteCommitImage(b, libvirttest.ImageDir(b))
	for _, bc := range []struct {
		name     string
		launcher appliance.Launcher
	}{
		{"direct", appliance.QEMU{}},
		{"libvirt", launcher},
	} {
		b.Run(bc.name, func(b *testing.B) {
			ctx := context.Background()
			for b.Loop() {
				if err := appliancetest.WriteCommit(ctx, bc.launcher, img); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
