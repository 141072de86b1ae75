package parttable

import (
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"strings"
	"unicode/utf16"
	"unicode/utf8"
)

// Partition is one entry of a partition table.
type Partition struct {
	Number       int   // as the kernel numbers it: GPT entry index + 1, MBR 1-4, logical from 5
	Offset, Size int64 // bytes of the disk the partition spans
	// UUID is the PARTUUID: the GPT unique partition GUID in lower-case
	// canonical form, or for MBR the disk signature and number,
	// "1234abcd-02".
	UUID string
	// Name is the GPT partition name (PARTLABEL), "" for MBR or when it
	// is not valid UTF-16.
	Name string
}

// Table is a parsed partition table.
type Table struct {
	Kind       string // "gpt" or "mbr"
	Partitions []Partition
}

// Partition-table limits: beyond them a table is refused, not followed.
const (
	maxGPTEntries   = 1024
	maxLogicalParts = 128
)

// ErrMalformed is wrapped by every refusal of a table.
var ErrMalformed = errors.New("malformed partition table")

// Read parses the GPT or MBR partition table of a disk of size bytes. It
// returns an empty table and no error for a disk without a boot
// signature. A vfat boot sector carries the same signature, so callers
// that accept a whole-disk filesystem probe for it first.
func Read(r io.ReaderAt, size int64) (Table, error) {
	mbr := make([]byte, 512)
	if n, _ := r.ReadAt(mbr, 0); n < 512 || mbr[510] != 0x55 || mbr[511] != 0xAA {
		return Table{}, nil
	}
	var entries [4][16]byte
	for i := range entries {
		copy(entries[i][:], mbr[446+16*i:])
	}
	for _, e := range entries {
		if e[4] == 0xEE {
			parts, err := readGPT(r, size)
			return Table{Kind: "gpt", Partitions: parts}, err
		}
	}
	parts, err := readMBR(r, size, binary.LittleEndian.Uint32(mbr[440:]), entries)
	return Table{Kind: "mbr", Partitions: parts}, err
}

func mbrUUID(signature uint32, number int) string {
	return fmt.Sprintf("%08x-%02x", signature, number)
}

func readMBR(r io.ReaderAt, size int64, signature uint32, entries [4][16]byte) ([]Partition, error) {
	le := binary.LittleEndian
	var parts []Partition
	for i, e := range entries {
		if e[0] != 0 && e[0] != 0x80 {
			return nil, fmt.Errorf("%w: MBR entry %d: bad boot flag %#x", ErrMalformed, i+1, e[0])
		}
		typ := e[4]
		start, count := int64(le.Uint32(e[8:]))*512, int64(le.Uint32(e[12:]))*512
		if typ == 0 || count == 0 {
			continue
		}
		if start <= 0 || start+count > size {
			return nil, fmt.Errorf("%w: MBR entry %d lies outside the disk", ErrMalformed, i+1)
		}
		switch typ {
		case 0x05, 0x0F, 0x85: // extended: a chain of logical partitions
			logical, err := readLogical(r, size, start, count, signature)
			if err != nil {
				return nil, err
			}
			parts = append(parts, logical...)
		default:
			parts = append(parts, Partition{Number: i + 1, Offset: start, Size: count, UUID: mbrUUID(signature, i+1)})
		}
	}
	return parts, nil
}

// readLogical follows the chain of extended boot records in the extended
// partition at [base, base+extSize), numbering partitions from 5.
func readLogical(r io.ReaderAt, size, base, extSize int64, signature uint32) ([]Partition, error) {
	le := binary.LittleEndian
	var parts []Partition
	ebr := make([]byte, 512)
	next := int64(0)
	for n := 0; ; n++ {
		if n == maxLogicalParts {
			return nil, fmt.Errorf("%w: more than %d logical partitions", ErrMalformed, maxLogicalParts)
		}
		at := base + next
		if nr, _ := r.ReadAt(ebr, at); nr < 512 || ebr[510] != 0x55 || ebr[511] != 0xAA {
			return nil, fmt.Errorf("%w: no extended boot record at %d", ErrMalformed, at)
		}
		cur, link := ebr[446:462], ebr[462:478]
		if cur[4] != 0 && le.Uint32(cur[12:]) != 0 {
			start := at + int64(le.Uint32(cur[8:]))*512
			count := int64(le.Uint32(cur[12:])) * 512
			if start <= at || start+count > base+extSize || start+count > size {
				return nil, fmt.Errorf("%w: logical partition %d lies outside its extended partition", ErrMalformed, 5+n)
			}
			parts = append(parts, Partition{Number: 5 + n, Offset: start, Size: count, UUID: mbrUUID(signature, 5+n)})
		}
		if link[4] == 0 || le.Uint32(link[12:]) == 0 {
			return parts, nil
		}
		following := int64(le.Uint32(link[8:])) * 512
		// Links only point forward, so the chain ends.
		if following <= next || following >= extSize {
			return nil, fmt.Errorf("%w: extended boot record chain does not move forward", ErrMalformed)
		}
		next = following
	}
}

