package imagecheck

import (
	"bytes"
	"context"
	"fmt"
	"math"
)

const (
	vhdTypeFixed       = 2
	vhdTypeDynamic     = 3
	vhdTypeDifferecing = 4

	vhdMaxGeometry = 65535 * 16 * 255
	vhdMaxSectors  = 0xff000000
	vhdMaxBATBytes = 64 << 20
	vhdUnallocated = 0xffffffff
)

// vhdChecksum is the one's complement of the byte sum, skipping the
// checksum field itself.
func vhdChecksum(b []byte, field int) uint32 {
	var sum uint32
	for i, c := range b {
		if i >= field && i < field+4 {
			continue
		}
		sum += uint32(c)
	}
	return ^sum
}

// vhdSize computes the virtual size the way vpc_open does: CHS geometry
// unless the creator is known to use current_size, or the geometry is the
// maximum.
func vhdSize(footer []byte) int64 {
	creator := string(footer[28:32])
	chs := int64(be.Uint16(footer[56:])) * int64(footer[58]) * int64(footer[59])
	useCHS := creator != "win " && creator != "qem2" && creator != "d2v " && creator != "CTXS" && creator != "tap\x00"
	if !useCHS || chs == vhdMaxGeometry {
		return int64(be.Uint64(footer[48:])/512) * 512
	}
	return chs * 512
}

func inspectVPC(ctx context.Context, src *source, info *Info) error {
	const f = VPC
	head, err := src.readPadded(ctx, 0, 512)
	if err != nil {
		return err
	}
	var tail []byte
	if src.size >= 512 {
		if tail, err = src.readAt(ctx, src.size-512, 512); err != nil {
			return err
		}
	}
	footer := head
	fixed := false
	if string(head[:8]) != "conectix" {
		// Fixed disks keep their only footer in the last sector.
		footer, fixed = tail, true
		if footer == nil || string(footer[:8]) != "conectix" {
			info.defect(f, ReasonCorrupt, "no VHD footer")
			return nil
		}
		if be.Uint32(footer[60:]) != vhdTypeFixed {
			info.defect(f, ReasonCorrupt, "footer only at the end but disk type %d", be.Uint32(footer[60:]))
		}
	}
	diskType := be.Uint32(footer[60:])
	info.Version = fmt.Sprintf("%d.%d", be.Uint16(footer[12:]), be.Uint16(footer[14:]))
	if sum := vhdChecksum(footer, 64); sum != be.Uint32(footer[64:]) {
		info.defect(f, ReasonCorrupt, "footer checksum %08x, computed %08x", be.Uint32(footer[64:]), sum)
	}
	info.VirtualSize = vhdSize(footer)
	info.addSize(info.VirtualSize)
	info.addSize(int64(min(be.Uint64(footer[48:]), 1<<62)))
	if info.VirtualSize/512 > vhdMaxSectors {
		info.defect(f, ReasonTooLarge, "%d sectors exceed the VHD maximum", info.VirtualSize/512)
	}
	if !fixed && tail != nil && string(tail[:8]) == "conectix" && !bytes.Equal(head, tail) {
		info.addSize(vhdSize(tail))
		info.defect(f, ReasonCorrupt, "the footer copies at the start and end differ")
	}
	switch diskType {
	case vhdTypeFixed:
		info.Features = append(info.Features, "fixed")
		if fixed && info.VirtualSize > src.size-512 {
			info.defect(f, ReasonTruncated, "virtual size %d, data area %d bytes", info.VirtualSize, src.size-512)
		}
		if !fixed {
			info.defect(f, ReasonCorrupt, "fixed disk type with a footer at the start")
		}
		return nil
	case vhdTypeDynamic:
		info.Features = append(info.Features, "dynamic")
	case vhdTypeDifferecing:
		info.defect(f, ReasonBackingFile, "differencing disk")
	default:
		info.defect(f, ReasonUnsupportedVersion, "disk type %d", diskType)
	}
	if fixed {
		return nil
	}
	dataOffset := be.Uint64(footer[16:])
	if dataOffset > uint64(src.size) || src.size-int64(dataOffset) < 1024 {
		info.defect(f, ReasonTruncated, "dynamic disk header at %d", dataOffset)
		return nil
	}
	dyn, err := src.readAt(ctx, int64(dataOffset), 1024)
	if err != nil {
		return err
	}
	if string(dyn[:8]) != "cxsparse" {
		info.defect(f, ReasonCorrupt, "no dynamic disk header at %d", dataOffset)
		return nil
	}
	if sum := vhdChecksum(dyn, 36); sum != be.Uint32(dyn[36:]) {
		info.defect(f, ReasonCorrupt, "dynamic header checksum %08x, computed %08x", be.Uint32(dyn[36:]), sum)
	}
	blockSize := uint64(be.Uint32(dyn[32:]))
	maxEntries := uint64(be.Uint32(dyn[28:]))
	info.ClusterSize = int64(blockSize)
	total := uint64(info.VirtualSize)
	switch {
	case blockSize < 512 || blockSize&(blockSize-1) != 0:
		info.defect(f, ReasonCorrupt, "block size %d", blockSize)
	case total/blockSize > 0xffffffff:
		info.defect(f, ReasonCorrupt, "too many blocks")
	case maxEntries*blockSize < total:
		info.defect(f, ReasonCorrupt, "block table of %d entries cannot map %d bytes", maxEntries, total)
	case maxEntries > math.MaxInt32/4:
		info.defect(f, ReasonCorrupt, "block table of %d entries too large", maxEntries)
	case maxEntries*4 > vhdMaxBATBytes:
		// QEMU allocates and reads the whole table when it opens the image.
		info.defect(f, ReasonCorrupt, "block table of %d entries above %d bytes", maxEntries, vhdMaxBATBytes)
	case be.Uint64(dyn[16:]) > uint64(src.size) || uint64(src.size)-be.Uint64(dyn[16:]) < maxEntries*4:
		info.defect(f, ReasonTruncated, "block table at %d beyond the end of the file", be.Uint64(dyn[16:]))
	}
	if len(info.Defects) == 0 {
		// vpc_open: no allocated block may end past the end of the file.
		batOffset := int64(be.Uint64(dyn[16:]))
		bat, err := readTable(ctx, src, batOffset, int64(maxEntries)*4)
		if err != nil {
			return err
		}
		bitmap := int64(blockSize/(8*512)+511) &^ 511
		free := (batOffset + int64(maxEntries)*4 + 511) &^ 511
		for i := 0; i < len(bat); i += 4 {
			if e := be.Uint32(bat[i:]); e != vhdUnallocated {
				free = max(free, int64(e)*512+bitmap+int64(blockSize))
			}
		}
		if free > roundUp512(src.size) {
			info.defect(f, ReasonTruncated, "allocated blocks end at %d, past the end of the file", free)
		}
	}
	// Parent links: a differencing disk names its parent here.
	if !bytes.Equal(dyn[40:56], make([]byte, 16)) {
		info.defect(f, ReasonBackingFile, "parent UUID set")
	}
	if !bytes.Equal(dyn[64:576], make([]byte, 512)) {
		info.defect(f, ReasonBackingFile, "parent unicode name set")
	}
	for i := 0; i < 8; i++ {
		loc := dyn[576+24*i : 576+24*(i+1)]
		if be.Uint32(loc) != 0 {
			info.defect(f, ReasonBackingFile, "parent locator %d (platform %q)", i, loc[:4])
		}
	}
	return nil
}

