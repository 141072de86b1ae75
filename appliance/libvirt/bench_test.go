package libvirt_test

import (
	"context"
	"path/filepath"
	"strings"
	"testing"

	"github.com/guestinject/guestinject/appliance"
	"github.com/guestinject/guestinject/vfs"
)

// BenchmarkWriteCommit compares the libvirt launcher with the direct one
// on the same small injection: Open, two writes and a directory, Commit.
// The difference of the two is the libvirt overhead per session.
func BenchmarkWriteCommit(b *testing.B) {
	launcher := needLibvirt(b)
	img := filepath.Join(imageDir(b), "disk.raw")
	ext4Image(b, img, map[string]string{"etc/hostname": "bench\n", "root/": ""})
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
				s, err := appliance.Open(ctx, rawDisk(img), appliance.WithLauncher(bc.launcher))
				if err != nil {
					b.Fatal(err)
				}
				if err := s.WriteFile(ctx, "/etc/hostname", strings.NewReader("host\n"), vfs.WriteOptions{Perm: 0o644}); err != nil {
					b.Fatal(err)
				}
				if err := s.MkdirAll(ctx, "/root/.ssh", 0o700); err != nil {
					b.Fatal(err)
				}
				if err := s.WriteFile(ctx, "/root/.ssh/authorized_keys", strings.NewReader("ssh-ed25519 AAAA k\n"), vfs.WriteOptions{Perm: 0o600}); err != nil {
					b.Fatal(err)
				}
				if err := s.Commit(ctx); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
