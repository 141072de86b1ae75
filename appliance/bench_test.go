package appliance_test

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/guestinject/guestinject/appliance"
	"github.com/guestinject/guestinject/inject"
	"github.com/guestinject/guestinject/internal/testsupport/appliancetest"
	"github.com/guestinject/guestinject/internal/testsupport/testimage/novaguest"
	"github.com/guestinject/guestinject/vfs"
)

// BenchmarkBoot measures a session's cost from Open to its first answered
// call (Open returns after one) and Close, with a warm initramfs cache.
func BenchmarkBoot(b *testing.B) {
	needE2E(b)
	benchmarkBoot(b, bootImage(b))
}

// bootImage writes the boot benchmarks' image: 64 MiB of ext4 holding
// /etc/hostname.
func bootImage(b *testing.B) string {
	dir := b.TempDir()
	writeTree(b, filepath.Join(dir, "tree"), map[string]string{"etc/hostname": "bench\n"})
	img := filepath.Join(dir, "disk.raw")
	ext4Image(b, img, filepath.Join(dir, "tree"), 64)
	return img
}

// BenchmarkBootWithoutLVMTools is BenchmarkBoot with an initramfs built
// without the LVM tools (about half the size): against BenchmarkBoot, it
// is what carrying them costs a boot of a guest that has no LVM.
func BenchmarkBootWithoutLVMTools(b *testing.B) {
	needE2E(b)
	benchmarkBoot(b, bootImage(b), appliance.WithoutLVMTools())
}

// benchmarkBoot times Open and Close of the raw image img with opts,
// after one untimed session that warms the initramfs cache.
func benchmarkBoot(b *testing.B, img string, opts ...appliance.Option) {
	ctx := context.Background()
	warm, err := appliance.Open(ctx, []vfs.Disk{{Path: img, Format: "raw"}}, opts...)
	if err != nil {
		b.Fatal(err)
	}
	warm.Close()
	for b.Loop() {
		s, err := appliance.Open(ctx, []vfs.Disk{{Path: img, Format: "raw"}}, opts...)
		if err != nil {
			b.Fatal(err)
		}
		s.Close()
	}
}

// BenchmarkWriteCommit measures a whole small injection
// (appliancetest.WriteCommit: Open, two writes and a directory, Commit:
// agent shutdown, VM exit, overlay merge). appliance/libvirt times the
// same work through libvirt.
func BenchmarkWriteCommit(b *testing.B) {
	needE2E(b)
	img := appliancetest.WriteCommitImage(b, b.TempDir())
	ctx := context.Background()
	for b.Loop() {
		if err := appliancetest.WriteCommit(ctx, nil, img); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkNovaPlan measures the planning of the Nova-style injection
// (novaguest.Spec) on an open session: the guest reads (passwd, group,
// shadow, hosts, os-release, ...) are wire round trips to the agent, on
// the critical path of every injection, cold or pooled.
func BenchmarkNovaPlan(b *testing.B) {
	needE2E(b)
	img := filepath.Join(b.TempDir(), "debian.raw")
	novaguest.Image(b, img, 128)
	ctx := context.Background()
	s, err := appliance.Open(ctx, []vfs.Disk{{Path: img, Format: "raw"}})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	if _, err := inject.NewPlan(ctx, s, novaguest.Spec()); err != nil {
		b.Fatal(err) // and warms the guest's page cache
	}
	for b.Loop() {
		if _, err := inject.NewPlan(ctx, s, novaguest.Spec()); err != nil {
			b.Fatal(err)
		}
	}
}
