package mount_test

import (
	"context"
	"fmt"
	"log"
	"os"
	"path/filepath"
	"strings"

	"github.com/guestinject/guestinject/imagecheck"
	"github.com/guestinject/guestinject/mount"
	"github.com/guestinject/guestinject/vfs"
)

// A guest tree whose /etc/resolv.conf is an absolute symlink, as in most
// distributions: reads follow it inside the guest root, writes refuse it.
func ExampleOpenDir() {
	dir, err := os.MkdirTemp("", "guest-")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)
	for _, d := range []string{"etc", "run"} {
		if err := os.Mkdir(filepath.Join(dir, d), 0o755); err != nil {
			log.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(dir, "run/resolv.conf"), []byte("nameserver 192.0.2.1\n"), 0o644); err != nil {
		log.Fatal(err)
	}
	if err := os.Symlink("/run/resolv.conf", filepath.Join(dir, "etc/resolv.conf")); err != nil {
		log.Fatal(err)
	}

	ctx := context.Background()
	fsys, err := mount.OpenDir(dir)
	if err != nil {
		log.Fatal(err)
	}
	defer fsys.Close()

	data, err := vfs.ReadFile(ctx, fsys, "/etc/resolv.conf", 4096)
	fmt.Printf("%q %v\n", data, err)

	err = fsys.WriteFile(ctx, "/etc/resolv.conf", strings.NewReader("nameserver 198.51.100.1\n"), vfs.WriteOptions{Perm: 0o644, UID: -1, GID: -1})
	fmt.Println(err)

	err = fsys.MkdirAll(ctx, "/root/.ssh", 0o700)
	fmt.Println(err)
	err = fsys.WriteFile(ctx, "/root/.ssh/authorized_keys", strings.NewReader("ssh-ed25519 AAAA user\n"), vfs.WriteOptions{Perm: 0o600, UID: -1, GID: -1})
	info, _ := fsys.Stat(ctx, "/root/.ssh/authorized_keys")
	fmt.Println(err, info.Mode(), info.Size())
	// Output:
	// "nameserver 192.0.2.1\n" <nil>
	// writefile /etc/resolv.conf: is a symlink: the final component is never followed
	// <nil>
	// <nil> -rw------- 22
}

// Injecting an SSH key into a raw image the caller built itself. The image
// stays unchanged unless Commit succeeds.
func ExampleOpenTrusted() {
	ctx := context.Background()
	s, err := mount.OpenTrusted(ctx, vfs.Disk{Path: "/var/lib/images/golden.raw", Format: imagecheck.Raw},
		mount.WithRoot(vfs.Root{Label: "root"}))
	if err != nil {
		log.Fatal(err)
	}
	defer s.Close()
	if err := s.MkdirAll(ctx, "/root/.ssh", 0o700); err != nil {
		log.Fatal(err)
	}
	key := strings.NewReader("ssh-ed25519 AAAA user\n")
	if err := s.WriteFile(ctx, "/root/.ssh/authorized_keys", key, vfs.WriteOptions{Perm: 0o600, UID: 0, GID: 0}); err != nil {
		log.Fatal(err)
	}
	if err := s.Commit(ctx); err != nil {
		log.Fatal(err)
	}
}
