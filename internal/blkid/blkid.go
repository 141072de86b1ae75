package blkid

import (
	"bytes"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"strings"
	"unicode/utf8"
)

// MaxProbeBytes is how far into a volume Probe may read.
const MaxProbeBytes = btrfsSuperOffset + 4096

// ErrUnknown means no known signature was found.
var ErrUnknown = errors.New("no known filesystem signature")

// Type names what a volume holds, in the spelling blkid(8) uses.
type Type string

// Types Probe recognises.
const (
	Ext2  Type = "ext2"
	Ext3  Type = "ext3"
	Ext4  Type = "ext4"
	XFS   Type = "xfs"
	Btrfs Type = "btrfs"
	VFAT  Type = "vfat"
	Swap  Type = "swap"
	LVM2  Type = "LVM2_member"
)

// IsLinuxRoot reports whether t is a filesystem a Linux root can live on.
func (t Type) IsLinuxRoot() bool {
	switch t {
	case Ext2, Ext3, Ext4, XFS, Btrfs:
		return true
	}
	return false
}

// MountType is the filesystem type to pass to mount(2), or "" when t is
// not mountable. The ext4 driver serves ext2 and ext3 too.
func (t Type) MountType() string {
	switch t {
	case Ext2, Ext3, Ext4:
		return "ext4"
	case XFS, Btrfs, VFAT:
		return string(t)
	}
	return ""
}

// Info describes what Probe found.
type Info struct {
	Type  Type
	UUID  string // canonical lower-case form, "" when the format has none
	Label string // "" when unset or not valid UTF-8
}

// Probe identifies the content of the volume r. It returns an error
// wrapping ErrUnknown when nothing matches, or the read error when the
// first sector cannot be read. A volume shorter than a signature's offset
// simply does not match it.
func Probe(r io.ReaderAt) (Info, error) {
	first := make([]byte, 4096)
	n, err := r.ReadAt(first, 0)
	if n < 512 {
		if err == nil || err == io.EOF {
			err = io.ErrUnexpectedEOF
		}
		return Info{}, fmt.Errorf("blkid: reading first sector: %w", err)
	}
	first = first[:n]
	for _, p := range probes {
		if info, ok := p(r, first); ok {
			return info, nil
		}
	}
	return Info{}, ErrUnknown
}

type prober func(r io.ReaderAt, first []byte) (Info, bool)

// probes run in order: filesystems with a signature at a fixed deep offset
// first, vfat (whose boot sector signature an MBR shares) last.
var probes = []prober{probeExt, probeXFS, probeBtrfs, probeSwap, probeLVM2, probeVFAT}

// readAt reads exactly len(buf) bytes at off, or reports false.
func readAt(r io.ReaderAt, buf []byte, off int64) bool {
	n, _ := r.ReadAt(buf, off)
	return n == len(buf)
}

func uuidString(b []byte) string {
	if len(b) != 16 || bytes.Equal(b, make([]byte, 16)) {
		return ""
	}
	h := hex.EncodeToString(b)
	return h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:32]
}

// label turns a fixed-size, NUL- or space-padded field into a string.
func label(b []byte) string {
	if i := bytes.IndexByte(b, 0); i >= 0 {
		b = b[:i]
	}
	s := strings.TrimRight(string(b), " ")
	if !utf8.ValidString(s) {
		return ""
	}
	return s
}

// ext2/3/4: a 1 KiB superblock at offset 1024.
const (
	extSuperOffset = 1024
	extMagic       = 0xEF53

	extCompatJournal = 0x0004

	extIncompatJournalDev = 0x0008
	// Feature bits the ext3 driver never knew; any of them makes it ext4.
	extIncompatExt4 = 0x0040 | 0x0080 | 0x0200 | 0x0400 | 0x1000 | 0x8000 | 0x10000 | 0x20000
	extROCompatExt4 = 0x0008 | 0x0010 | 0x0020 | 0x0040 | 0x0100 | 0x0200 | 0x0400 | 0x1000 | 0x2000
)

