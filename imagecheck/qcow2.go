package imagecheck

import (
	"context"
	"fmt"
	"math/bits"
)

const (
	qcowMagic = 0x514649fb // "QFI\xfb"

	qcow2IncompatDirty       = 1 << 0
	qcow2IncompatCorrupt     = 1 << 1
	qcow2IncompatDataFile    = 1 << 2
	qcow2IncompatCompression = 1 << 3
	qcow2IncompatExtendedL2  = 1 << 4
	qcow2IncompatKnown       = 1<<5 - 1

	qcow2AutoclearBitmaps = 1 << 0
	qcow2AutoclearRawData = 1 << 1

	qcow2ExtEnd           = 0x00000000
	qcow2ExtBackingFormat = 0xe2792aca
	qcow2ExtFeatureTable  = 0x6803f857
	qcow2ExtBitmaps       = 0x23852875
	qcow2ExtCrypto        = 0x0537be77
	qcow2ExtDataFile      = 0x44415441

	// qcow2MaxExtensionBytes bounds the header-extension area we read; QEMU
	// allows up to a cluster, but no real image comes close.
	qcow2MaxExtensionBytes = 64 << 10
	qcow2MaxExtensions     = 64
	qcow2MaxL1Bytes        = 32 << 20 // QCOW_MAX_L1_SIZE
	qcow2MaxRefcountTable  = 8 << 20  // QCOW_MAX_REFTABLE_SIZE
	qcow2MaxSnapshots      = 65536
)

