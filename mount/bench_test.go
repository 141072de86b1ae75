package mount_test

import (
	"context"
	"path/filepath"
	"strings"
	"testing"

	"github.com/guestinject/guestinject/imagecheck"
	"github.com/guestinject/guestinject/internal/testsupport/testimage"
	"github.com/guestinject/guestinject/mount"
	"github.com/guestinject/guestinject/vfs"
)

// benchmarkWriteCommit measures the appliance's BenchmarkWriteCommit
// injection on the host: Open, a hostname, an authorized_keys file,
// Commit.
func benchmarkWriteCommit(b *testing.B, format imagecheck.Format, opts ...mount.OpenOption) {
	img, state := benchImage(b, format)
	opts = append(opts, mount.WithStateDir(state))
	ctx := b.Context()
	for b.Loop() {
		s, err := mount.OpenTrusted(ctx, vfs.Disk{Path: img, Format: format}, opts...)
		if err != nil {
			b.Fatal(err)
		}
		writeSample(ctx, b, s)
		if err := s.Commit(ctx); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkWriteCommitRaw(b *testing.B) {
	needFUSEExport(b)
	benchmarkWriteCommit(b, imagecheck.Raw)
}

// BenchmarkWriteInPlaceRaw is the same work on a raw image written in
// place: no storage daemon, no overlay, no merge.
func BenchmarkWriteInPlaceRaw(b *testing.B) {
	needHostMount(b)
	img, state := benchImage(b, imagecheck.Raw)
	ctx := b.Context()
	for b.Loop() {
		s, err := mount.OpenTrustedInPlace(ctx, vfs.Disk{Path: img, Format: imagecheck.Raw}, mount.WithStateDir(state))
		if err != nil {
			b.Fatal(err)
		}
		writeSample(ctx, b, s)
		if err := s.Close(); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkWriteCommitQcow2(b *testing.B) {
	needFUSEExport(b)
	benchmarkWriteCommit(b, imagecheck.QCOW2)
}

// writeSample makes the writes every benchmark measures.
func writeSample(ctx context.Context, b *testing.B, fsys vfs.FS) {
	if err := fsys.WriteFile(ctx, "/etc/hostname", strings.NewReader("host\n"), vfs.WriteOptions{Perm: 0o644}); err != nil {
		b.Fatal(err)
	}
	if err := fsys.MkdirAll(ctx, "/root/.ssh", 0o700); err != nil {
		b.Fatal(err)
	}
	if err := fsys.WriteFile(ctx, "/root/.ssh/authorized_keys", strings.NewReader("ssh-ed25519 AAAA k\n"), vfs.WriteOptions{Perm: 0o600}); err != nil {
		b.Fatal(err)
	}
}

// benchImage builds the 64 MiB ext4 image of format the benchmarks write
// to, with /root and /etc, and a state directory for its sessions.
func benchImage(b *testing.B, format imagecheck.Format) (img, state string) {
	dir := b.TempDir()
	tree := mustMkdir(b, filepath.Join(dir, "tree"))
	mustMkdir(b, filepath.Join(tree, "root"))
	mustMkdir(b, filepath.Join(tree, "etc"))
	img = filepath.Join(dir, "disk.raw")
	testimage.Ext4(b, img, tree, 64)
	if format == imagecheck.QCOW2 {
		testimage.Qcow2(b, img, img+".qcow2")
		img += ".qcow2"
	}
	return img, stateDir(b, dir)
}
