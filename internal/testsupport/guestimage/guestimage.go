package guestimage

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/guestinject/guestinject/internal/testsupport/testimage"
)

// Tree is the guest's content: path -> file content, mode 0644 unless
// listed in modes; a path ending in "/" is a directory.
var Tree = map[string]string{
	"/etc/passwd":                "root:x:0:0:root:/root:/bin/bash\ndaemon:x:1:1:daemon:/usr/sbin:/usr/sbin/nologin\ndebian:x:1000:1000:Debian:/home/debian:/bin/bash\n",
	"/etc/group":                 "root:x:0:\ndaemon:x:1:\nshadow:x:42:\ndebian:x:1000:\n",
	"/etc/shadow":                "root:*:19000:0:99999:7:::\ndaemon:*:19000:0:99999:7:::\ndebian:!:19000:0:99999:7:::\n",
	"/etc/os-release":            "PRETTY_NAME=\"Debian GNU/Linux 12 (bookworm)\"\nNAME=\"Debian GNU/Linux\"\nVERSION_ID=\"12\"\nID=debian\n",
	"/etc/hostname":              "localhost\n",
	"/etc/hosts":                 "127.0.0.1\tlocalhost\n",
	"/etc/fstab":                 "LABEL=root / ext4 errors=remount-ro 0 1\n",
	"/etc/network/interfaces":    "source /etc/network/interfaces.d/*\nauto lo\niface lo inet loopback\n",
	"/etc/network/interfaces.d/": "",
	"/usr/sbin/ifup":             "#!/bin/sh\n",
	"/lib/systemd/systemd":       "",
	"/root/":                     "",
	"/home/debian/":              "",
}

var modes = map[string]os.FileMode{
	"/etc/shadow":          0o640,
	"/usr/sbin/ifup":       0o755,
	"/lib/systemd/systemd": 0o755,
	"/root/":               0o700,
	"/home/debian/":        0o755,
}

// NeedAppliance skips t when QEMU, qemu-img, mkfs.ext4, debugfs or a
// kernel is missing, and fails it instead when GUESTINJECT_E2E=1.
func NeedAppliance(t testing.TB) {
	t.Helper()
	var missing []string
	for _, tool := range []string{"qemu-system-x86_64", "qemu-img", "mkfs.ext4", "debugfs"} {
		if testimage.Tool(tool) == "" {
			missing = append(missing, tool)
		}
	}
	if kernels, _ := filepath.Glob("/boot/vmlinuz-*"); len(kernels) == 0 && os.Getenv("GUESTINJECT_KERNEL") == "" {
		missing = append(missing, "a kernel in /boot")
	}
	testimage.Need(t, missing...)
}

// Raw builds the guest as a 64 MiB raw ext4 image labelled "root" in a
// temporary directory and returns its path.
func Raw(t testing.TB) string {
	t.Helper()
	dir := t.TempDir()
	tree := filepath.Join(dir, "tree")
	WriteTree(t, tree)
	img := filepath.Join(dir, "guest.img")
	testimage.Run(t, "mkfs.ext4", "-q", "-F", "-L", "root", "-d", tree, img, "64M")
	return img
}

// WriteTree writes Tree under dir.
func WriteTree(t testing.TB, dir string) {
	t.Helper()
	for p, content := range Tree {
		full := filepath.Join(dir, filepath.FromSlash(p))
		mode, ok := modes[p]
		if strings.HasSuffix(p, "/") {
			if !ok {
				mode = 0o755
			}
			mkdir(t, full, mode)
			continue
		}
		mkdir(t, filepath.Dir(full), 0o755)
		if !ok {
			mode = 0o644
		}
		if err := os.WriteFile(full, []byte(content), mode); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(full, mode); err != nil { // past the umask
			t.Fatal(err)
		}
	}
}

func mkdir(t testing.TB, dir string, mode os.FileMode) {
	t.Helper()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(dir, mode); err != nil {
		t.Fatal(err)
	}
}

// Cat reads a guest file from the raw ext4 image with debugfs, which
// reads the filesystem in user space.
func Cat(t testing.TB, img, path string) string {
	t.Helper()
	return testimage.Run(t, "debugfs", "-R", "cat "+path, img)
}

// Stat returns debugfs's description of a guest path (mode, owner, type).
func Stat(t testing.TB, img, path string) string {
	t.Helper()
	return testimage.Run(t, "debugfs", "-R", "stat "+path, img)
}
