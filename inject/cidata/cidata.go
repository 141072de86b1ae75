package cidata

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	"github.com/diskfs/go-diskfs/backend/file"
	"github.com/diskfs/go-diskfs/filesystem/fat32"
	"github.com/diskfs/go-diskfs/filesystem/iso9660"

	"github.com/guestinject/guestinject/inject"
)

// Label is the volume label cloud-init's NoCloud datasource looks for.
const Label = "cidata"

// Filesystem is the filesystem of a seed volume.
type Filesystem string

// Filesystems, named as cloud-localds --filesystem names them.
const (
	// ISO9660 is ISO 9660 with Rock Ridge and Joliet names, for a CD-ROM
	// or a disk; the default.
	ISO9660 Filesystem = "iso9660"
	// VFAT is FAT32 with long file names, for a disk. FAT32 needs at
	// least 65525 clusters, so the volume is VFATSize bytes (a sparse
	// file; about half a megabyte is written).
	VFAT Filesystem = "vfat"
)

// VFATSize is the size of a VFAT seed volume: the smallest FAT32 that
// holds the largest seed inject.CloudInitSeed.Validate accepts.
const VFATSize = 40 << 20

// isoBlock is the ISO 9660 logical block size.
const isoBlock = 2048

// Options are the settings of Write.
type Options struct {
	// Filesystem is ISO9660 (the default when empty) or VFAT.
	Filesystem Filesystem
	// ModTime is the time recorded for the files and, on ISO 9660, for
	// the volume; zero means the current time. Set it for reproducible
	// ISO 9660 output.
	ModTime time.Time
}

// ErrInvalidOptions is wrapped by the errors about Options.
var ErrInvalidOptions = errors.New("invalid seed volume options")

