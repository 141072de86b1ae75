package memfs_test

import (
	"context"
	"fmt"
	"io/fs"
	"log"
	"strings"
	"time"

	"github.com/guestinject/guestinject/vfs"
	"github.com/guestinject/guestinject/vfs/memfs"
)

// A guest whose /etc/resolv.conf is an absolute symlink and whose /etc/evil
// climbs out with "..": reads stay in the guest root, writes refuse links.
func ExampleFS_Add() {
	ctx := context.Background()
	m := memfs.New()
	for _, n := range []memfs.Node{
		{Path: "/etc", Mode: fs.ModeDir | 0o755},
		{Path: "/run", Mode: fs.ModeDir | 0o755},
		{Path: "/run/resolv.conf", Mode: 0o644, Data: []byte("nameserver 192.0.2.1\n")},
		{Path: "/etc/resolv.conf", Mode: fs.ModeSymlink | 0o777, Target: "/run/resolv.conf"},
		{Path: "/etc/evil", Mode: fs.ModeSymlink | 0o777, Target: "../../../../run/resolv.conf"},
	} {
		if err := m.Add(n); err != nil {
			log.Fatal(err)
		}
	}

	data, err := vfs.ReadFile(ctx, m, "/etc/resolv.conf", 4096)
	fmt.Printf("%q %v\n", data, err)
	data, err = vfs.ReadFile(ctx, m, "/etc/evil", 4096)
	fmt.Printf("%q %v\n", data, err)

	opts := vfs.WriteOptions{Perm: 0o644, UID: -1, GID: -1}
	err = m.WriteFile(ctx, "/etc/resolv.conf", strings.NewReader("nameserver 198.51.100.1\n"), opts)
	fmt.Println(err)

	if err := m.MkdirAll(ctx, "/root/.ssh", 0o700); err != nil {
		log.Fatal(err)
	}
	opts.Perm, opts.Policy = 0o600, vfs.Append
	for _, key := range []string{"ssh-ed25519 AAAA one\n", "ssh-ed25519 BBBB two\n"} {
		if err := m.WriteFile(ctx, "/root/.ssh/authorized_keys", strings.NewReader(key), opts); err != nil {
			log.Fatal(err)
		}
	}
	info, _ := m.Stat(ctx, "/root/.ssh/authorized_keys")
	fmt.Println(info.Mode(), info.Size())
	// Output:
	// "nameserver 192.0.2.1\n" <nil>
	// "nameserver 192.0.2.1\n" <nil>
	// writefile /etc/resolv.conf: is a symlink: the final component is never followed
	// -rw------- 42
}

// Lchtimes sets a symlink's own times, not its target's; a zero time
// leaves that time as it is.
func ExampleFS_Lchtimes() {
	ctx := context.Background()
	m := memfs.New()
	old := time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC)
	for _, n := range []memfs.Node{
		{Path: "/etc", Mode: fs.ModeDir | 0o755, ModTime: old},
		{Path: "/etc/hostname", Mode: 0o644, Data: []byte("guest\n"), ModTime: old},
		{Path: "/etc/name", Mode: fs.ModeSymlink | 0o777, Target: "hostname", ModTime: old},
	} {
		if err := m.Add(n); err != nil {
			log.Fatal(err)
		}
	}
	mtime := time.Date(1999, 12, 31, 23, 59, 59, 500, time.UTC)
	if err := vfs.Lchtimes(ctx, m, "/etc/name", time.Time{}, mtime); err != nil {
		log.Fatal(err)
	}
	for _, name := range []string{"/etc/name", "/etc/hostname"} {
		info, err := m.Lstat(ctx, name)
		if err != nil {
			log.Fatal(err)
		}
		a, _ := vfs.AttrOf(info)
		fmt.Println(name, "mtime", info.ModTime().Format(time.RFC3339Nano), "atime", a.Atime.Format(time.RFC3339Nano))
	}
	// Output:
	// /etc/name mtime 1999-12-31T23:59:59.0000005Z atime 2020-01-01T00:00:00Z
	// /etc/hostname mtime 2020-01-01T00:00:00Z atime 2020-01-01T00:00:00Z
}