// inspectQCOW2 follows qcow2_do_open's header checks.
func inspectQCOW2(ctx context.Context, src *source, info *Info) error {
	const f = QCOW2
	h, err := src.readPadded(ctx, 0, 112)
	if err != nil {
		return err
	}
	version := be.Uint32(h[4:])
	info.Version = fmt.Sprint(version)
	if version != 2 && version != 3 {
		info.defect(f, ReasonUnsupportedVersion, "qcow2 version %d", version)
		return nil
	}
	headerLen := uint32(72)
	if src.size < 72 || (version == 3 && src.size < 104) {
		info.defect(f, ReasonTruncated, "file of %d bytes cannot hold a qcow2 v%d header", src.size, version)
		return nil
	}
	if version == 3 {
		headerLen = be.Uint32(h[100:])
		if headerLen < 104 {
			info.defect(f, ReasonCorrupt, "header length %d shorter than 104", headerLen)
			return nil
		}
	}
	if src.size < int64(headerLen) {
		info.defect(f, ReasonTruncated, "file is %d bytes, header needs %d", src.size, headerLen)
		return nil
	}
	backingOffset := be.Uint64(h[8:])
	backingSize := be.Uint32(h[16:])
	clusterBits := be.Uint32(h[20:])
	size := be.Uint64(h[24:])
	cryptMethod := be.Uint32(h[32:])
	l1Size := be.Uint32(h[36:])
	l1Offset := be.Uint64(h[40:])
	refcountOffset := be.Uint64(h[48:])
	refcountClusters := be.Uint32(h[56:])
	nbSnapshots := be.Uint32(h[60:])
	snapshotsOffset := be.Uint64(h[64:])
	var incompat, compat, autoclear uint64
	refcountOrder := uint32(4)
	compression := byte(0)
	if version == 3 {
		incompat, compat, autoclear = be.Uint64(h[72:]), be.Uint64(h[80:]), be.Uint64(h[88:])
		refcountOrder = be.Uint32(h[96:])
		if headerLen > 104 {
			compression = h[104]
		}
	}

	if clusterBits < 9 || clusterBits > 21 {
		info.defect(f, ReasonCorrupt, "cluster size 2^%d out of range", clusterBits)
		return nil
	}
	clusterSize := uint64(1) << clusterBits
	info.ClusterSize = int64(clusterSize)
	if uint64(headerLen) > clusterSize {
		info.defect(f, ReasonCorrupt, "header length %d exceeds cluster size", headerLen)
		return nil
	}

	// Virtual size: QEMU keeps whole sectors of the header's size.
	if size > 1<<62 {
		info.defect(f, ReasonTooLarge, "virtual size %d", size)
		info.addSize(1 << 62)
		return nil
	}
	info.VirtualSize = int64(size &^ 511)
	info.addSize(int64(size))

	info.Features = append(info.Features, qcow2FeatureNames(incompat, compat, autoclear)...)
	info.Dirty = incompat&qcow2IncompatDirty != 0
	info.Corrupt = incompat&qcow2IncompatCorrupt != 0
	if unknown := incompat &^ qcow2IncompatKnown; unknown != 0 {
		info.defect(f, ReasonUnknownFeature, "unknown incompatible feature bits %#x", unknown)
	}
	if info.Corrupt {
		info.defect(f, ReasonCorrupt, "corrupt bit set")
	}
	if info.Dirty {
		info.defect(f, ReasonDirty, "dirty bit set: refcounts need repair")
	}
	if incompat&qcow2IncompatDataFile != 0 {
		info.defect(f, ReasonDataFile, "external data file feature bit set")
	}
	if autoclear&qcow2AutoclearRawData != 0 {
		info.defect(f, ReasonDataFile, "raw external data autoclear bit set")
	}
	if incompat&qcow2IncompatCompression != 0 && headerLen < 105 {
		info.defect(f, ReasonCorrupt, "compression type bit set but header has no compression type field")
	}
	if compression > 1 || (compression != 0 && incompat&qcow2IncompatCompression == 0) {
		info.defect(f, ReasonCorrupt, "compression type %d", compression)
	}
	extendedL2 := incompat&qcow2IncompatExtendedL2 != 0
	if extendedL2 && clusterBits < 14 {
		info.defect(f, ReasonCorrupt, "extended L2 entries need clusters of at least 16 KiB")
	}
	if refcountOrder > 6 {
		info.defect(f, ReasonCorrupt, "refcount order %d", refcountOrder)
	}

	if backingOffset != 0 || backingSize != 0 {
		name := ""
		if backingOffset < clusterSize && backingSize > 0 && backingSize <= 1023 {
			if b, err := src.readAt(ctx, int64(backingOffset), int64(backingSize)); err == nil {
				name = string(b)
			}
		}
		info.BackingFile = name
		info.defect(f, ReasonBackingFile, "backing file %q (offset %d, length %d)", name, backingOffset, backingSize)
	}

	switch cryptMethod {
	case 0:
	case 1:
		info.Encrypted, info.Encryption = true, "aes"
	case 2:
		info.Encrypted, info.Encryption = true, "luks"
	default:
		info.defect(f, ReasonUnsupportedVersion, "encryption method %d", cryptMethod)
	}

	// L1 table: QEMU refuses tables that cannot map the virtual size or that
	// exceed 32 MiB.
	l2Bits := clusterBits - 3
	if extendedL2 {
		l2Bits--
	}
	perL1 := clusterBits + l2Bits
	need := (size + (uint64(1) << perL1) - 1) >> perL1
	if uint64(l1Size)*8 > qcow2MaxL1Bytes {
		info.defect(f, ReasonCorrupt, "L1 table of %d entries too large", l1Size)
	} else if need > uint64(l1Size) {
		info.defect(f, ReasonCorrupt, "L1 table of %d entries cannot map %d bytes", l1Size, size)
	}
	if l1Size > 0 && !qcow2TableOK(l1Offset, uint64(l1Size)*8, clusterSize) {
		info.defect(f, ReasonCorrupt, "L1 table offset %#x invalid", l1Offset)
	}
	if refcountClusters == 0 || uint64(refcountClusters)*clusterSize > qcow2MaxRefcountTable ||
		!qcow2TableOK(refcountOffset, uint64(refcountClusters)*clusterSize, clusterSize) {
		info.defect(f, ReasonCorrupt, "refcount table (%d clusters at %#x) invalid", refcountClusters, refcountOffset)
	}
	info.Snapshots = int(min(nbSnapshots, 1<<31-1))
	if nbSnapshots > qcow2MaxSnapshots {
		info.defect(f, ReasonCorrupt, "%d snapshots", nbSnapshots)
	} else if nbSnapshots > 0 && !qcow2TableOK(snapshotsOffset, 1, clusterSize) {
		info.defect(f, ReasonCorrupt, "snapshot table offset %#x invalid", snapshotsOffset)
	}

	return qcow2Extensions(ctx, src, info, int64(headerLen), int64(clusterSize), backingOffset, cryptMethod)
}