func probeExt(r io.ReaderAt, first []byte) (Info, bool) {
	sb := make([]byte, 1024)
	if len(first) >= extSuperOffset+1024 {
		copy(sb, first[extSuperOffset:])
	} else if !readAt(r, sb, extSuperOffset) {
		return Info{}, false
	}
	le := binary.LittleEndian
	if le.Uint16(sb[0x38:]) != extMagic {
		return Info{}, false
	}
	// s_log_block_size beyond 64 KiB blocks is not a real superblock.
	if le.Uint32(sb[0x18:]) > 6 {
		return Info{}, false
	}
	compat, incompat, roCompat := le.Uint32(sb[0x5C:]), le.Uint32(sb[0x60:]), le.Uint32(sb[0x64:])
	if incompat&extIncompatJournalDev != 0 {
		return Info{}, false // an external journal, not a filesystem
	}
	t := Ext2
	switch {
	case incompat&extIncompatExt4 != 0 || roCompat&extROCompatExt4 != 0:
		t = Ext4
	case compat&extCompatJournal != 0:
		t = Ext3
	}
	return Info{Type: t, UUID: uuidString(sb[0x68:0x78]), Label: label(sb[0x78:0x88])}, true
}

func probeXFS(_ io.ReaderAt, first []byte) (Info, bool) {
	if len(first) < 512 || string(first[:4]) != "XFSB" {
		return Info{}, false
	}
	be := binary.BigEndian
	// sb_blocksize must be a power of two between 512 B and 64 KiB.
	bs := be.Uint32(first[4:])
	if bs < 512 || bs > 65536 || bs&(bs-1) != 0 {
		return Info{}, false
	}
	return Info{Type: XFS, UUID: uuidString(first[32:48]), Label: label(first[108:120])}, true
}

const btrfsSuperOffset = 64 << 10

func probeBtrfs(r io.ReaderAt, _ []byte) (Info, bool) {
	sb := make([]byte, 0x12B+256)
	if !readAt(r, sb, btrfsSuperOffset) || string(sb[0x40:0x48]) != "_BHRfS_M" {
		return Info{}, false
	}
	return Info{Type: Btrfs, UUID: uuidString(sb[0x20:0x30]), Label: label(sb[0x12B:])}, true
}

// Linux swap: the signature ends the first page; page sizes vary.
func probeSwap(r io.ReaderAt, _ []byte) (Info, bool) {
	for _, page := range []int64{4096, 8192, 16384, 65536} {
		sig := make([]byte, 10)
		if !readAt(r, sig, page-10) {
			return Info{}, false
		}
		if s := string(sig); s == "SWAPSPACE2" || s == "SWAP-SPACE" {
			hdr := make([]byte, 1024+44)
			info := Info{Type: Swap}
			if readAt(r, hdr, 0) {
				info.UUID = uuidString(hdr[1024+12 : 1024+28])
				info.Label = label(hdr[1024+28 : 1024+44])
			}
			return info, true
		}
	}
	return Info{}, false
}

// LVM2 physical volume: a label in one of the first four sectors.
func probeLVM2(_ io.ReaderAt, first []byte) (Info, bool) {
	for sector := 0; sector < 4 && (sector+1)*512 <= len(first); sector++ {
		s := first[sector*512:]
		if string(s[:8]) == "LABELONE" && string(s[24:32]) == "LVM2 001" {
			return Info{Type: LVM2}, true
		}
	}
	return Info{}, false
}

func probeVFAT(_ io.ReaderAt, first []byte) (Info, bool) {
	if len(first) < 512 || first[510] != 0x55 || first[511] != 0xAA {
		return Info{}, false
	}
	le := binary.LittleEndian
	bytesPerSector := le.Uint16(first[11:])
	perCluster := first[13]
	switch bytesPerSector {
	case 512, 1024, 2048, 4096:
	default:
		return Info{}, false
	}
	if perCluster == 0 || perCluster&(perCluster-1) != 0 || first[16] == 0 /* FAT count */ {
		return Info{}, false
	}
	switch {
	case string(first[82:90]) == "FAT32   ":
		return Info{Type: VFAT, UUID: fatSerial(first[67:71]), Label: fatLabel(first[71:82])}, true
	case string(first[54:62]) == "FAT16   " || string(first[54:62]) == "FAT12   ":
		return Info{Type: VFAT, UUID: fatSerial(first[39:43]), Label: fatLabel(first[43:54])}, true
	}
	return Info{}, false
}

func fatSerial(b []byte) string {
	return fmt.Sprintf("%04X-%04X", binary.LittleEndian.Uint16(b[2:]), binary.LittleEndian.Uint16(b))
}

func fatLabel(b []byte) string {
	if l := label(b); l != "NO NAME" {
		return l
	}
	return ""
}
