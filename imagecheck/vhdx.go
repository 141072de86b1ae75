package imagecheck

import (
	"bytes"
	"context"
	"encoding/hex"
	"hash/crc32"
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

// inspectVHDX follows vhdx_open: the newest valid header, the region table,
// the metadata table and the items the virtual size and parent depend on.
func inspectVHDX(ctx context.Context, src *source, info *Info) error {
	const f = VHDX
	if src.size < vhdxRegionTableOffset+vhdxRegionTableSize {
		info.defect(f, ReasonTruncated, "file is %d bytes, VHDX headers need %d", src.size, vhdxRegionTableOffset+vhdxRegionTableSize)
		return nil
	}
	var cur []byte
	var curSeq uint64
	for _, off := range []int64{vhdxHeader1Offset, vhdxHeader2Offset} {
		h, err := src.readAt(ctx, off, vhdxHeaderSize)
		if err != nil {
			return err
		}
		if string(h[:4]) != "head" || !vhdxChecksumOK(h) || le.Uint16(h[66:]) != 1 {
			continue
		}
		if seq := le.Uint64(h[8:]); cur == nil || seq > curSeq {
			cur, curSeq = h, seq
		}
	}
	if cur == nil {
		info.defect(f, ReasonCorrupt, "no valid VHDX header")
		return nil
	}
	info.Version = "1"
	if !bytes.Equal(cur[48:64], make([]byte, 16)) {
		info.Dirty = true
		info.defect(f, ReasonDirty, "log GUID set: the log may need replay")
	}

	rt, err := src.readAt(ctx, vhdxRegionTableOffset, vhdxRegionTableSize)
	if err != nil {
		return err
	}
	if string(rt[:4]) != "regi" || !vhdxChecksumOK(rt) {
		info.defect(f, ReasonCorrupt, "invalid region table")
		return nil
	}
	count := le.Uint32(rt[8:])
	if count > vhdxMaxEntries {
		info.defect(f, ReasonCorrupt, "%d region table entries", count)
		return nil
	}
	var metaOffset, metaLength uint64
	haveBAT := false
	for i := uint32(0); i < count; i++ {
		e := rt[16+32*i : 16+32*(i+1)]
		off, length, required := le.Uint64(e[16:]), uint64(le.Uint32(e[24:])), le.Uint32(e[28:])&1 != 0
		if off%(1<<20) != 0 || length%(1<<20) != 0 || length == 0 {
			info.defect(f, ReasonCorrupt, "region %d misaligned", i)
		}
		switch [16]byte(e[:16]) {
		case vhdxRegionBAT:
			haveBAT = true
		case vhdxRegionMetadata:
			metaOffset, metaLength = off, length
		default:
			if required {
				info.defect(f, ReasonUnknownFeature, "unknown required region %x", e[:16])
			}
		}
	}
	if !haveBAT || metaLength == 0 {
		info.defect(f, ReasonCorrupt, "BAT or metadata region missing")
		return nil
	}
	if metaOffset > uint64(src.size) || uint64(src.size)-metaOffset < 32 {
		info.defect(f, ReasonTruncated, "metadata region at %d beyond the file", metaOffset)
		return nil
	}
	mt, err := src.readAt(ctx, int64(metaOffset), 32)
	if err != nil {
		return err
	}
	if string(mt[:8]) != "metadata" {
		info.defect(f, ReasonCorrupt, "invalid metadata table")
		return nil
	}
	n := uint64(le.Uint16(mt[10:]))
	if n > vhdxMaxEntries || 32+32*n > metaLength || metaOffset+32+32*n > uint64(src.size) {
		info.defect(f, ReasonCorrupt, "%d metadata entries", n)
		return nil
	}
	entries, err := src.readAt(ctx, int64(metaOffset)+32, int64(32*n))
	if err != nil {
		return err
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
			return err
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
			return nil
		}
	}
	params := got[vhdxFileParameters]
	blockSize := le.Uint32(params)
	info.ClusterSize = int64(blockSize)
	if le.Uint32(params[4:])&2 != 0 {
		info.defect(f, ReasonBackingFile, "has-parent flag set")
	}
	size := le.Uint64(got[vhdxVirtualDiskSize])
	info.addSize(int64(min(size, 1<<62)))
	info.VirtualSize = int64(min(size, 1<<62) &^ 511)
	lss, pss := le.Uint32(got[vhdxLogicalSector]), le.Uint32(got[vhdxPhysicalSector])
	switch {
	case blockSize < 1<<20 || blockSize > 256<<20 || blockSize&(blockSize-1) != 0:
		info.defect(f, ReasonCorrupt, "block size %d", blockSize)
	case lss != 512 && lss != 4096, pss != 512 && pss != 4096:
		info.defect(f, ReasonCorrupt, "sector sizes %d/%d", lss, pss)
	case size > 64<<40:
		info.defect(f, ReasonTooLarge, "virtual disk size %d above the VHDX maximum", size)
	}
	return nil
}
