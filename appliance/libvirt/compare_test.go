package libvirt_test

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"

	"github.com/guestinject/guestinject/appliance"
	"github.com/guestinject/guestinject/imagecheck"
	"github.com/guestinject/guestinject/inject"
	"github.com/guestinject/guestinject/internal/testsupport/libvirttest"
	"github.com/guestinject/guestinject/internal/testsupport/testimage/novaguest"
	"github.com/guestinject/guestinject/mount"
	"github.com/guestinject/guestinject/vfs"
)

// novaImageMiB is the virtual size of the comparison's Debian-like image.
const novaImageMiB = 1536

// BenchmarkCompareNovaInjection is the backend comparison of BENCHMARKS.md:
// the same Nova-style injection (novaguest.Spec: SSH keys for two users, a
// password, the host name, a network configuration, /meta.js and two
// files) on the same 1.5 GiB Debian-like qcow2 image, a fresh copy every
// iteration, through
//
//   - the appliance with the direct QEMU launcher, warm and cold initramfs
//     cache, and through a pool of pre-booted VMs (appliance.Pool),
//   - the appliance launched by libvirt,
//   - the host mount (qemu-storage-daemon FUSE export, host ext4 driver),
//   - guestfish (libguestfs's direct backend) making the same writes.
//
// It lives here because this is the one package allowed to import the
// libvirt launcher. Each case's first run is read back with debugfs before
// the timed ones.
func BenchmarkCompareNovaInjection(b *testing.B) {
	launcher := needLibvirt(b)
	pristine := filepath.Join(imageDir(b), "debian.qcow2")
	novaguest.Qcow2Image(b, pristine, novaImageMiB)
	ctx := context.Background()

	viaAppliance := func(opts ...appliance.Option) func(context.Context, string) error {
		return func(ctx context.Context, img string) error {
			s, err := appliance.Open(ctx, []vfs.Disk{{Path: img, Format: "qcow2"}}, opts...)
			if err != nil {
				return err
			}
			defer s.Close()
			return applyAndCommit(ctx, s, s.Commit, s.Console)
		}
	}
	viaMount := func(ctx context.Context, img string) error {
		s, err := mount.OpenTrusted(ctx, vfs.Disk{Path: img, Format: imagecheck.QCOW2})
		if err != nil {
			return err
		}
		defer s.Close()
		return applyAndCommit(ctx, s, s.Commit, func() string { return "" })
	}
	// The pooled case opens through a pool of one whose VM is ready
	// when the timed part starts: its replacement's boot is not timed.
	viaPool := func(b *testing.B) func(context.Context, string) error {
		pool, err := appliance.NewPool(ctx, 1)
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { pool.Close() })
		return func(ctx context.Context, img string) error {
			b.StopTimer()
			if err := pool.Wait(ctx); err != nil {
				return err
			}
			b.StartTimer()
			s, err := pool.Open(ctx, []vfs.Disk{{Path: img, Format: "qcow2"}})
			if err != nil {
				return err
			}
			defer s.Close()
			return applyAndCommit(ctx, s, s.Commit, s.Console)
		}
	}
	cases := []struct {
		name   string
		inject func(context.Context, string) error
		// cold gives every iteration an empty initramfs cache.
		cold bool
		// pooled opens through a pool (viaPool).
		pooled bool
	}{
		{name: "appliance-direct", inject: viaAppliance()},
		{name: "appliance-pool", pooled: true},
		{name: "appliance-direct-cold", cold: true},
		{name: "appliance-libvirt", inject: viaAppliance(appliance.WithLauncher(launcher))},
		{name: "mount-qcow2", inject: viaMount},
	}
	for _, c := range cases {
		b.Run(c.name, func(b *testing.B) {
			run := c.inject
			if c.pooled {
				run = viaPool(b)
			}
			if c.cold {
				run = func(ctx context.Context, img string) error {
					b.StopTimer()
					cache := b.TempDir()
					b.StartTimer()
					return viaAppliance(appliance.WithCacheDir(cache))(ctx, img)
				}
			}
			// The first run builds the agent and warms the cache; its
			// result is checked before anything is timed.
			first := freshCopy(b, pristine)
			if err := run(ctx, first); err != nil {
				b.Fatal(err)
			}
			novaguest.CheckQcow2(b, first)
			for b.Loop() {
				if err := run(ctx, freshCopy(b, pristine)); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
	b.Run("guestfish", func(b *testing.B) {
		script := novaguest.GuestfishScript(b)
		first := freshCopy(b, pristine)
		novaguest.Guestfish(b, first, script)
		novaguest.CheckQcow2(b, first)
		for b.Loop() {
			novaguest.Guestfish(b, freshCopy(b, pristine), script)
		}
	})
}

// freshCopy is novaguest.FreshCopy in a directory QEMU's user can search,
// as the libvirt launcher needs under qemu:///system.
func freshCopy(b *testing.B, pristine string) string {
	b.Helper()
	img := novaguest.FreshCopy(b, pristine)
	libvirttest.Searchable(b, filepath.Dir(img))
	return img
}

// applyAndCommit applies novaguest.Spec to fsys and commits.
func applyAndCommit(ctx context.Context, fsys vfs.FS, commit func(context.Context) error, console func() string) error {
	if _, err := inject.Apply(ctx, fsys, novaguest.Spec()); err != nil {
		return fmt.Errorf("%w\n%s", err, console())
	}
	return commit(ctx)
}
