package imagecheck

import (
	"bytes"
	"context"
	"encoding/hex"
	"hash/crc32"
	"math"
	"math/bits"
	"strings"
)

const (
	vhdxHeader1Offset     = 64 << 10
	vhdxHeader2Offset     = 128 << 10
	vhdxHeaderSize        = 4 << 10
	vhdxRegionTableOffset = 192 << 10
	vhdxRegionTableSize   = 64 << 10
	vhdxMetadataTableMax  = 64 << 10
	vhdxMaxEntries        = 2047
	vhdxLogMinSize        = 1 << 20
	vhdxMaxBATBytes       = 128 << 20

	vhdxBATStateMask      = 7
	vhdxBATOffsetMask     = 0xfffffffffff00000
	vhdxBlockFullyPresent = 6

	vhdxBlockUndefined4       = 4
	vhdxBlockPartiallyPresent = 7
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// msGUID encodes a GUID the way VHDX stores it: the first three fields
// little-endian, the rest as written.
func msGUID(s string) [16]byte {
	b, err := hex.DecodeString(strings.ReplaceAll(s, "-", ""))
	if err != nil || len(b) != 16 {
		panic("bad GUID " + s)
	}
	var g [16]byte
	g[0], g[1], g[2], g[3] = b[3], b[2], b[1], b[0]
	g[4], g[5], g[6], g[7] = b[5], b[4], b[7], b[6]
	copy(g[8:], b[8:])
	return g
}

var (
	vhdxRegionBAT      = msGUID("2DC27766-F623-4200-9D64-115E9BFD4A08")
	vhdxRegionMetadata = msGUID("8B7CA206-4790-4B9A-B8FE-575F050F886E")

	vhdxFileParameters    = msGUID("CAA16737-FA36-4D43-B3B6-33F0AA44E76B")
	vhdxVirtualDiskSize   = msGUID("2FA54224-CD1B-4876-B211-5DBED83BF4B8")
	vhdxPage83            = msGUID("BECA12AB-B2E6-4523-93EF-C309E000C746")
	vhdxLogicalSector     = msGUID("8141BF1D-A96F-4709-BA47-F233A8FAAB5F")
	vhdxPhysicalSector    = msGUID("CDA348C7-445D-4471-9CC9-E9885251C556")
	vhdxParentLocatorItem = msGUID("A8D35F2D-B30B-454D-ABF7-D3D84834AB0C")
)

// vhdxChecksumOK checks a CRC-32C stored at offset 4 over the whole block.
func vhdxChecksumOK(b []byte) bool {
	want := le.Uint32(b[4:])
	c := bytes.Clone(b)
	clear(c[4:8])
	return crc32.Checksum(c, castagnoli) == want
}

// vhdxRegion is a byte range vhdx_region_register records; QEMU refuses
// regions (and payload blocks) that overlap one already registered.
type vhdxRegion struct{ start, end uint64 }

func vhdxOverlaps(regions []vhdxRegion, start, length uint64) bool {
	end := start + length
	for _, r := range regions {
		if !(start >= r.end || end <= r.start) {
			return true
		}
	}
	return false
}

// vhdxLayout is what vhdx_open learns before it reads the BAT.
type vhdxLayout struct {
	regions              []vhdxRegion
	batOffset, batLength uint64
	blockSize            uint64
	chunkRatio           uint64
	logicalSector        uint64
	// diskSize is the virtual disk size item; size is what QEMU makes of
	// it, in whole sectors.
	diskSize, size uint64
}

// inspectVHDX follows vhdx_open: the newest valid header, the log, the
// region table, the metadata table and the items, then the BAT.
func inspectVHDX(ctx context.Context, src *source, info *Info) error {
	l, err := vhdxParse(ctx, src, info)
	if err != nil || l == nil {
		return err
	}
	return vhdxCheckBAT(ctx, src, info, l)
}

func vhdxParse(ctx context.Context, src *source, info *Info) (*vhdxLayout, error) {
	const f = VHDX
	if src.size < vhdxRegionTableOffset+vhdxRegionTableSize {
		info.defect(f, ReasonTruncated, "file is %d bytes, VHDX headers need %d", src.size, vhdxRegionTableOffset+vhdxRegionTableSize)
		return nil, nil
	}
	// vhdx_parse_header: of two valid headers the higher sequence number
	// wins; equal numbers are only allowed on identical headers.
	var hdrs [2][]byte
	for i, off := range []int64{vhdxHeader1Offset, vhdxHeader2Offset} {
		h, err := src.readAt(ctx, off, vhdxHeaderSize)
		if err != nil {
			return nil, err
		}
		if string(h[:4]) == "head" && vhdxChecksumOK(h) && le.Uint16(h[66:]) == 1 {
			hdrs[i] = h
		}
	}
	cur := hdrs[0]
	switch {
	case hdrs[0] == nil && hdrs[1] == nil:
		info.defect(f, ReasonCorrupt, "no valid VHDX header")
		return nil, nil
	case hdrs[0] == nil:
		cur = hdrs[1]
	case hdrs[1] == nil:
	case le.Uint64(hdrs[1][8:]) > le.Uint64(hdrs[0][8:]):
		cur = hdrs[1]
	case le.Uint64(hdrs[1][8:]) == le.Uint64(hdrs[0][8:]) && !bytes.Equal(hdrs[0], hdrs[1]):
		info.defect(f, ReasonCorrupt, "two different VHDX headers with sequence number %d", le.Uint64(hdrs[0][8:]))
		return nil, nil
	}
	info.Version = "1"
	logLength, logOffset := uint64(le.Uint32(cur[68:])), le.Uint64(cur[72:])
	l := &vhdxLayout{regions: []vhdxRegion{{logOffset, logOffset + logLength}}}
	// vhdx_parse_log.
	switch {
	case logOffset < vhdxLogMinSize || logOffset%vhdxLogMinSize != 0:
		info.defect(f, ReasonCorrupt, "log offset %#x", logOffset)
		return nil, nil
	case le.Uint16(cur[64:]) != 0:
		info.defect(f, ReasonUnsupportedVersion, "log version %d", le.Uint16(cur[64:]))
		return nil, nil
	case !bytes.Equal(cur[48:64], make([]byte, 16)) && logLength != 0:
		if logLength%vhdxLogMinSize != 0 {
			info.defect(f, ReasonCorrupt, "log length %d", logLength)
			return nil, nil
		}
		// The log may hold entries to replay: QEMU refuses to open such an
		// image read-only and replays it when writable.
		info.Dirty = true
		info.defect(f, ReasonDirty, "log GUID set: the log may need replay")
	}

	rt, err := src.readAt(ctx, vhdxRegionTableOffset, vhdxRegionTableSize)
	if err != nil {
		return nil, err
	}
	if string(rt[:4]) != "regi" || !vhdxChecksumOK(rt) {
		info.defect(f, ReasonCorrupt, "invalid region table")
		return nil, nil
	}
	count := le.Uint32(rt[8:])
	if count > vhdxMaxEntries {
		info.defect(f, ReasonCorrupt, "%d region table entries", count)
		return nil, nil
	}
	var metaOffset, metaLength uint64
	haveBAT, haveMeta := false, false
	for i := uint32(0); i < count; i++ {
		e := rt[16+32*i : 16+32*(i+1)]
		off, length, required := le.Uint64(e[16:]), uint64(le.Uint32(e[24:])), le.Uint32(e[28:])&1 != 0
		if vhdxOverlaps(l.regions, off, length) {
			info.defect(f, ReasonCorrupt, "region %d (%d bytes at %#x) overlaps another", i, length, off)
			return nil, nil
		}
		l.regions = append(l.regions, vhdxRegion{off, off + length})
		if off%(1<<20) != 0 || length%(1<<20) != 0 || length == 0 {
			info.defect(f, ReasonCorrupt, "region %d misaligned", i)
		}
		switch [16]byte(e[:16]) {
		case vhdxRegionBAT:
			if haveBAT {
				info.defect(f, ReasonCorrupt, "two BAT regions")
				return nil, nil
			}
			haveBAT, l.batOffset, l.batLength = true, off, length
		case vhdxRegionMetadata:
			if haveMeta {
				info.defect(f, ReasonCorrupt, "two metadata regions")
				return nil, nil
			}
			haveMeta, metaOffset, metaLength = true, off, length
		default:
			if required {
				info.defect(f, ReasonUnknownFeature, "unknown required region %x", e[:16])
				return nil, nil
			}
		}
	}
	if !haveBAT || !haveMeta {
		info.defect(f, ReasonCorrupt, "BAT or metadata region missing")
		return nil, nil
	}
	if metaOffset > uint64(src.size) || uint64(src.size)-metaOffset < 32 {
		info.defect(f, ReasonTruncated, "metadata region at %d beyond the file", metaOffset)
		return nil, nil
	}
	mt, err := src.readAt(ctx, int64(metaOffset), 32)
	if err != nil {
		return nil, err
	}
	if string(mt[:8]) != "metadata" {
		info.defect(f, ReasonCorrupt, "invalid metadata table")
		return nil, nil
	}
	n := uint64(le.Uint16(mt[10:]))
	if n > vhdxMaxEntries || 32+32*n > metaLength || metaOffset+32+32*n > uint64(src.size) {
		info.defect(f, ReasonCorrupt, "%d metadata entries", n)
		return nil, nil
	}
	entries, err := src.readAt(ctx, int64(metaOffset)+32, int64(32*n))
	if err != nil {
		return nil, err
	}
	item := func(e []byte, want int64) ([]byte, error) {
		off, length := uint64(le.Uint32(e[16:])), uint64(le.Uint32(e[20:]))
		if off < vhdxMetadataTableMax || off+length > metaLength || int64(length) < want ||
			metaOffset+off+length > uint64(src.size) {
			return nil, nil
		}
		return src.readAt(ctx, int64(metaOffset+off), want)
	}
	var got = map[[16]byte][]byte{}
	for i := uint64(0); i < n; i++ {
		e := entries[32*i : 32*(i+1)]
		id := [16]byte(e[:16])
		required := le.Uint32(e[24:])&4 != 0
		var want int64
		switch id {
		case vhdxFileParameters, vhdxVirtualDiskSize:
			want = 8
		case vhdxLogicalSector, vhdxPhysicalSector:
			want = 4
		case vhdxPage83:
			want = 16
		case vhdxParentLocatorItem:
			info.defect(f, ReasonBackingFile, "parent locator metadata item")
			continue
		default:
			if required {
				info.defect(f, ReasonUnknownFeature, "unknown required metadata item %x", id)
			}
			continue
		}
		if _, dup := got[id]; dup {
			info.defect(f, ReasonCorrupt, "duplicate metadata item %x", id)
			continue
		}
		b, err := item(e, want)
		if err != nil {
			return nil, err
		}
		if b == nil {
			info.defect(f, ReasonCorrupt, "metadata item %x out of bounds", id)
			continue
		}
		got[id] = b
	}
	for _, id := range [][16]byte{vhdxFileParameters, vhdxVirtualDiskSize, vhdxPage83, vhdxLogicalSector, vhdxPhysicalSector} {
		if got[id] == nil {
			info.defect(f, ReasonCorrupt, "required metadata item %x missing", id)
			return nil, nil
		}
	}
	params := got[vhdxFileParameters]
	blockSize := le.Uint32(params)
	info.ClusterSize = int64(blockSize)
	if le.Uint32(params[4:])&2 != 0 {
		info.defect(f, ReasonBackingFile, "has-parent flag set")
	}
	size := le.Uint64(got[vhdxVirtualDiskSize])
	lss, pss := le.Uint32(got[vhdxLogicalSector]), le.Uint32(got[vhdxPhysicalSector])
	switch {
	case blockSize < 1<<20 || blockSize > 256<<20 || blockSize&(blockSize-1) != 0:
		info.defect(f, ReasonCorrupt, "block size %d", blockSize)
		return nil, nil
	case lss != 512:
		// QEMU 7.2 refuses 4096-byte logical sectors (ENOTSUP).
		info.defect(f, ReasonUnsupportedVersion, "logical sector size %d", lss)
		return nil, nil
	case pss != 512 && pss != 4096:
		info.defect(f, ReasonCorrupt, "physical sector size %d", pss)
		return nil, nil
	case size > 64<<40:
		info.addSize(int64(min(size, 1<<62)))
		info.defect(f, ReasonTooLarge, "virtual disk size %d above the VHDX maximum", size)
		return nil, nil
	}
	// QEMU counts whole sectors.
	info.VirtualSize = int64(size &^ 511)
	info.addSize(int64(size))
	if len(info.Defects) > 0 {
		return nil, nil
	}
	l.blockSize, l.logicalSector, l.diskSize, l.size = uint64(blockSize), uint64(lss), size, uint64(info.VirtualSize)
	l.chunkRatio = (1 << 23) * l.logicalSector / l.blockSize
	return l, nil
}

// vhdxBATEntries is vhdx_calc_bat_entries for an image without a parent,
// in QEMU's 32-bit arithmetic.
func vhdxBATEntries(l *vhdxLayout) uint32 {
	data := uint32((l.diskSize + l.blockSize - 1) / l.blockSize)
	return data + (data-1)>>bits.TrailingZeros64(l.chunkRatio)
}

// vhdxCheckBAT follows the end of vhdx_open: the BAT region must hold every
// entry, and every fully present payload block must lie inside the file,
// clear of the log and the regions (vhdx_check_bat_entries).
func vhdxCheckBAT(ctx context.Context, src *source, info *Info, l *vhdxLayout) error {
	const f = VHDX
	entries := uint64(vhdxBATEntries(l))
	if entries > l.batLength/8 {
		info.defect(f, ReasonCorrupt, "BAT region of %d bytes cannot hold %d entries", l.batLength, entries)
		return nil
	}
	if l.batLength > vhdxMaxBATBytes {
		// QEMU allocates and reads the whole region when it opens the image.
		info.defect(f, ReasonCorrupt, "BAT region of %d bytes above %d", l.batLength, vhdxMaxBATBytes)
		return nil
	}
	bat, err := readTable(ctx, src, int64(l.batOffset), int64(entries*8))
	if err != nil {
		return err
	}
	fileSize := uint64(roundUp512(src.size))
	payblocks := l.chunkRatio
	for i := uint64(0); i < entries; i++ {
		e := le.Uint64(bat[8*i:])
		state := e & vhdxBATStateMask
		if (i+1)%(l.chunkRatio+1) != 0 && (state == vhdxBlockUndefined4 || state == vhdxBlockPartiallyPresent) {
			// Reads of such a payload block fail: without a parent QEMU
			// knows no partially present blocks, and 4 is no state at all.
			info.defect(f, ReasonCorrupt, "BAT entry %d: payload block state %d", i, state)
			return nil
		}
		if state != vhdxBlockFullyPresent {
			continue
		}
		off := e & vhdxBATOffsetMask
		length := min(l.blockSize, l.size-i*l.blockSize)
		switch {
		case off > math.MaxInt64-l.blockSize, off >= fileSize, off+length > fileSize:
			info.defect(f, ReasonTruncated, "BAT entry %d: block at %#x beyond the end of the file", i, off)
			return nil
		}
		if payblocks > 0 {
			payblocks--
			if vhdxOverlaps(l.regions, off, l.blockSize) {
				info.defect(f, ReasonCorrupt, "BAT entry %d: block at %#x overlaps the log or a region", i, off)
				return nil
			}
		} else {
			payblocks = l.chunkRatio
		}
	}
	return nil
}

// vhdxGuestData reports whether want lies in fully present payload blocks,
// the only file bytes a VHDX without a parent hands to the guest.
func vhdxGuestData(ctx context.Context, src *source, want span) (bool, error) {
	if want.off < 1<<20 {
		// The header section: file identifier, headers, region tables.
		return false, nil
	}
	l, err := vhdxParse(ctx, src, &Info{})
	if err != nil || l == nil {
		return false, err
	}
	entries := uint64(vhdxBATEntries(l))
	bat, err := readTable(ctx, src, int64(l.batOffset), int64(entries*8))
	if err != nil {
		return false, err
	}
	var cover coverage
	for i := uint64(0); i < entries; i++ {
		if (i+1)%(l.chunkRatio+1) == 0 {
			continue // a sector bitmap block
		}
		e := le.Uint64(bat[8*i:])
		if e&vhdxBATStateMask != vhdxBlockFullyPresent {
			continue
		}
		guest := (i - i/(l.chunkRatio+1)) * l.blockSize
		off := int64(e & vhdxBATOffsetMask)
		if n := int64(min(l.blockSize, l.size-min(l.size, guest))); n > 0 {
			cover.add(span{off, off + n})
		}
	}
	for _, r := range l.regions {
		if (span{int64(min(r.start, 1<<62)), int64(min(r.end, 1<<62))}).overlaps(want) {
			return false, nil
		}
	}
	return cover.covers(want), nil
}