// vpcGuestData reports whether want is guest data: below the virtual size
// of a fixed disk, or inside an allocated block of a dynamic one (not its
// sector bitmap), clear of the footers, the dynamic header and the block
// table.
func vpcGuestData(ctx context.Context, src *source, want span) (bool, error) {
	head, err := src.readPadded(ctx, 0, 512)
	if err != nil {
		return false, err
	}
	if string(head[:8]) != "conectix" {
		tail, err := src.readAt(ctx, src.size-512, 512)
		if err != nil {
			return false, err
		}
		return want.end <= min(vhdSize(tail), src.size-512), nil
	}
	size := vhdSize(head)
	dataOffset := int64(min(be.Uint64(head[16:]), 1<<62))
	dyn, err := readTable(ctx, src, dataOffset, 1024)
	if err != nil {
		return false, err
	}
	batOffset := int64(min(be.Uint64(dyn[16:]), 1<<62))
	entries := int64(be.Uint32(dyn[28:]))
	blockSize := int64(be.Uint32(dyn[32:]))
	bitmap := (blockSize/(8*512) + 511) &^ 511
	meta := []span{{0, 512}, {src.size - 512, src.size}, {dataOffset, dataOffset + 1024}, {batOffset, batOffset + (entries*4+511)&^511}}
	for _, m := range meta {
		if m.overlaps(want) {
			return false, nil
		}
	}
	bat, err := readTable(ctx, src, batOffset, entries*4)
	if err != nil {
		return false, err
	}
	var cover coverage
	for i := int64(0); i < entries; i++ {
		e := be.Uint32(bat[4*i:])
		if e == vhdUnallocated {
			continue
		}
		start := int64(e)*512 + bitmap
		if n := min(blockSize, size-i*blockSize); n > 0 {
			cover.add(span{start, start + n})
		}
		if b := int64(e) * 512; (span{b, b + bitmap}).overlaps(want) {
			return false, nil
		}
	}
	return cover.covers(want), nil
}