// qcow2TableOK mirrors validate_table_offset: cluster aligned and not
// overflowing.
func qcow2TableOK(offset, length, clusterSize uint64) bool {
	if offset%clusterSize != 0 || offset == 0 {
		return false
	}
	end, carry := bits.Add64(offset, length, 0)
	return carry == 0 && end < 1<<62
}

// qcow2Extensions walks the header extensions the way
// qcow2_read_extensions does, up to the backing file name or the cluster
// end, whichever comes first.
func qcow2Extensions(ctx context.Context, src *source, info *Info, start, clusterSize int64, backingOffset uint64, cryptMethod uint32) error {
	const f = QCOW2
	end := clusterSize
	if backingOffset != 0 && int64(backingOffset) < end {
		end = int64(backingOffset)
	}
	end = min(end, src.size)
	sawCrypto := false
	for off, n := start, 0; off+8 <= end; n++ {
		if n >= qcow2MaxExtensions || off-start >= qcow2MaxExtensionBytes {
			info.defect(f, ReasonCorrupt, "more than %d header extensions or %d bytes of them", qcow2MaxExtensions, qcow2MaxExtensionBytes)
			break
		}
		h, err := src.readAt(ctx, off, 8)
		if err != nil {
			return err
		}
		typ, length := be.Uint32(h), int64(be.Uint32(h[4:]))
		off += 8
		if typ == qcow2ExtEnd {
			break
		}
		if length > end-off || length > qcow2MaxExtensionBytes {
			info.defect(f, ReasonCorrupt, "header extension %#x of %d bytes overruns the header cluster", typ, length)
			break
		}
		switch typ {
		case qcow2ExtBackingFormat, qcow2ExtDataFile:
			data, err := src.readAt(ctx, off, min(length, 1024))
			if err != nil {
				return err
			}
			if typ == qcow2ExtBackingFormat {
				info.defect(f, ReasonBackingFile, "backing format extension %q", cstr(data))
			} else {
				info.DataFile = cstr(data)
				info.defect(f, ReasonDataFile, "external data file extension %q", info.DataFile)
			}
		case qcow2ExtCrypto:
			sawCrypto = true
			if cryptMethod != 2 {
				info.defect(f, ReasonCorrupt, "crypto header extension without LUKS encryption")
			}
		}
		off += (length + 7) &^ 7
	}
	if cryptMethod == 2 && !sawCrypto {
		info.defect(f, ReasonCorrupt, "LUKS encryption without crypto header extension")
	}
	return nil
}

func qcow2FeatureNames(incompat, compat, autoclear uint64) []string {
	var out []string
	names := []struct {
		set  uint64
		bit  uint64
		name string
	}{
		{incompat, qcow2IncompatDirty, "dirty"},
		{incompat, qcow2IncompatCorrupt, "corrupt"},
		{incompat, qcow2IncompatDataFile, "external-data-file"},
		{incompat, qcow2IncompatCompression, "compression-type"},
		{incompat, qcow2IncompatExtendedL2, "extended-l2"},
		{compat, 1, "lazy-refcounts"},
		{autoclear, qcow2AutoclearBitmaps, "bitmaps"},
		{autoclear, qcow2AutoclearRawData, "raw-external-data"},
	}
	for _, n := range names {
		if n.set&n.bit != 0 {
			out = append(out, n.name)
		}
	}
	for b := 0; b < 64; b++ {
		if incompat&^qcow2IncompatKnown&(1<<b) != 0 {
			out = append(out, fmt.Sprintf("incompatible-bit-%d", b))
		}
	}
	return out
}

// inspectQCOW1 recognises qcow version 1 only to refuse it.
func inspectQCOW1(ctx context.Context, src *source, info *Info) error {
	h, err := src.readPadded(ctx, 0, 48)
	if err != nil {
		return err
	}
	info.Version = "1"
	size := be.Uint64(h[24:])
	info.VirtualSize = int64(min(size, 1<<62) &^ 511)
	info.addSize(int64(min(size, 1<<62)))
	if be.Uint64(h[8:]) != 0 {
		info.defect(QCOW, ReasonBackingFile, "qcow v1 backing file offset %#x", be.Uint64(h[8:]))
	}
	info.defect(QCOW, ReasonUnsupportedVersion, "qcow version 1 is not supported")
	return nil
}