func readGPT(r io.ReaderAt, size int64) ([]Partition, error) {
	le := binary.LittleEndian
	hdr := make([]byte, 512)
	if n, _ := r.ReadAt(hdr, 512); n < 512 || string(hdr[:8]) != "EFI PART" {
		return nil, fmt.Errorf("%w: protective MBR without a GPT header", ErrMalformed)
	}
	hdrSize := le.Uint32(hdr[12:])
	if hdrSize < 92 || hdrSize > 512 {
		return nil, fmt.Errorf("%w: GPT header size %d", ErrMalformed, hdrSize)
	}
	sum := le.Uint32(hdr[16:])
	check := append([]byte(nil), hdr[:hdrSize]...)
	clear(check[16:20])
	if crc32.ChecksumIEEE(check) != sum {
		return nil, fmt.Errorf("%w: GPT header checksum mismatch", ErrMalformed)
	}
	entriesLBA, count, entrySize := le.Uint64(hdr[72:]), le.Uint32(hdr[80:]), le.Uint32(hdr[84:])
	if count > maxGPTEntries || entrySize < 128 || entrySize > 4096 || entrySize%8 != 0 {
		return nil, fmt.Errorf("%w: GPT with %d entries of %d bytes", ErrMalformed, count, entrySize)
	}
	tableSize := int64(count) * int64(entrySize)
	if entriesLBA < 2 || entriesLBA > uint64(size/512) || int64(entriesLBA)*512+tableSize > size {
		return nil, fmt.Errorf("%w: GPT entries outside the disk", ErrMalformed)
	}
	table := make([]byte, tableSize)
	if n, _ := r.ReadAt(table, int64(entriesLBA)*512); int64(n) < tableSize {
		return nil, fmt.Errorf("%w: GPT entries truncated", ErrMalformed)
	}
	if crc32.ChecksumIEEE(table) != le.Uint32(hdr[88:]) {
		return nil, fmt.Errorf("%w: GPT entries checksum mismatch", ErrMalformed)
	}
	var parts []Partition
	for i := range int(count) {
		e := table[i*int(entrySize):]
		if isZero(e[:16]) { // unused entry: no partition type
			continue
		}
		first, last := le.Uint64(e[32:]), le.Uint64(e[40:])
		if first == 0 || last < first || last >= uint64(size/512) {
			return nil, fmt.Errorf("%w: GPT entry %d lies outside the disk", ErrMalformed, i+1)
		}
		parts = append(parts, Partition{
			Number: i + 1, Offset: int64(first) * 512, Size: int64(last-first+1) * 512,
			UUID: guidString(e[16:32]), Name: gptName(e[56:128]),
		})
	}
	return parts, nil
}

// guidString formats a GPT GUID, whose first three fields are stored
// little-endian, in canonical lower-case form; "" for the nil GUID.
func guidString(b []byte) string {
	if isZero(b[:16]) {
		return ""
	}
	le, be := binary.LittleEndian, binary.BigEndian
	var c [16]byte
	be.PutUint32(c[0:], le.Uint32(b[0:]))
	be.PutUint16(c[4:], le.Uint16(b[4:]))
	be.PutUint16(c[6:], le.Uint16(b[6:]))
	copy(c[8:], b[8:16])
	h := hex.EncodeToString(c[:])
	return h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:32]
}

// gptName decodes the 36 UTF-16LE code units of a partition name, up to
// the first NUL; "" when it is not valid or holds control characters.
func gptName(b []byte) string {
	units := make([]uint16, 0, 36)
	for i := 0; i+1 < len(b) && i < 72; i += 2 {
		u := binary.LittleEndian.Uint16(b[i:])
		if u == 0 {
			break
		}
		units = append(units, u)
	}
	s := string(utf16.Decode(units))
	if !utf8.ValidString(s) || strings.ContainsRune(s, utf8.RuneError) || strings.ContainsFunc(s, func(r rune) bool { return r < 0x20 || r == 0x7f }) {
		return ""
	}
	return s
}

func isZero(b []byte) bool {
	for _, c := range b {
		if c != 0 {
			return false
		}
	}
	return true
}
