package mount

import (
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"

	"github.com/guestinject/guestinject/internal/blkid"
	"github.com/guestinject/guestinject/internal/parttable"
)

// Volume is a whole disk or a partition of the attached image and what its
// superblock says.
type Volume struct {
	Partition int // partition number, 0 for the whole disk
	Info      blkid.Info
	Err       error // why Info is unknown

	offset, size int64 // bytes of the disk the volume spans
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
	s := fmt.Sprintf("%s (%s", where, v.Info.Type)
	if v.Info.Label != "" {
		s += fmt.Sprintf(" %q", v.Info.Label)
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
		return v.Err == nil && v.Info.Label == s.label
	case s.uuid != "":
		return v.Err == nil && v.Info.UUID != "" && strings.EqualFold(v.Info.UUID, s.uuid)
	}
	return v.Err == nil && v.Info.Type.IsLinuxRoot()
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
		return Volume{}, &VolumeError{Err: ErrNoFilesystem, Want: s.String(), Volumes: vols}
	case 1:
	default:
		return Volume{}, &VolumeError{Err: ErrAmbiguousFilesystem, Want: s.String(), Volumes: found}
	}
	v := found[0]
	if v.Err != nil || allowedTypes[v.Info.Type] == "" {
		return Volume{}, &VolumeError{Err: ErrFilesystemNotAllowed, Want: s.String(), Volumes: found}
	}
	return v, nil
}

// scanVolumes lists what the disk r of size bytes holds: the whole disk
// when it holds a known filesystem, else the partitions of its partition
// table, each probed for a filesystem.
func scanVolumes(r io.ReaderAt, size int64) ([]Volume, error) {
	whole := Volume{size: size}
	whole.Info, whole.Err = blkid.Probe(io.NewSectionReader(r, 0, size))
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
		vols[i] = Volume{Partition: p.Number, offset: p.Offset, size: p.Size}
		vols[i].Info, vols[i].Err = blkid.Probe(io.NewSectionReader(r, p.Offset, p.Size))
	}
	return vols, nil
}
