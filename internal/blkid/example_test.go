package blkid_test

import (
	"bytes"
	"fmt"

	"github.com/guestinject/guestinject/internal/blkid"
)

func ExampleProbe() {
	// A volume with just an XFS superblock (4 KiB blocks, label "root").
	vol := make([]byte, 4096)
	copy(vol, "XFSB\x00\x00\x10\x00")
	copy(vol[108:], "root")
	info, err := blkid.Probe(bytes.NewReader(vol))
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(info.Type, info.Label, info.Type.MountType())
	// Output: xfs root xfs
}
