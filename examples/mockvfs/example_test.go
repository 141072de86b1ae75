package mockvfs_test

import (
	"context"
	"fmt"
	"io/fs"

	"github.com/guestinject/guestinject/examples/mockvfs"
	"github.com/guestinject/guestinject/vfs"
	"github.com/guestinject/guestinject/vfs/memfs"
)

const deployKey = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl deploy"

// newGuest is a tiny guest with a deploy user, in memory.
func newGuest() *memfs.FS {
	g := memfs.New()
	for _, n := range []memfs.Node{
		{Path: "/etc", Mode: fs.ModeDir | 0o755},
		{Path: "/etc/passwd", Mode: 0o644, Data: []byte("root:x:0:0::/root:/bin/sh\ndeploy:x:1000:1000::/home/deploy:/bin/sh\n")},
		{Path: "/etc/group", Mode: 0o644, Data: []byte("root:x:0:\ndeploy:x:1000:\n")},
		{Path: "/etc/hostname", Mode: 0o644, Data: []byte("localhost\n")},
		{Path: "/home", Mode: fs.ModeDir | 0o755},
		{Path: "/home/deploy", Mode: fs.ModeDir | 0o750, UID: 1000, GID: 1000},
	} {
		if err := g.Add(n); err != nil {
			panic(err)
		}
	}
	return g
}

func ExampleBootstrap() {
	ctx := context.Background()
	guest := newGuest()
	for range 2 { // the second run finds the marker and changes nothing
		report, err := mockvfs.Bootstrap(ctx, guest, "web-1", deployKey)
		if err != nil {
			fmt.Println(err)
			return
		}
		fmt.Println(len(report.Changes), "changes")
	}
	marker, _ := vfs.ReadFile(ctx, guest, mockvfs.MarkerPath, 64)
	fmt.Printf("%s", marker)
	// Output:
	// 5 changes
	// 0 changes
	// web-1
}
