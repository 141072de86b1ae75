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
	"github.com/guestinject/guestinject/internal/testsupport/testimage"
	"github.com/guestinject/guestinject/vfs"
)

// A GPT disk as installers make it: the EFI system partition (vfat) is
// mounted on /boot/efi by its volume ID, and a file injected there lands
// on the FAT filesystem (read back with mtools), another on the ext4 root
// (read back with debugfs).
func TestGPTPartitionedExt4(t *testing.T) {
	needE2E(t)
	testimage.NeedTools(t, "sfdisk", "mkfs.vfat", "mtype")
	dir := t.TempDir()
	tree := filepath.Join(dir, "tree")
	writeTree(t, tree, map[string]string{
		"etc/os-release": "ID=debian\n",
		"etc/fstab":      "LABEL=root / ext4 defaults 0 1\nUUID=" + testimage.GPTEFIVolumeID + " /boot/efi vfat umask=0077 0 1\n",
		"boot/efi/":      "",
	})
	img := filepath.Join(dir, "disk.raw")
	testimage.GPT(t, img, tree)

	ctx, s := openRaw(t, img)
	if got, err := vfs.ReadFile(ctx, s, "/etc/os-release", 1<<10); err != nil || string(got) != "ID=debian\n" {
		t.Fatalf("ReadFile = %q, %v", got, err)
	}
	in := s.Inspection()
	if esp := in.Filesystems[0]; esp.Type != "vfat" || esp.UUID != testimage.GPTEFIVolumeID || esp.MountPoint != "/boot/efi" {
		t.Fatalf("EFI system partition %+v, want vfat %s on /boot/efi; fstab %+v\n%s", esp, testimage.GPTEFIVolumeID, in.Fstab, s.Console())
	}
	if err := s.WriteFile(ctx, "/etc/motd", strings.NewReader("injected\n"), vfs.WriteOptions{Perm: 0o644}); err != nil {
		t.Fatal(err)
	}
	if err := s.MkdirAll(ctx, "/boot/efi/EFI/debian", 0o755); err != nil {
		t.Fatal(err)
	}
	if err := s.WriteFile(ctx, "/boot/efi/EFI/debian/grub.cfg", strings.NewReader("search.fs_uuid x root\n"), vfs.WriteOptions{Perm: 0o644}); err != nil {
		t.Fatal(err)
	}
	if err := s.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	fsPath := fmt.Sprintf("%s?offset=%d", img, testimage.GPTOffset)
	if got := debugfs(t, fsPath, "cat /etc/motd"); got != "injected\n" {
		t.Errorf("debugfs cat /etc/motd = %q", got)
	}
	if got := testimage.FATFile(t, img, testimage.GPTEFIOffset, "/EFI/debian/grub.cfg"); got != "search.fs_uuid x root\n" {
		t.Errorf("mtype /EFI/debian/grub.cfg = %q", got)
	}
	if got := debugfs(t, fsPath, "ls /boot/efi"); strings.Contains(got, "EFI") {
		t.Errorf("the file went to the root filesystem's /boot/efi: %s", got)
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
	s, err := appliance.Open(ctx, []vfs.Disk{{Path: img, Format: "qcow2"}})
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
	_, err := appliance.Open(context.Background(), []vfs.Disk{{Path: img, Format: "qcow2"}})
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
	_, err := appliance.Open(context.Background(), []vfs.Disk{{Path: img, Format: "raw"}})
	if !errors.Is(err, imagecheck.ReasonFormatMismatch) {
		t.Errorf("Open = %v, want imagecheck.ReasonFormatMismatch", err)
	}
	if fileHash(t, img) != before {
		t.Error("a refused image changed")
	}
}

func TestXFSAndReadOnlySession(t *testing.T) {
	needE2E(t)
	testimage.NeedTools(t, "mkfs.xfs")
	img := filepath.Join(t.TempDir(), "xfs.raw")
	if err := os.WriteFile(img, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(img, 300<<20); err != nil {
		t.Fatal(err)
	}
	run(t, "mkfs.xfs", "-q", "-f", img)
	ctx, s := openRaw(t, img)
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

	ro, err := appliance.Open(ctx, []vfs.Disk{{Path: img, Format: "raw", ReadOnly: true}})
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
