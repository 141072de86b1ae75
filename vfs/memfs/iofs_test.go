package memfs_test

import (
	"testing"
	"testing/fstest"

	"github.com/guestinject/guestinject/vfs"
	"github.com/guestinject/guestinject/vfs/vfstest"
)

// benignLayout suits testing/fstest, which follows links and expects every
// file to open: no dangling links, no special files.
const benignLayout = `
d /etc mode=0755
f /etc/hostname data="guest\n"
f /etc/passwd data="root:x:0:0:root:/root:/bin/sh\n"
l /etc/resolv.conf target=/run/resolv.conf
l /etc/rel target=../run/resolv.conf
d /run
f /run/resolv.conf data="nameserver 192.0.2.1\n"
d /var/empty
f /var/lib/data size=100K data="head"
`

func TestIOFS(t *testing.T) {
	m := fromLayout(t, vfstest.MustParseLayout(benignLayout))
	err := fstest.TestFS(vfs.IOFS(t.Context(), m),
		"etc/hostname", "etc/passwd", "etc/resolv.conf", "etc/rel", "run/resolv.conf", "var/empty", "var/lib/data")
	if err != nil {
		t.Fatal(err)
	}
}
