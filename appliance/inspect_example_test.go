package appliance_test

import (
	"context"
	"errors"
	"fmt"
	"log"

	"github.com/guestinject/guestinject/appliance"
	"github.com/guestinject/guestinject/vfs"
)

// Log what the appliance found: the operating system, each filesystem and
// where it is mounted, and why any fstab line was skipped.
func ExampleSession_Inspection() {
	ctx := context.Background()
	s, err := appliance.Open(ctx, []vfs.Disk{{Path: "/var/lib/images/guest.raw", Format: "raw"}})
	if err != nil {
		log.Fatal(err)
	}
	defer s.Close()
	in := s.Inspection()
	fmt.Println("os:", in.OS.PrettyName, "root:", in.Root.Device)
	for _, f := range in.Filesystems {
		fmt.Println(f, f.MountPoint, f.Note)
	}
	for _, e := range in.Fstab {
		if !e.Mounted {
			fmt.Printf("fstab line %d (%s on %s) skipped: %s\n", e.Line, e.Source, e.MountPoint, e.Note)
		}
	}
}

// A disk with two operating systems: the appliance refuses to guess, and
// the caller names the root by filesystem label.
func ExampleWithRoot() {
	ctx := context.Background()
	disks := []vfs.Disk{{Path: "/var/lib/images/dual.raw", Format: "raw"}}
	s, err := appliance.Open(ctx, disks)
	var re *appliance.RootError
	if errors.Is(err, vfs.ErrAmbiguousRoot) && errors.As(err, &re) {
		for _, c := range re.Candidates {
			fmt.Println("candidate:", c)
		}
		s, err = appliance.Open(ctx, disks, appliance.WithRoot(vfs.Root{Label: "root-b"}))
	}
	if err != nil {
		log.Fatal(err)
	}
	defer s.Close()
	fmt.Println(s.Inspection().OS.PrettyName)
}
