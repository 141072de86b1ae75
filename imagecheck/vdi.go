package imagecheck

import (
	"bytes"
	"context"
)

const (
	vdiSignature        = 0xbeda107f
	vdiVersion11        = 0x00010001
	vdiBlockSize        = 1 << 20
	vdiBlocksInImageMax = 0x1fffff80
	vdiDiskSizeMax      = vdiBlocksInImageMax * vdiBlockSize
	vdiBlockDiscarded   = 0xfffffffe
)

// inspectVDI follows vdi_open's header checks.
func inspectVDI(ctx context.Context, src *source, info *Info) error {
	const f = VDI
	h, err := src.readPadded(ctx, 0, 512)
	if err != nil {
		return err
	}
	if src.size < 512 {
		info.defect(f, ReasonTruncated, "file is %d bytes, VDI header needs 512", src.size)
	}
	version := le.Uint32(h[0x44:])
	imageType := le.Uint32(h[0x4c:])
	offsetBmap := le.Uint32(h[0x154:])
	offsetData := le.Uint32(h[0x158:])
	sectorSize := le.Uint32(h[0x168:])
	diskSize := le.Uint64(h[0x170:])
	blockSize := le.Uint32(h[0x178:])
	blocks := le.Uint32(h[0x180:])
	info.Version = "1.1"
	info.ClusterSize = int64(blockSize)
	info.addSize(int64(min(diskSize, 1<<62)))
	info.VirtualSize = int64((min(diskSize, 1<<62) + 511) &^ 511)
	switch imageType {
	case 1:
		info.Features = append(info.Features, "dynamic")
	case 2:
		info.Features = append(info.Features, "static")
	}
	zero := make([]byte, 16)
	if !bytes.Equal(h[0x1a8:0x1b8], zero) {
		info.defect(f, ReasonBackingFile, "link UUID set")
	}
	if !bytes.Equal(h[0x1b8:0x1c8], zero) {
		info.defect(f, ReasonBackingFile, "parent UUID set")
	}
	if imageType == 4 {
		info.defect(f, ReasonBackingFile, "differencing image type")
	}
	switch {
	case diskSize > vdiDiskSizeMax:
		info.defect(f, ReasonTooLarge, "disk size %d above the VDI maximum", diskSize)
	case version != vdiVersion11:
		info.defect(f, ReasonUnsupportedVersion, "VDI version %#x", version)
	case offsetBmap%512 != 0 || offsetData%512 != 0:
		info.defect(f, ReasonCorrupt, "unaligned block map (%d) or data (%d) offset", offsetBmap, offsetData)
	case sectorSize != 512:
		info.defect(f, ReasonCorrupt, "sector size %d", sectorSize)
	case blockSize != vdiBlockSize:
		info.defect(f, ReasonCorrupt, "block size %d", blockSize)
	case diskSize > uint64(blocks)*uint64(blockSize):
		info.defect(f, ReasonCorrupt, "disk size %d exceeds %d blocks", diskSize, blocks)
	case blocks > vdiBlocksInImageMax:
		info.defect(f, ReasonCorrupt, "%d blocks", blocks)
	case int64(offsetBmap)+int64(blocks)*4 > src.size:
		info.defect(f, ReasonTruncated, "block map ends beyond the file")
	}
	return nil
}

// vdiGuestData reports whether want lies in allocated blocks, below the
// disk size and outside the header and the block map.
func vdiGuestData(ctx context.Context, src *source, want span) (bool, error) {
	h, err := src.readPadded(ctx, 0, 512)
	if err != nil {
		return false, err
	}
	offsetBmap, offsetData := int64(le.Uint32(h[0x154:])), int64(le.Uint32(h[0x158:]))
	diskSize := int64(min(le.Uint64(h[0x170:]), 1<<62))
	blocks := int64(le.Uint32(h[0x180:]))
	bmapLen := (blocks*4 + 511) &^ 511
	for _, m := range []span{{0, 512}, {offsetBmap, offsetBmap + bmapLen}} {
		if m.overlaps(want) {
			return false, nil
		}
	}
	bmap, err := readTable(ctx, src, offsetBmap, blocks*4)
	if err != nil {
		return false, err
	}
	var cover coverage
	for i := int64(0); i < blocks; i++ {
		b := le.Uint32(bmap[4*i:])
		if b >= vdiBlockDiscarded {
			continue
		}
		start := offsetData + int64(b)*vdiBlockSize
		// Only the part of the block inside the disk is guest data.
		n := min(vdiBlockSize, diskSize-i*vdiBlockSize)
		if n > 0 {
			cover.add(span{start, start + n})
		}
	}
	return cover.covers(want), nil
}
