package memfs_test

import (
	"context"
	"fmt"
	"io/fs"
	"log"
	"strings"

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
