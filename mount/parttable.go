package mount

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
)

// partition is one entry of a partition table, in bytes.
type partition struct {
	Number       int
	Offset, Size int64
}

// Partition-table limits: beyond them a table is refused, not followed.
const (
	maxGPTEntries   = 1024
	maxLogicalParts = 128
)

var errBadPartitionTable = errors.New("malformed partition table")

// readPartitions parses the GPT or MBR partition table of a disk of size
// bytes. It returns no partitions and no error for a disk without a boot
// signature. Callers probe the whole disk for a filesystem first: a vfat
// boot sector carries the same signature. The table is read by this code, not
// the kernel's partition parsers, and every entry must lie inside the
// disk.
func readPartitions(r io.ReaderAt, size int64) ([]partition, error) {
	mbr := make([]byte, 512)
	if n, _ := r.ReadAt(mbr, 0); n < 512 || mbr[510] != 0x55 || mbr[511] != 0xAA {
		return nil, nil
	}
	var entries [4][16]byte
	for i := range entries {
		copy(entries[i][:], mbr[446+16*i:])
	}
	for _, e := range entries {
		if e[4] == 0xEE {
			return readGPT(r, size)
		}
	}
	return readMBR(r, size, entries)
}

func readMBR(r io.ReaderAt, size int64, entries [4][16]byte) ([]partition, error) {
	le := binary.LittleEndian
	var parts []partition
	for i, e := range entries {
		if e[0] != 0 && e[0] != 0x80 {
			return nil, fmt.Errorf("%w: MBR entry %d: bad boot flag %#x", errBadPartitionTable, i+1, e[0])
		}
		typ := e[4]
		start, count := int64(le.Uint32(e[8:]))*512, int64(le.Uint32(e[12:]))*512
		if typ == 0 || count == 0 {
			continue
		}
		if start <= 0 || start+count > size {
			return nil, fmt.Errorf("%w: MBR entry %d lies outside the disk", errBadPartitionTable, i+1)
		}
		switch typ {
		case 0x05, 0x0F, 0x85: // extended: a chain of logical partitions
			logical, err := readLogical(r, size, start, count)
			if err != nil {
				return nil, err
			}
			parts = append(parts, logical...)
		default:
			parts = append(parts, partition{Number: i + 1, Offset: start, Size: count})
		}
	}
	return parts, nil
}

// readLogical follows the chain of extended boot records in the extended
// partition at [base, base+extSize), numbering partitions from 5.
func readLogical(r io.ReaderAt, size, base, extSize int64) ([]partition, error) {
	le := binary.LittleEndian
	var parts []partition
	ebr := make([]byte, 512)
	next := int64(0)
	for n := 0; ; n++ {
		if n == maxLogicalParts {
			return nil, fmt.Errorf("%w: more than %d logical partitions", errBadPartitionTable, maxLogicalParts)
		}
		at := base + next
		if nr, _ := r.ReadAt(ebr, at); nr < 512 || ebr[510] != 0x55 || ebr[511] != 0xAA {
			return nil, fmt.Errorf("%w: no extended boot record at %d", errBadPartitionTable, at)
		}
		cur, link := ebr[446:462], ebr[462:478]
		if cur[4] != 0 && le.Uint32(cur[12:]) != 0 {
			start := at + int64(le.Uint32(cur[8:]))*512
			count := int64(le.Uint32(cur[12:])) * 512
			if start <= at || start+count > base+extSize || start+count > size {
				return nil, fmt.Errorf("%w: logical partition %d lies outside its extended partition", errBadPartitionTable, 5+n)
			}
			parts = append(parts, partition{Number: 5 + n, Offset: start, Size: count})
		}
		if link[4] == 0 || le.Uint32(link[12:]) == 0 {
			return parts, nil
		}
		following := int64(le.Uint32(link[8:])) * 512
		// Links only point forward, so the chain ends.
		if following <= next || following >= extSize {
			return nil, fmt.Errorf("%w: extended boot record chain does not move forward", errBadPartitionTable)
		}
		next = following
	}
}

func readGPT(r io.ReaderAt, size int64) ([]partition, error) {
	le := binary.LittleEndian
	hdr := make([]byte, 512)
	if n, _ := r.ReadAt(hdr, 512); n < 512 || string(hdr[:8]) != "EFI PART" {
		return nil, fmt.Errorf("%w: protective MBR without a GPT header", errBadPartitionTable)
	}
	hdrSize := le.Uint32(hdr[12:])
	if hdrSize < 92 || hdrSize > 512 {
		return nil, fmt.Errorf("%w: GPT header size %d", errBadPartitionTable, hdrSize)
	}
	sum := le.Uint32(hdr[16:])
	check := append([]byte(nil), hdr[:hdrSize]...)
	clear(check[16:20])
	if crc32.ChecksumIEEE(check) != sum {
		return nil, fmt.Errorf("%w: GPT header checksum mismatch", errBadPartitionTable)
	}
	entriesLBA, count, entrySize := le.Uint64(hdr[72:]), le.Uint32(hdr[80:]), le.Uint32(hdr[84:])
	if count > maxGPTEntries || entrySize < 128 || entrySize > 4096 || entrySize%8 != 0 {
		return nil, fmt.Errorf("%w: GPT with %d entries of %d bytes", errBadPartitionTable, count, entrySize)
	}
	tableSize := int64(count) * int64(entrySize)
	if entriesLBA < 2 || entriesLBA > uint64(size/512) || int64(entriesLBA)*512+tableSize > size {
		return nil, fmt.Errorf("%w: GPT entries outside the disk", errBadPartitionTable)
	}
	table := make([]byte, tableSize)
	if n, _ := r.ReadAt(table, int64(entriesLBA)*512); int64(n) < tableSize {
		return nil, fmt.Errorf("%w: GPT entries truncated", errBadPartitionTable)
	}
	if crc32.ChecksumIEEE(table) != le.Uint32(hdr[88:]) {
		return nil, fmt.Errorf("%w: GPT entries checksum mismatch", errBadPartitionTable)
	}
	var parts []partition
	for i := range int(count) {
		e := table[i*int(entrySize):]
		if isZero(e[:16]) { // unused entry: no partition type
			continue
		}
		first, last := le.Uint64(e[32:]), le.Uint64(e[40:])
		if first == 0 || last < first || last >= uint64(size/512) {
			return nil, fmt.Errorf("%w: GPT entry %d lies outside the disk", errBadPartitionTable, i+1)
		}
		parts = append(parts, partition{Number: i + 1, Offset: int64(first) * 512, Size: int64(last-first+1) * 512})
	}
	return parts, nil
}

func isZero(b []byte) bool {
	for _, c := range b {
		if c != 0 {
			return false
		}
	}
	return true
}
