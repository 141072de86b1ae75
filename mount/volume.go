package mount

import (
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"

	"github.com/guestinject/guestinject/internal/blkid"
	"github.com/guestinject/guestinject/internal/parttable"
	"github.com/guestinject/guestinject/vfs"
)

// Volume is a whole disk or a partition of the attached image and what its
// superblock says.
type Volume struct {
	Partition int    // partition number, 0 for the whole disk
	Type      string // the filesystem type as blkid(8) names it: "ext4", "xfs", "vfat"...
	UUID      string // the filesystem UUID in lower case, "" when it has none
	Label     string // the filesystem label, "" when unset
	Err       error  // why the content is unknown

	fs           blkid.Type
	offset, size int64 // bytes of the disk the volume spans
}

// newVolume is the volume of partition (0: the whole disk) spanning size
// bytes from offset, with what blkid.Probe said of it.
func newVolume(partition int, offset, size int64, info blkid.Info, err error) Volume {
	return Volume{Partition: partition, Type: string(info.Type), UUID: info.UUID, Label: info.Label, Err: err,
		fs: info.Type, offset: offset, size: size}
}

func (v Volume) String() string {
	where := "whole disk"
	if v.Partition > 0 {
		where = "partition " + strconv.Itoa(v.Partition)
	}
	switch {
	case v.Err != nil && errors.Is(v.Err, blkid.ErrUnknown):
		return where + " (unknown content)"
	case v.Err != nil:
		return fmt.Sprintf("%s (%v)", where, v.Err)
	}
	s := fmt.Sprintf("%s (%s", where, v.Type)
	if v.Label != "" {
		s += fmt.Sprintf(" %q", v.Label)
	}
	return s + ")"
}

// allowedTypes is the filesystem allowlist: mounted with the type named
// here, never with a type the kernel guesses.
var allowedTypes = map[blkid.Type]string{
	blkid.Ext2:  "ext4",
	blkid.Ext3:  "ext4",
	blkid.Ext4:  "ext4",
	blkid.XFS:   "xfs",
	blkid.Btrfs: "btrfs",
	blkid.VFAT:  "vfat",
}

// selector says which volume to mount; the zero value means the only one
// with a Linux filesystem.
type selector struct {
	partition   int
	label, uuid string
}

// selectorFor is the selector for r; the host mount opens one image and
// selects by partition, label or UUID.
func selectorFor(r vfs.Root) (selector, error) {
	var set int
	for _, ok := range []bool{r.Volume != nil, r.Label != "", r.UUID != "", r.LV != ""} {
		if ok {
			set++
		}
	}
	switch {
	case set != 1:
		return selector{}, fmt.Errorf("set exactly one of Volume, Label, UUID and LV (%d set)", set)
	case r.LV != "":
		return selector{}, errors.New("the host mount does not activate LVM; name a partition, label or UUID, or use the appliance")
	case r.Label != "":
		return selector{label: r.Label}, nil
	case r.UUID != "":
		return selector{uuid: r.UUID}, nil
	case r.Volume.Disk != 0:
		return selector{}, fmt.Errorf("the host mount opens one image, disk 0, not disk %d", r.Volume.Disk)
	case r.Volume.Partition <= 0:
		return selector{}, errors.New("the host mount selects a partition, label or UUID, not the whole disk (without a Root it mounts the only Linux filesystem)")
	}
	return selector{partition: r.Volume.Partition}, nil
}

// CheckRoot reports whether the host mount can select the filesystem r
// names: it opens one image and selects by partition, label or UUID, not
// by LVM logical volume or whole disk. WithRoot checks the same.
func CheckRoot(r vfs.Root) error {
	_, err := selectorFor(r)
	return err
}

func (s selector) named() bool { return s != selector{} }

func (s selector) String() string {
	switch {
	case s.partition > 0:
		return "partition " + strconv.Itoa(s.partition)
	case s.label != "":
		return fmt.Sprintf("filesystem label %q", s.label)
	case s.uuid != "":
		return "filesystem UUID " + s.uuid
	}
	return "the only Linux filesystem"
}

func (s selector) matches(v Volume) bool {
	switch {
	case s.partition > 0:
		return v.Partition == s.partition
	case s.label != "":
		return v.Err == nil && v.Label == s.label
	case s.uuid != "":
		return v.Err == nil && v.UUID != "" && strings.EqualFold(v.UUID, s.uuid)
	}
	return v.Err == nil && v.fs.IsLinuxRoot()
}

// choose picks the volume sel names and checks its type against the
// allowlist.
func (s selector) choose(vols []Volume) (Volume, error) {
	var found []Volume
	for _, v := range vols {
		if s.matches(v) {
			found = append(found, v)
		}
	}
	switch len(found) {
	case 0:
		err := vfs.ErrNoRoot
		if s.named() {
			err = vfs.ErrRootNotFound
		}
		return Volume{}, &RootError{Err: err, Want: s.String(), Volumes: vols}
	case 1:
	default:
		return Volume{}, &RootError{Err: vfs.ErrAmbiguousRoot, Want: s.String(), Volumes: found}
	}
	v := found[0]
	if v.Err != nil || allowedTypes[v.fs] == "" {
		return Volume{}, &RootError{Err: ErrFilesystemNotAllowed, Want: s.String(), Volumes: found}
	}
	return v, nil
}

// scanVolumes lists what the disk r of size bytes holds: the whole disk
// when it holds a known filesystem, else the partitions of its partition
// table, each probed for a filesystem.
func scanVolumes(r io.ReaderAt, size int64) ([]Volume, error) {
	info, err := blkid.Probe(io.NewSectionReader(r, 0, size))
	whole := newVolume(0, 0, size, info, err)
	if whole.Err == nil {
		return []Volume{whole}, nil
	}
	table, err := parttable.Read(r, size)
	if err != nil {
		return nil, err
	}
	parts := table.Partitions
	if len(parts) == 0 {
		return []Volume{whole}, nil
	}
	vols := make([]Volume, len(parts))
	for i, p := range parts {
		info, err := blkid.Probe(io.NewSectionReader(r, p.Offset, p.Size))
		vols[i] = newVolume(p.Number, p.Offset, p.Size, info, err)
	}
	return vols, nil
}
