package imagecheck

import (
	"context"
	"fmt"
)

const (
	qedMagic = 0x00444551 // "QED\0" little-endian

	qedFeatureBacking       = 1 << 0
	qedFeatureNeedCheck     = 1 << 1
	qedFeatureBackingNoProb = 1 << 2
	qedFeatureKnown         = 1<<3 - 1
)

// inspectQED follows bdrv_qed_do_open's header checks.
func inspectQED(ctx context.Context, src *source, info *Info) error {
	const f = QED
	h, err := src.readPadded(ctx, 0, 64)
	if err != nil {
		return err
	}
	if src.size < 64 {
		info.defect(f, ReasonTruncated, "file is %d bytes, QED header needs 64", src.size)
	}
	clusterSize := uint64(le.Uint32(h[4:]))
	tableSize := uint64(le.Uint32(h[8:]))
	headerSize := uint64(le.Uint32(h[12:]))
	features := le.Uint64(h[16:])
	autoclear := le.Uint64(h[32:])
	l1Offset := le.Uint64(h[40:])
	imageSize := le.Uint64(h[48:])
	backingOffset := le.Uint32(h[56:])
	backingSize := le.Uint32(h[60:])
	info.ClusterSize = int64(clusterSize)
	info.VirtualSize = int64(min(imageSize, 1<<62))
	info.addSize(info.VirtualSize)

	if features&qedFeatureBacking != 0 || backingOffset != 0 || backingSize != 0 {
		name := ""
		if backingSize > 0 && backingSize <= 1023 && uint64(backingOffset)+uint64(backingSize) <= headerSize*clusterSize {
			if b, err := src.readAt(ctx, int64(backingOffset), int64(backingSize)); err == nil {
				name = string(b)
			}
		}
		info.BackingFile = name
		info.defect(f, ReasonBackingFile, "backing file %q", name)
	}
	if unknown := features &^ qedFeatureKnown; unknown != 0 {
		info.defect(f, ReasonUnknownFeature, "unknown feature bits %#x", unknown)
	}
	if features&qedFeatureNeedCheck != 0 {
		info.Dirty = true
		info.Features = append(info.Features, "need-check")
		info.defect(f, ReasonDirty, "need-check feature set")
	}
	_ = autoclear // QEMU clears unknown autoclear bits; they cannot hurt

	pow2 := func(v uint64) bool { return v != 0 && v&(v-1) == 0 }
	switch {
	case !pow2(clusterSize) || clusterSize < 4096 || clusterSize > 64<<20:
		info.defect(f, ReasonCorrupt, "cluster size %d", clusterSize)
	case !pow2(tableSize) || tableSize < 1 || tableSize > 16:
		info.defect(f, ReasonCorrupt, "table size %d", tableSize)
	case headerSize == 0 || headerSize*clusterSize > 1<<32:
		info.defect(f, ReasonCorrupt, "header size %d clusters", headerSize)
	default:
		// qed_max_image_size: L1 and L2 tables of table_size clusters of
		// 8-byte entries, each L2 entry a cluster.
		entries := tableSize * clusterSize / 8
		maxSize := entries * entries * clusterSize
		if imageSize%512 != 0 || imageSize > maxSize {
			info.defect(f, ReasonCorrupt, "image size %d not a multiple of 512 or above %d", imageSize, maxSize)
		}
		if l1Offset == 0 || l1Offset%clusterSize != 0 {
			info.defect(f, ReasonCorrupt, "L1 table offset %#x", l1Offset)
		}
	}
	info.Version = fmt.Sprint(1)
	return nil
}
