package appliance_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/guestinject/guestinject/appliance"
	"github.com/guestinject/guestinject/imagecheck"
	"github.com/guestinject/guestinject/vfs"
)

// gptImage builds a GPT disk: an EFI system partition with vfat and a
// Linux partition with ext4 built from tree; it returns the byte offset
// of the ext4 filesystem.
func gptImage(t *testing.T, img, tree string) int64 {
	t.Helper()
	if err := os.WriteFile(img, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(img, 64<<20); err != nil {
		t.Fatal(err)
	}
	cmd := "label: gpt\n" +
		"start=2048, size=8192, type=C12A7328-F81F-11D2-BA4B-00A0C93EC93B\n" +
		"start=10240, size=118784, type=0FC63DAF-8483-4772-8E79-3D69D7C47709\n"
	execIn(t, cmd, "sfdisk", "-q", img)
	run(t, "mkfs.vfat", "--offset", "2048", img, "4096")
	const offset = 10240 * 512
	run(t, "mkfs.ext4", "-q", "-F", "-d", tree, "-E", fmt.Sprintf("offset=%d", offset), img, "59392k")
	return offset
}

func TestGPTPartitionedExt4(t *testing.T) {
	needE2E(t)
	dir := t.TempDir()
	tree := filepath.Join(dir, "tree")
	writeTree(t, tree, map[string]string{"etc/os-release": "ID=debian\n"})
	img := filepath.Join(dir, "disk.raw")
	offset := gptImage(t, img, tree)

	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	s, err := appliance.Open(ctx, []appliance.Disk{{Path: img, Format: "raw"}})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if got, err := vfs.ReadFile(ctx, s, "/etc/os-release", 1<<10); err != nil || string(got) != "ID=debian\n" {
		t.Fatalf("ReadFile = %q, %v", got, err)
	}
	if err := s.WriteFile(ctx, "/etc/motd", strings.NewReader("injected\n"), vfs.WriteOptions{Perm: 0o644}); err != nil {
		t.Fatal(err)
	}
	if err := s.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	fsPath := fmt.Sprintf("%s?offset=%d", img, offset)
	if got := debugfs(t, fsPath, "cat /etc/motd"); got != "injected\n" {
		t.Errorf("debugfs cat /etc/motd = %q", got)
	}
}

func TestQcow2Image(t *testing.T) {
	needE2E(t)
	dir := t.TempDir()
	tree := filepath.Join(dir, "tree")
	writeTree(t, tree, map[string]string{"etc/hostname": "q\n"})
	raw := filepath.Join(dir, "disk.raw")
	ext4Image(t, raw, tree, 32)
	img := filepath.Join(dir, "disk.qcow2")
	run(t, "qemu-img", "convert", "-f", "raw", "-O", "qcow2", raw, img)

	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	s, err := appliance.Open(ctx, []appliance.Disk{{Path: img, Format: "qcow2"}})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if err := s.WriteFile(ctx, "/etc/hostname", strings.NewReader("qcow\n"), vfs.WriteOptions{Perm: 0o644}); err != nil {
		t.Fatal(err)
	}
	if err := s.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	back := filepath.Join(dir, "back.raw")
	run(t, "qemu-img", "convert", "-f", "qcow2", "-O", "raw", img, back)
	if got := debugfs(t, back, "cat /etc/hostname"); got != "qcow\n" {
		t.Errorf("debugfs cat /etc/hostname = %q", got)
	}
	if info := run(t, "qemu-img", "info", "-f", "qcow2", img); strings.Contains(info, "backing file") {
		t.Errorf("image gained a backing file:\n%s", info)
	}
}

func TestQcow2WithBackingFileRefused(t *testing.T) {
	needE2E(t)
	dir := t.TempDir()
	secret := filepath.Join(dir, "host-secret.raw")
	if err := os.WriteFile(secret, make([]byte, 1<<20), 0o600); err != nil {
		t.Fatal(err)
	}
	img := filepath.Join(dir, "evil.qcow2")
	run(t, "qemu-img", "create", "-q", "-f", "qcow2", "-F", "raw", "-b", secret, img)
	_, err := appliance.Open(context.Background(), []appliance.Disk{{Path: img, Format: "qcow2"}})
	if !errors.Is(err, appliance.ErrImageReferences) || !errors.Is(err, imagecheck.ReasonBackingFile) {
		t.Errorf("Open = %v, want ErrImageReferences and imagecheck.ReasonBackingFile", err)
	}
}

// A qcow2 image declared raw is refused before QEMU sees it: the guest
// could otherwise have written a qcow2 header naming host files into its
// own raw disk.
func TestDeclaredRawButQcow2Refused(t *testing.T) {
	needE2E(t)
	dir := t.TempDir()
	img := filepath.Join(dir, "disguised.img")
	run(t, "qemu-img", "create", "-q", "-f", "qcow2", img, "16M")
	before := fileHash(t, img)
	_, err := appliance.Open(context.Background(), []appliance.Disk{{Path: img, Format: "raw"}})
	if !errors.Is(err, imagecheck.ReasonFormatMismatch) {
		t.Errorf("Open = %v, want imagecheck.ReasonFormatMismatch", err)
	}
	if fileHash(t, img) != before {
		t.Error("a refused image changed")
	}
}

func TestXFSAndReadOnlySession(t *testing.T) {
	needE2E(t)
	if sbinPath("mkfs.xfs") == "" {
		if os.Getenv("GUESTINJECT_E2E") == "1" {
			t.Fatal("mkfs.xfs missing (GUESTINJECT_E2E=1)")
		}
		t.Skip("mkfs.xfs missing")
	}
	img := filepath.Join(t.TempDir(), "xfs.raw")
	if err := os.WriteFile(img, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(img, 300<<20); err != nil {
		t.Fatal(err)
	}
	run(t, "mkfs.xfs", "-q", "-f", img)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()

	s, err := appliance.Open(ctx, []appliance.Disk{{Path: img, Format: "raw"}})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if err := s.MkdirAll(ctx, "/etc", 0o755); err != nil {
		t.Fatal(err)
	}
	if err := s.WriteFile(ctx, "/etc/hostname", strings.NewReader("xfs-host\n"), vfs.WriteOptions{Perm: 0o644}); err != nil {
		t.Fatal(err)
	}
	if err := s.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	before := fileHash(t, img)

	ro, err := appliance.Open(ctx, []appliance.Disk{{Path: img, Format: "raw", ReadOnly: true}})
	if err != nil {
		t.Fatal(err)
	}
	defer ro.Close()
	if got, err := vfs.ReadFile(ctx, ro, "/etc/hostname", 1<<10); err != nil || string(got) != "xfs-host\n" {
		t.Fatalf("ReadFile = %q, %v", got, err)
	}
	err = ro.WriteFile(ctx, "/etc/hostname", strings.NewReader("no\n"), vfs.WriteOptions{Perm: 0o644})
	if err == nil {
		t.Fatal("write succeeded on a read-only disk")
	}
	if err := ro.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	if fileHash(t, img) != before {
		t.Error("read-only session changed the image")
	}
}
