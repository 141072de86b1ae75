package cidata

import (
	"encoding/binary"
	"errors"
	"math/bits"
	"os"
	"time"
)

// Offsets in an ECMA-119 directory record (9.1) and in the primary volume
// descriptor (8.4.18: the root directory's record).
const (
	drExtent    = 2  // location of the extent, both-endian: the little-endian half
	drDataLen   = 10 // data length, both-endian: the little-endian half
	drFlags     = 25
	drNameLen   = 32
	drName      = 33
	drIsDir     = 0x02
	vdRootEntry = 156
	// bounds on the walk; a seed volume has one directory of four files
	maxDirBlocks = 64
	maxDirs      = 16
)

// setRockRidgeTimes writes mtime into every Rock Ridge TF entry of the
// primary directory tree. go-diskfs records the workspace files' status
// change times there, which no one can set, so two volumes made from one
// seed would otherwise differ by the second they were made in.
func setRockRidgeTimes(out *os.File, mtime time.Time) error {
	root := make([]byte, 34)
	if _, err := out.ReadAt(root, vdFirst*isoBlock+vdRootEntry); err != nil {
		return err
	}
	pending := []uint32{binary.LittleEndian.Uint32(root[drExtent:]), binary.LittleEndian.Uint32(root[drDataLen:])}
	seen := map[uint32]bool{}
	for len(pending) > 0 {
		extent, size := pending[0], pending[1]
		pending = pending[2:]
		if seen[extent] {
			continue
		}
		if seen[extent] = true; len(seen) > maxDirs || size > maxDirBlocks*isoBlock {
			return errors.New("directory tree is larger than a seed's")
		}
		dir := make([]byte, size)
		if _, err := out.ReadAt(dir, int64(extent)*isoBlock); err != nil {
			return err
		}
		changed := false
		for off := 0; off < len(dir); {
			n := int(dir[off])
			if n == 0 { // records do not cross a block: go on at the next one
				off = (off/isoBlock + 1) * isoBlock
				continue
			}
			if n < drName+1 || off+n > len(dir) {
				return errors.New("directory record is malformed")
			}
			rec := dir[off : off+n]
			nameLen := int(rec[drNameLen])
			sys := drName + nameLen + (nameLen+1)%2 // padded to an even offset
			if sys > n {
				return errors.New("directory record is malformed")
			}
			isSelfOrParent := nameLen == 1 && rec[drName] <= 1
			if rec[drFlags]&drIsDir != 0 && !isSelfOrParent {
				pending = append(pending, binary.LittleEndian.Uint32(rec[drExtent:]), binary.LittleEndian.Uint32(rec[drDataLen:]))
			}
			ok, err := setTimeEntries(out, rec[sys:], mtime, maxDirBlocks)
			if err != nil {
				return err
			}
			changed = changed || ok
			off += n
		}
		if changed {
			if _, err := out.WriteAt(dir, int64(extent)*isoBlock); err != nil {
				return err
			}
		}
	}
	return nil
}

// setTimeEntries rewrites the TF entries of one System Use area (SUSP
// 5.1) and of the continuation areas (CE) it chains to, at most depth of
// them.
func setTimeEntries(out *os.File, area []byte, mtime time.Time, depth int) (changed bool, err error) {
	for off := 0; off+4 <= len(area); {
		sig, n := string(area[off:off+2]), int(area[off+2])
		if n < 4 || off+n > len(area) {
			return false, errors.New("system use entry is malformed")
		}
		entry := area[off : off+n]
		off += n
		switch sig {
		case "TF":
			if err := setTimeEntry(entry, mtime); err != nil {
				return false, err
			}
			changed = true
		case "CE":
			if n < 28 || depth == 0 {
				return false, errors.New("continuation entry is malformed")
			}
			block := binary.LittleEndian.Uint32(entry[4:])
			offset := binary.LittleEndian.Uint32(entry[12:])
			length := binary.LittleEndian.Uint32(entry[20:])
			if length > isoBlock || offset > isoBlock-length {
				return false, errors.New("continuation area is malformed")
			}
			next := make([]byte, length)
			at := int64(block)*isoBlock + int64(offset)
			if _, err := out.ReadAt(next, at); err != nil {
				return false, err
			}
			ok, err := setTimeEntries(out, next, mtime, depth-1)
			if err != nil {
				return false, err
			}
			if ok {
				if _, err := out.WriteAt(next, at); err != nil {
					return false, err
				}
			}
		case "ST":
			return changed, nil
		}
	}
	return changed, nil
}

// setTimeEntry sets every time a TF entry (RRIP 4.1.6) records; bit 7 of
// its flags says whether they take ECMA-119's 17-byte form or the 7-byte
// one of directory records (9.1.5).
func setTimeEntry(entry []byte, mtime time.Time) error {
	if len(entry) < 5 {
		return errors.New("TF entry is malformed")
	}
	flags := entry[4]
	t := mtime.UTC()
	stamp := []byte{byte(t.Year() - 1900), byte(t.Month()), byte(t.Day()), byte(t.Hour()), byte(t.Minute()), byte(t.Second()), 0}
	if flags&0x80 != 0 {
		stamp = []byte(t.Format("20060102150405") + "00\x00")
	}
	count := bits.OnesCount8(flags & 0x7f)
	if 5+count*len(stamp) > len(entry) {
		return errors.New("TF entry is malformed")
	}
	for i := range count {
		copy(entry[5+i*len(stamp):], stamp)
	}
	return nil
}