// Write validates seed and writes it as a cidata volume to a new file at
// name, which must not exist. When anything fails, the file is removed.
// Errors about the seed wrap inject.ErrInvalidSpec; errors about the
// output are *fs.PathError values.
func Write(ctx context.Context, name string, seed inject.CloudInitSeed, opts Options) (err error) {
	if opts.Filesystem == "" {
		opts.Filesystem = ISO9660
	}
	if opts.Filesystem != ISO9660 && opts.Filesystem != VFAT {
		return fmt.Errorf("cidata: %w: filesystem %q is neither %s nor %s", ErrInvalidOptions, opts.Filesystem, ISO9660, VFAT)
	}
	if err := seed.Validate(); err != nil {
		return fmt.Errorf("cidata: %w", err)
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	mtime := opts.ModTime
	if mtime.IsZero() {
		mtime = time.Now()
	}
	mtime = mtime.UTC().Truncate(time.Second)
	out, err := os.OpenFile(name, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o644)
	if err != nil {
		return err
	}
	defer func() {
		if cerr := out.Close(); err == nil && cerr != nil {
			err = cerr
		}
		if err != nil {
			os.Remove(name)
		}
	}()
	switch opts.Filesystem {
	case ISO9660:
		err = writeISO(ctx, out, seed.Files(), mtime)
	case VFAT:
		err = writeVFAT(ctx, out, seed.Files())
	}
	if err != nil {
		return &fs.PathError{Op: "cidata", Path: name, Err: err}
	}
	if err := out.Sync(); err != nil {
		return err
	}
	return ctx.Err()
}

// writeISO builds the volume from a private workspace directory, as
// go-diskfs takes its input, then sets the volume descriptors' dates and
// the Rock Ridge times to mtime.
func writeISO(ctx context.Context, out *os.File, files []inject.SeedFile, mtime time.Time) error {
	ws, err := os.MkdirTemp("", "guestinject-cidata-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(ws)
	for _, f := range files {
		p := filepath.Join(ws, f.Name)
		if err := os.WriteFile(p, f.Data, 0o600); err != nil {
			return err
		}
		if err := os.Chtimes(p, mtime, mtime); err != nil {
			return err
		}
	}
	if err := os.Chmod(ws, 0o755); err != nil {
		return err
	}
	if err := os.Chtimes(ws, mtime, mtime); err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	iso, err := iso9660.Create(file.New(out, false), 0, 0, isoBlock, ws)
	if err != nil {
		return err
	}
	if err := iso.Finalize(iso9660.FinalizeOptions{RockRidge: true, Joliet: true, VolumeIdentifier: Label}); err != nil {
		return err
	}
	if err := setVolumeDates(out, mtime); err != nil {
		return err
	}
	if err := setRockRidgeTimes(out, mtime); err != nil {
		return err
	}
	return padToVolumeSize(out)
}

// padToVolumeSize extends the file to the volume space size its primary
// volume descriptor declares: go-diskfs stops after the last byte of the
// last file, and a device shorter than its volume is truncated.
func padToVolumeSize(out *os.File) error {
	var size [4]byte
	if _, err := out.ReadAt(size[:], vdFirst*isoBlock+vdVolumeSpaceSize); err != nil {
		return err
	}
	want := int64(binary.LittleEndian.Uint32(size[:])) * isoBlock
	info, err := out.Stat()
	if err != nil {
		return err
	}
	if info.Size() > want {
		return fmt.Errorf("%d bytes written for a volume of %d", info.Size(), want)
	}
	return out.Truncate(want)
}

// Offsets in a primary or supplementary volume descriptor (ECMA-119 8.4):
// the volume space size, and the creation, modification, expiration and
// effective dates (8.4.26-8.4.29), 17 bytes each.
const (
	vdVolumeSpaceSize = 80 // 8.4.8, both-endian: the little-endian half
	vdCreation        = 813
	vdExpiration      = 847
	vdEffective       = 864
	vdDateLen         = 17
	vdFirst           = 16 // sector of the first volume descriptor
	vdMax             = 8  // descriptors read before giving up on a terminator
)

// setVolumeDates writes mtime as the creation, modification and effective
// dates of every primary and supplementary volume descriptor, and leaves
// the expiration date unspecified: go-diskfs records the time of writing
// for all four, which makes the volume expire as it is made and its output
// differ from run to run.
func setVolumeDates(out *os.File, mtime time.Time) error {
	date := []byte(mtime.Format("20060102150405") + "00\x00")
	never := []byte("0000000000000000\x00")
	for i := range vdMax {
		vd := make([]byte, isoBlock)
		off := int64(vdFirst+i) * isoBlock
		if _, err := out.ReadAt(vd, off); err != nil {
			return err
		}
		if string(vd[1:6]) != "CD001" {
			return errors.New("volume descriptor set is malformed")
		}
		switch vd[0] {
		case 255:
			return nil
		case 1, 2:
			copy(vd[vdCreation:], date)
			copy(vd[vdCreation+vdDateLen:], date)
			copy(vd[vdExpiration:], never)
			copy(vd[vdEffective:], date)
			if _, err := out.WriteAt(vd, off); err != nil {
				return err
			}
		}
	}
	return errors.New("no volume descriptor set terminator")
}

// writeVFAT makes a FAT32 of VFATSize bytes and copies the files in.
func writeVFAT(ctx context.Context, out *os.File, files []inject.SeedFile) error {
	if err := out.Truncate(VFATSize); err != nil {
		return err
	}
	vol, err := fat32.Create(file.New(out, false), VFATSize, 0, 512, Label, true)
	if err != nil {
		return err
	}
	for _, f := range files {
		if err := ctx.Err(); err != nil {
			return err
		}
		w, err := vol.OpenFile("/"+f.Name, os.O_CREATE|os.O_RDWR)
		if err != nil {
			return err
		}
		if _, err := w.Write(f.Data); err != nil {
			w.Close()
			return err
		}
		if err := w.Close(); err != nil {
			return err
		}
	}
	return nil
}
