package appliance_test

import (
	"context"
	"path/filepath"
	"strings"
	"testing"

	"github.com/guestinject/guestinject/appliance"
	"github.com/guestinject/guestinject/vfs"
)

// BenchmarkBoot measures a session's cost from Open to its first answered
// call (Open returns after one) and Close, with a warm initramfs cache.
func BenchmarkBoot(b *testing.B) {
	needE2E(b)
	dir := b.TempDir()
	writeTree(b, filepath.Join(dir, "tree"), map[string]string{"etc/hostname": "bench\n"})
	img := filepath.Join(dir, "disk.raw")
	ext4Image(b, img, filepath.Join(dir, "tree"), 64)
	ctx := context.Background()
	warm, err := appliance.Open(ctx, []appliance.Disk{{Path: img, Format: "raw"}})
	if err != nil {
		b.Fatal(err)
	}
	warm.Close()
	b.ResetTimer()
	for b.Loop() {
		s, err := appliance.Open(ctx, []appliance.Disk{{Path: img, Format: "raw"}})
		if err != nil {
			b.Fatal(err)
		}
		s.Close()
	}
}

// BenchmarkWriteCommit measures a whole small injection: Open, two writes,
// Commit (agent shutdown, VM exit, overlay merge).
func BenchmarkWriteCommit(b *testing.B) {
	needE2E(b)
	dir := b.TempDir()
	writeTree(b, filepath.Join(dir, "tree"), map[string]string{"etc/hostname": "bench\n", "root/": ""})
	img := filepath.Join(dir, "disk.raw")
	ext4Image(b, img, filepath.Join(dir, "tree"), 64)
	ctx := context.Background()
	for b.Loop() {
		s, err := appliance.Open(ctx, []appliance.Disk{{Path: img, Format: "raw"}})
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
}
