package imagecheck

import (
	"context"
	"math"
)

const (
	qedMagic = 0x00444551 // "QED\0" little-endian

	qedFeatureBacking       = 1 << 0
	qedFeatureNeedCheck     = 1 << 1
	qedFeatureBackingNoProb = 1 << 2
	qedFeatureKnown         = 1<<3 - 1

	qedClusterZero = 1 // QED_CLUSTER_ZERO
)

type qedHeader struct {
	clusterSize, tableSize, headerSize uint64
	features, autoclear                uint64
	l1Offset, imageSize                uint64
	backingOffset, backingSize         uint32
}

func readQEDHeader(ctx context.Context, src *source) (*qedHeader, error) {
	b, err := src.readPadded(ctx, 0, 64)
	if err != nil {
		return nil, err
	}
	return &qedHeader{
		clusterSize:   uint64(le.Uint32(b[4:])),
		tableSize:     uint64(le.Uint32(b[8:])),
		headerSize:    uint64(le.Uint32(b[12:])),
		features:      le.Uint64(b[16:]),
		autoclear:     le.Uint64(b[32:]),
		l1Offset:      le.Uint64(b[40:]),
		imageSize:     le.Uint64(b[48:]),
		backingOffset: le.Uint32(b[56:]),
		backingSize:   le.Uint32(b[60:]),
	}, nil
}

// inspectQED follows bdrv_qed_do_open's header checks.
func inspectQED(ctx context.Context, src *source, info *Info) error {
	const f = QED
	h, err := readQEDHeader(ctx, src)
	if err != nil {
		return err
	}
	if src.size < 64 {
		info.defect(f, ReasonTruncated, "file is %d bytes, QED header needs 64", src.size)
	}
	info.Version = "1"
	info.ClusterSize = int64(h.clusterSize)
	info.VirtualSize = int64(min(h.imageSize, 1<<62))
	info.addSize(info.VirtualSize)

	if h.features&qedFeatureBacking != 0 || h.backingOffset != 0 || h.backingSize != 0 {
		name := ""
		if h.backingSize > 0 && h.backingSize <= 1023 && uint64(h.backingOffset)+uint64(h.backingSize) <= h.headerSize*h.clusterSize {
			if b, err := src.readAt(ctx, int64(h.backingOffset), int64(h.backingSize)); err == nil {
				name = string(b)
			}
		}
		info.BackingFile = name
		info.defect(f, ReasonBackingFile, "backing file %q", name)
	}
	if unknown := h.features &^ qedFeatureKnown; unknown != 0 {
		info.defect(f, ReasonUnknownFeature, "unknown feature bits %#x", unknown)
	}
	if h.features&qedFeatureNeedCheck != 0 {
		info.Dirty = true
		info.Features = append(info.Features, "need-check")
		info.defect(f, ReasonDirty, "need-check feature set")
	}
	// QEMU clears unknown autoclear bits; they cannot hurt.

	pow2 := func(v uint64) bool { return v != 0 && v&(v-1) == 0 }
	// The file QEMU sees ends at the last whole cluster.
	fileSize := uint64(src.size)
	if pow2(h.clusterSize) {
		fileSize &^= h.clusterSize - 1
	}
	switch {
	case !pow2(h.clusterSize) || h.clusterSize < 4096 || h.clusterSize > 64<<20:
		info.defect(f, ReasonCorrupt, "cluster size %d", h.clusterSize)
	case !pow2(h.tableSize) || h.tableSize > 16:
		info.defect(f, ReasonCorrupt, "table size %d", h.tableSize)
	case h.imageSize%512 != 0 || h.imageSize > qedMaxImageSize(h):
		info.defect(f, ReasonCorrupt, "image size %d not a multiple of 512 or above %d", h.imageSize, qedMaxImageSize(h))
	case !qedTableOffsetOK(h, fileSize, h.l1Offset):
		info.defect(f, ReasonCorrupt, "L1 table offset %#x", h.l1Offset)
	case h.headerSize > math.MaxUint32/h.clusterSize:
		info.defect(f, ReasonCorrupt, "header size %d clusters", h.headerSize)
	case h.headerSize == 0:
		// QEMU accepts it; nothing but a crafted file has it.
		info.defect(f, ReasonCorrupt, "header of zero clusters")
	}
	return nil
}

// qedMaxImageSize is qed_max_image_size, with its uint64 wrap-around.
func qedMaxImageSize(h *qedHeader) uint64 {
	entries := h.tableSize * h.clusterSize / 8
	return entries * (entries * h.clusterSize)
}

// qedTableOffsetOK is qed_check_table_offset: the first and last cluster of
// a table are cluster aligned, after the header and before the end of the
// file. Its overflow test also refuses tables of one cluster.
func qedTableOffsetOK(h *qedHeader, fileSize, off uint64) bool {
	end := off + (h.tableSize-1)*h.clusterSize
	if end <= off {
		return false
	}
	return qedClusterOffsetOK(h, fileSize, off) && qedClusterOffsetOK(h, fileSize, end)
}

func qedClusterOffsetOK(h *qedHeader, fileSize, off uint64) bool {
	return off&(h.clusterSize-1) == 0 && off >= h.headerSize*h.clusterSize && off < fileSize
}

// qedGuestData reports whether want lies in data clusters the L1 and L2
// tables map, outside the header and the tables.
func qedGuestData(ctx context.Context, src *source, want span) (bool, error) {
	h, err := readQEDHeader(ctx, src)
	if err != nil {
		return false, err
	}
	cs := int64(h.clusterSize)
	table := int64(h.tableSize) * cs
	meta := []span{{0, int64(h.headerSize) * cs}, {int64(h.l1Offset), int64(h.l1Offset) + table}}
	l1, err := readTable(ctx, src, int64(h.l1Offset), table)
	if err != nil {
		return false, err
	}
	var l2s []int64
	for i := 0; i < len(l1); i += 8 {
		if o := int64(le.Uint64(l1[i:])); o != 0 {
			l2s = append(l2s, o)
			meta = append(meta, span{o, o + table})
		}
	}
	for _, m := range meta {
		if m.overlaps(want) {
			return false, nil
		}
	}
	var cover coverage
	for _, o := range l2s {
		l2, err := readTable(ctx, src, o, table)
		if err != nil {
			return false, err
		}
		for i := 0; i < len(l2); i += 8 {
			if e := int64(le.Uint64(l2[i:])); e > qedClusterZero && e%cs == 0 {
				cover.add(span{e, e + cs})
			}
		}
		if cover.covers(want) {
			return true, nil
		}
	}
	return false, nil
}
