package imagecheck

import (
	"context"
	"fmt"
	"math"
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
	qcow2MaxSnapshots      = 65536    // QCOW_MAX_SNAPSHOTS
	qcow2SnapshotHeader    = 40       // sizeof(QCowSnapshotHeader)
	qcow2MaxSnapshotExtra  = 1024     // QCOW_MAX_SNAPSHOT_EXTRA_DATA
	qcow2MaxSnapshotsSize  = 1024 * qcow2MaxSnapshots

	qcow2MaxBitmaps       = 65535 // QCOW2_MAX_BITMAPS
	qcow2MaxBitmapDirSize = 1024 * qcow2MaxBitmaps
	qcow2BitmapDirEntry   = 24 // fixed part of Qcow2BitmapDirEntry
	qcow2BitmapMaxTable   = 0x8000000
	qcow2BitmapMaxPhys    = 0x20000000 // BME_MAX_PHYS_SIZE
	qcow2BitmapMaxName    = 1023
	qcow2BitmapInUse      = 1 << 0
	qcow2BitmapAuto       = 1 << 1

	qcow2CryptoExtSize = 16 // sizeof(Qcow2CryptoHeaderExtension)

	qcow2OffsetMask = 0x00fffffffffffe00 // L1E_OFFSET_MASK, L2E_OFFSET_MASK
	qcow2Compressed = 1 << 62
	qcow2ZeroFlag   = 1 << 0

	qcow2CompressionZlib = 0
	qcow2CompressionZstd = 1
)

// qcow2Header holds the fields qcow2_do_open reads, already decoded the
// way QEMU decodes them (version 2 images get the version 3 defaults).
type qcow2Header struct {
	version          uint32
	backingOffset    uint64
	backingSize      uint32
	clusterBits      uint32
	size             uint64
	cryptMethod      uint32
	l1Size           uint32
	l1Offset         uint64
	refcountOffset   uint64
	refcountClusters uint32
	nbSnapshots      uint32
	snapshotsOffset  uint64
	incompat         uint64
	compat           uint64
	autoclear        uint64
	refcountOrder    uint32
	headerLen        uint32
	compression      byte
}

func (h *qcow2Header) clusterSize() int64 { return 1 << h.clusterBits }
func (h *qcow2Header) extendedL2() bool   { return h.incompat&qcow2IncompatExtendedL2 != 0 }

// extEnd is where qcow2_read_extensions stops: the backing file name, or
// the end of the first cluster.
func (h *qcow2Header) extEnd() int64 {
	if h.backingOffset != 0 {
		return int64(h.backingOffset)
	}
	return h.clusterSize()
}

func readQCOW2Header(ctx context.Context, src *source) (*qcow2Header, error) {
	b, err := src.readPadded(ctx, 0, 112)
	if err != nil {
		return nil, err
	}
	h := &qcow2Header{
		version:          be.Uint32(b[4:]),
		backingOffset:    be.Uint64(b[8:]),
		backingSize:      be.Uint32(b[16:]),
		clusterBits:      be.Uint32(b[20:]),
		size:             be.Uint64(b[24:]),
		cryptMethod:      be.Uint32(b[32:]),
		l1Size:           be.Uint32(b[36:]),
		l1Offset:         be.Uint64(b[40:]),
		refcountOffset:   be.Uint64(b[48:]),
		refcountClusters: be.Uint32(b[56:]),
		nbSnapshots:      be.Uint32(b[60:]),
		snapshotsOffset:  be.Uint64(b[64:]),
		refcountOrder:    4,
		headerLen:        72,
	}
	if h.version == 3 {
		h.incompat, h.compat, h.autoclear = be.Uint64(b[72:]), be.Uint64(b[80:]), be.Uint64(b[88:])
		h.refcountOrder = be.Uint32(b[96:])
		h.headerLen = be.Uint32(b[100:])
		if h.headerLen > 104 {
			h.compression = b[104]
		}
	}
	return h, nil
}

// inspectQCOW2 follows qcow2_do_open's checks, in its order where the order
// decides which reason is reported.
func inspectQCOW2(ctx context.Context, src *source, info *Info) error {
	const f = QCOW2
	h, err := readQCOW2Header(ctx, src)
	if err != nil {
		return err
	}
	info.Version = fmt.Sprint(h.version)
	if h.version != 2 && h.version != 3 {
		info.defect(f, ReasonUnsupportedVersion, "qcow2 version %d", h.version)
		return nil
	}
	if src.size < 72 || (h.version == 3 && src.size < 104) {
		info.defect(f, ReasonTruncated, "file of %d bytes cannot hold a qcow2 v%d header", src.size, h.version)
		return nil
	}
	if h.clusterBits < 9 || h.clusterBits > 21 {
		info.defect(f, ReasonCorrupt, "cluster size 2^%d out of range", h.clusterBits)
		return nil
	}
	clusterSize := uint64(h.clusterSize())
	info.ClusterSize = int64(clusterSize)
	if h.version == 3 && h.headerLen < 104 {
		info.defect(f, ReasonCorrupt, "header length %d shorter than 104", h.headerLen)
		return nil
	}
	if uint64(h.headerLen) > clusterSize {
		info.defect(f, ReasonCorrupt, "header length %d exceeds cluster size", h.headerLen)
		return nil
	}
	if src.size < int64(h.headerLen) {
		info.defect(f, ReasonTruncated, "file is %d bytes, header needs %d", src.size, h.headerLen)
		return nil
	}

	// Virtual size: QEMU keeps whole sectors of the header's size.
	if h.size > 1<<62 {
		info.defect(f, ReasonTooLarge, "virtual size %d", h.size)
		info.addSize(1 << 62)
		return nil
	}
	info.VirtualSize = int64(h.size &^ 511)
	info.addSize(int64(h.size))

	if h.backingOffset != 0 || h.backingSize != 0 {
		name := ""
		if h.backingOffset < clusterSize && h.backingSize > 0 && h.backingSize <= 1023 {
			if b, err := src.readAt(ctx, int64(h.backingOffset), int64(h.backingSize)); err == nil {
				name = string(b)
			}
		}
		info.BackingFile = name
		info.defect(f, ReasonBackingFile, "backing file %q (offset %d, length %d)", name, h.backingOffset, h.backingSize)
	}

	info.Features = append(info.Features, qcow2FeatureNames(h.incompat, h.compat, h.autoclear)...)
	info.Dirty = h.incompat&qcow2IncompatDirty != 0
	info.Corrupt = h.incompat&qcow2IncompatCorrupt != 0
	// validate_compression_type: the type must be known, and the feature
	// bit set exactly when it is not zlib.
	switch {
	case h.compression != qcow2CompressionZlib && h.compression != qcow2CompressionZstd:
		info.defect(f, ReasonUnknownFeature, "unknown compression type %d", h.compression)
	case h.compression == qcow2CompressionZlib && h.incompat&qcow2IncompatCompression != 0:
		info.defect(f, ReasonCorrupt, "compression type bit set with zlib compression")
	case h.compression != qcow2CompressionZlib && h.incompat&qcow2IncompatCompression == 0:
		info.defect(f, ReasonCorrupt, "compression type %d without the compression type bit", h.compression)
	}
	if h.compression == qcow2CompressionZstd {
		info.Features = append(info.Features, "zstd")
	}
	if unknown := h.incompat &^ qcow2IncompatKnown; unknown != 0 {
		info.defect(f, ReasonUnknownFeature, "unknown incompatible feature bits %#x", unknown)
	}
	if info.Corrupt {
		info.defect(f, ReasonCorrupt, "corrupt bit set")
	}
	if info.Dirty {
		info.defect(f, ReasonDirty, "dirty bit set: refcounts need repair")
	}
	if h.incompat&qcow2IncompatDataFile != 0 {
		info.defect(f, ReasonDataFile, "external data file feature bit set")
	}
	if h.autoclear&qcow2AutoclearRawData != 0 {
		info.defect(f, ReasonDataFile, "raw external data autoclear bit set")
	}
	if h.extendedL2() && h.clusterBits < 14 {
		info.defect(f, ReasonCorrupt, "extended L2 entries need clusters of at least 16 KiB")
	}
	if h.refcountOrder > 6 {
		info.defect(f, ReasonCorrupt, "refcount order %d", h.refcountOrder)
	}

	switch h.cryptMethod {
	case 0:
	case 1:
		info.Encrypted, info.Encryption = true, "aes"
		// The system emulators refuse it; only the tools still read it.
		info.defect(f, ReasonUnsupportedVersion, "AES-CBC encryption, which QEMU's system emulators refuse")
	case 2:
		info.Encrypted, info.Encryption = true, "luks"
	default:
		info.defect(f, ReasonUnsupportedVersion, "encryption method %d", h.cryptMethod)
	}

	// qcow2_validate_table for the refcount table, the snapshot table and
	// the active L1 table, then the L1 size against the virtual size. A
	// table at offset 0 would be the header itself: QEMU accepts the offset
	// and reads the header as table entries.
	if h.refcountClusters == 0 {
		info.defect(f, ReasonCorrupt, "no refcount table")
	} else if h.refcountOffset == 0 || !qcow2TableOK(h.refcountOffset, uint64(h.refcountClusters), clusterSize, qcow2MaxRefcountTable, clusterSize) {
		info.defect(f, ReasonCorrupt, "refcount table (%d clusters at %#x) invalid", h.refcountClusters, h.refcountOffset)
	}
	info.Snapshots = int(min(h.nbSnapshots, math.MaxInt32))
	if (h.snapshotsOffset == 0 && h.nbSnapshots > 0) || !qcow2TableOK(h.snapshotsOffset, uint64(h.nbSnapshots), qcow2SnapshotHeader, qcow2SnapshotHeader*qcow2MaxSnapshots, clusterSize) {
		info.defect(f, ReasonCorrupt, "snapshot table (%d snapshots at %#x) invalid", h.nbSnapshots, h.snapshotsOffset)
	}
	if (h.l1Offset == 0 && h.l1Size > 0) || !qcow2TableOK(h.l1Offset, uint64(h.l1Size), 8, qcow2MaxL1Bytes, clusterSize) {
		info.defect(f, ReasonCorrupt, "L1 table (%d entries at %#x) invalid", h.l1Size, h.l1Offset)
	} else if need := qcow2L1Needed(h); need > uint64(h.l1Size) {
		info.defect(f, ReasonCorrupt, "L1 table of %d entries cannot map %d bytes", h.l1Size, h.size)
	}
	tablesOK := len(info.Defects) == 0

	if err := qcow2Extensions(ctx, src, info, h, nil); err != nil {
		return err
	}
	if tablesOK {
		if err := qcow2Snapshots(ctx, src, info, h, nil); err != nil {
			return err
		}
	}
	return nil
}

// qcow2L1Needed is size_to_l1: the L1 entries that map the virtual size.
func qcow2L1Needed(h *qcow2Header) uint64 {
	shift := h.clusterBits + qcow2L2Bits(h)
	return (h.size + (uint64(1) << shift) - 1) >> shift
}

// qcow2L2Bits is log2 of the entries in one L2 table.
func qcow2L2Bits(h *qcow2Header) uint32 {
	if h.extendedL2() {
		return h.clusterBits - 4
	}
	return h.clusterBits - 3
}

// qcow2TableOK mirrors qcow2_validate_table: at most maxBytes, cluster
// aligned, and ending below 2^62 (QEMU allows up to INT64_MAX; nothing
// real comes near either).
func qcow2TableOK(offset, entries, entryLen, maxBytes, clusterSize uint64) bool {
	if entries > maxBytes/entryLen || offset%clusterSize != 0 {
		return false
	}
	end, carry := bits.Add64(offset, entries*entryLen, 0)
	return carry == 0 && end < 1<<62
}

// qcow2Extensions walks the header extensions the way qcow2_read_extensions
// does, from the end of the header to the backing file name or the end of
// the first cluster. The structures they point to are added to meta, when
// not nil.
func qcow2Extensions(ctx context.Context, src *source, info *Info, h *qcow2Header, meta *[]span) error {
	const f = QCOW2
	start, end := int64(h.headerLen), h.extEnd()
	sawCrypto := false
	for off, n := start, 0; off < end; n++ {
		if n >= qcow2MaxExtensions || off-start >= qcow2MaxExtensionBytes {
			info.defect(f, ReasonCorrupt, "more than %d header extensions or %d bytes of them", qcow2MaxExtensions, qcow2MaxExtensionBytes)
			return nil
		}
		// Past the end of the file QEMU reads zeros: the end marker.
		hd, err := readTable(ctx, src, off, 8)
		if err != nil {
			return err
		}
		typ, length := be.Uint32(hd), int64(be.Uint32(hd[4:]))
		off += 8
		if off > end || length > end-off {
			info.defect(f, ReasonCorrupt, "header extension %#x of %d bytes overruns the header cluster", typ, length)
			return nil
		}
		if length > qcow2MaxExtensionBytes {
			info.defect(f, ReasonCorrupt, "header extension %#x of %d bytes", typ, length)
			return nil
		}
		var data []byte
		switch typ {
		case qcow2ExtBackingFormat, qcow2ExtDataFile, qcow2ExtCrypto, qcow2ExtBitmaps:
			// QEMU ignores the contents of the others.
			if data, err = readTable(ctx, src, off, length); err != nil {
				return err
			}
		}
		switch typ {
		case qcow2ExtEnd:
			return qcow2CheckCrypto(info, h, sawCrypto)
		case qcow2ExtBackingFormat:
			info.defect(f, ReasonBackingFile, "backing format extension %q", cstr(data))
		case qcow2ExtDataFile:
			info.DataFile = cstr(data)
			info.defect(f, ReasonDataFile, "external data file extension %q", info.DataFile)
		case qcow2ExtCrypto:
			sawCrypto = true
			if err := qcow2CryptoExtension(ctx, src, info, h, data); err != nil {
				return err
			}
			if meta != nil && len(data) == qcow2CryptoExtSize {
				o, n := int64(min(be.Uint64(data), 1<<62)), int64(min(be.Uint64(data[8:]), 1<<62))
				*meta = append(*meta, span{o, o + n})
			}
		case qcow2ExtBitmaps:
			if err := qcow2BitmapsExtension(ctx, src, info, h, data, meta); err != nil {
				return err
			}
		}
		off += (length + 7) &^ 7
	}
	return qcow2CheckCrypto(info, h, sawCrypto)
}

func qcow2CheckCrypto(info *Info, h *qcow2Header, sawCrypto bool) error {
	if h.cryptMethod == 2 && !sawCrypto {
		// qemu-img info opens it; any read fails ("Missing CRYPTO header").
		info.defect(QCOW2, ReasonCorrupt, "LUKS encryption without crypto header extension")
	}
	return nil
}

// qcow2CryptoExtension checks the crypto header extension and the LUKS
// header it points to, as qcrypto_block_open does through
// qcow2_crypto_hdr_read_func.
func qcow2CryptoExtension(ctx context.Context, src *source, info *Info, h *qcow2Header, data []byte) error {
	const f = QCOW2
	if h.cryptMethod != 2 {
		info.defect(f, ReasonCorrupt, "crypto header extension without LUKS encryption")
		return nil
	}
	if len(data) != qcow2CryptoExtSize {
		info.defect(f, ReasonCorrupt, "crypto header extension of %d bytes", len(data))
		return nil
	}
	off, length := be.Uint64(data), be.Uint64(data[8:])
	if off%uint64(h.clusterSize()) != 0 {
		info.defect(f, ReasonCorrupt, "crypto header at %#x not cluster aligned", off)
		return nil
	}
	if length < luksHeaderSize || off > math.MaxInt64-luksHeaderSize {
		info.defect(f, ReasonCorrupt, "crypto header of %d bytes at %#x cannot hold a LUKS header", length, off)
		return nil
	}
	lh, err := readTable(ctx, src, int64(off), luksHeaderSize)
	if err != nil {
		return err
	}
	if string(lh[:6]) != "LUKS\xba\xbe" {
		info.defect(f, ReasonCorrupt, "crypto header at %#x is not a LUKS header", off)
		return nil
	}
	luksHeaderDefects(f, lh, info)
	return nil
}

// qcow2BitmapsExtension follows the bitmaps case of qcow2_read_extensions
// and the directory checks of qcow2_load_dirty_bitmaps.
func qcow2BitmapsExtension(ctx context.Context, src *source, info *Info, h *qcow2Header, data []byte, meta *[]span) error {
	const f = QCOW2
	if len(data) != 24 {
		info.defect(f, ReasonCorrupt, "bitmaps extension of %d bytes", len(data))
		return nil
	}
	if h.autoclear&qcow2AutoclearBitmaps == 0 {
		// QEMU warns and ignores the bitmaps.
		return nil
	}
	nb, reserved := be.Uint32(data), be.Uint32(data[4:])
	dirSize, dirOffset := be.Uint64(data[8:]), be.Uint64(data[16:])
	switch {
	case reserved != 0:
		info.defect(f, ReasonCorrupt, "bitmaps extension reserved field %#x", reserved)
	case nb == 0 || nb > qcow2MaxBitmaps:
		info.defect(f, ReasonCorrupt, "%d bitmaps", nb)
	case dirOffset%uint64(h.clusterSize()) != 0:
		info.defect(f, ReasonCorrupt, "bitmap directory offset %#x not cluster aligned", dirOffset)
	case dirSize == 0 || dirSize > qcow2MaxBitmapDirSize || dirOffset > math.MaxInt64-dirSize:
		info.defect(f, ReasonCorrupt, "bitmap directory of %d bytes", dirSize)
	default:
		if meta != nil {
			*meta = append(*meta, span{int64(dirOffset), int64(dirOffset + dirSize)})
		}
		return qcow2BitmapDirectory(ctx, src, info, h, nb, int64(dirOffset), int64(dirSize), meta)
	}
	return nil
}

// qcow2BitmapDirectory mirrors bitmap_list_load and check_dir_entry.
func qcow2BitmapDirectory(ctx context.Context, src *source, info *Info, h *qcow2Header, nb uint32, off, size int64, meta *[]span) error {
	const f = QCOW2
	dir, err := readTable(ctx, src, off, size)
	if err != nil {
		return err
	}
	cs := uint64(h.clusterSize())
	count := uint32(0)
	for p := int64(0); p < size; count++ {
		if size-p < qcow2BitmapDirEntry {
			info.defect(f, ReasonCorrupt, "bitmap directory entry %d truncated", count)
			return nil
		}
		e := dir[p:]
		tableOffset, tableSize := be.Uint64(e), uint64(be.Uint32(e[8:]))
		flags := be.Uint32(e[12:])
		typ, granularity := e[16], uint32(e[17])
		nameSize, extraSize := int64(be.Uint16(e[18:])), int64(be.Uint32(e[20:]))
		entryLen := (qcow2BitmapDirEntry + extraSize + nameSize + 7) &^ 7
		if extraSize != 0 || entryLen > size-p {
			info.defect(f, ReasonCorrupt, "bitmap directory entry %d: %d bytes of extra data", count, extraSize)
			return nil
		}
		if tableSize == 0 || tableOffset == 0 || tableOffset%cs != 0 || tableSize > qcow2BitmapMaxTable ||
			granularity > 31 || granularity < 9 || flags&^(qcow2BitmapInUse|qcow2BitmapAuto) != 0 ||
			nameSize > qcow2BitmapMaxName || typ != 1 {
			info.defect(f, ReasonCorrupt, "bitmap directory entry %d violates the bitmap constraints", count)
			return nil
		}
		// The table must cover the virtual size, bit by granule.
		phys := tableSize * cs
		if phys > qcow2BitmapMaxPhys || uint64(info.VirtualSize) > (phys*8)<<granularity {
			info.defect(f, ReasonCorrupt, "bitmap directory entry %d: table of %d clusters", count, tableSize)
			return nil
		}
		if meta != nil {
			*meta = append(*meta, span{int64(tableOffset), int64(tableOffset) + int64(tableSize)*8})
		}
		if flags&qcow2BitmapInUse == 0 {
			// load_bitmap reads the table of a consistent bitmap, which must
			// have exactly the clusters the bitmap serializes to.
			if want := qcow2BitmapClusters(uint64(info.VirtualSize), granularity, cs); tableSize != want {
				info.defect(f, ReasonCorrupt, "bitmap %d has a table of %d clusters, its size needs %d", count, tableSize, want)
				return nil
			}
			table, err := readTable(ctx, src, int64(tableOffset), int64(tableSize)*8)
			if err != nil {
				return err
			}
			for i := 0; i < len(table); i += 8 {
				if !qcow2BitmapTableEntryOK(be.Uint64(table[i:]), cs) {
					info.defect(f, ReasonCorrupt, "bitmap table entry %d of bitmap %d invalid", i/8, count)
					return nil
				}
			}
		}
		p += entryLen
	}
	if count != nb {
		info.defect(f, ReasonCorrupt, "bitmap directory holds %d entries, header says %d", count, nb)
	}
	return nil
}

// qcow2BitmapClusters is the size_to_clusters of
// bdrv_dirty_bitmap_serialization_size in load_bitmap_data: one bit per
// granule, in 64-bit words.
func qcow2BitmapClusters(size uint64, granularity uint32, clusterSize uint64) uint64 {
	if size == 0 {
		return 0
	}
	bytes := ((size-1)>>granularity>>6 + 1) * 8
	return (bytes + clusterSize - 1) / clusterSize
}

// qcow2BitmapTableEntryOK is check_table_entry.
func qcow2BitmapTableEntryOK(e, clusterSize uint64) bool {
	const reserved, allOnes = 0xff000000000001fe, 1
	if e&reserved != 0 {
		return false
	}
	off := e & qcow2OffsetMask
	return off == 0 || (e&allOnes == 0 && off%clusterSize == 0)
}

// qcow2Snapshots walks the snapshot table as qcow2_read_snapshots does. QEMU
// refuses an entry with more than 1 KiB of extra data and a table above
// 64 MiB. The table and the snapshots' L1 tables are added to meta, when
// not nil.
func qcow2Snapshots(ctx context.Context, src *source, info *Info, h *qcow2Header, meta *[]span) error {
	const f = QCOW2
	start := int64(h.snapshotsOffset)
	off := start
	for i := uint32(0); i < h.nbSnapshots; i++ {
		off = (off + 7) &^ 7
		sh, err := readTable(ctx, src, off, qcow2SnapshotHeader)
		if err != nil {
			return err
		}
		extra := int64(be.Uint32(sh[36:]))
		if extra > qcow2MaxSnapshotExtra {
			info.defect(f, ReasonCorrupt, "snapshot %d has %d bytes of extra data", i, extra)
			return nil
		}
		if meta != nil {
			l1 := int64(min(be.Uint64(sh), 1<<62))
			*meta = append(*meta, span{l1, l1 + int64(be.Uint32(sh[8:]))*8})
		}
		off += qcow2SnapshotHeader + extra + int64(be.Uint16(sh[12:])) + int64(be.Uint16(sh[14:]))
		if off-start > qcow2MaxSnapshotsSize {
			info.defect(f, ReasonCorrupt, "snapshot table larger than %d bytes", qcow2MaxSnapshotsSize)
			return nil
		}
	}
	if meta != nil {
		*meta = append(*meta, span{start, off})
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

// qcow2GuestData reports whether every byte of want is guest data: inside
// clusters the active L1 and L2 tables map into the guest (normal or
// compressed clusters, allocated subclusters), and in no metadata structure
// (header cluster, L1, L2 and refcount tables and blocks, snapshot table and
// snapshot L1 tables, bitmap directory and tables, crypto header). Data only
// a snapshot maps does not count.
func qcow2GuestData(ctx context.Context, src *source, want span) (bool, error) {
	h, err := readQCOW2Header(ctx, src)
	if err != nil {
		return false, err
	}
	cs := h.clusterSize()
	meta := []span{
		{0, cs},
		{int64(h.l1Offset), int64(h.l1Offset) + int64(h.l1Size)*8},
		{int64(h.refcountOffset), int64(h.refcountOffset) + int64(h.refcountClusters)*cs},
	}
	// The header was accepted: these walks find nothing new to report.
	var scratch Info
	if err := qcow2Extensions(ctx, src, &scratch, h, &meta); err != nil {
		return false, err
	}
	if err := qcow2Snapshots(ctx, src, &scratch, h, &meta); err != nil {
		return false, err
	}
	for _, m := range meta {
		if m.overlaps(want) {
			return false, nil
		}
	}
	// Refcount blocks.
	rt, err := readTable(ctx, src, int64(h.refcountOffset), int64(h.refcountClusters)*cs)
	if err != nil {
		return false, err
	}
	for i := 0; i+8 <= len(rt); i += 8 {
		if o := int64(be.Uint64(rt[i:]) & qcow2OffsetMask); o != 0 && (span{o, o + cs}).overlaps(want) {
			return false, nil
		}
	}
	l1, err := readTable(ctx, src, int64(h.l1Offset), int64(h.l1Size)*8)
	if err != nil {
		return false, err
	}
	var l2s []int64
	for i := 0; i < len(l1); i += 8 {
		o := int64(be.Uint64(l1[i:]) & qcow2OffsetMask)
		if o == 0 {
			continue
		}
		if (span{o, o + cs}).overlaps(want) {
			return false, nil
		}
		l2s = append(l2s, o)
	}
	entry := int64(8)
	if h.extendedL2() {
		entry = 16
	}
	sub := cs / 32
	csizeShift := 62 - (h.clusterBits - 8)
	csizeMask := uint64(1)<<(h.clusterBits-8) - 1
	var cover coverage
	for _, o := range l2s {
		l2, err := readTable(ctx, src, o, cs)
		if err != nil {
			return false, err
		}
		for i := int64(0); i+entry <= cs; i += entry {
			e := be.Uint64(l2[i:])
			switch {
			case e&qcow2Compressed != 0:
				coff := int64(e & (1<<csizeShift - 1))
				n := int64((e>>csizeShift)&csizeMask+1)*512 - coff&511
				cover.add(span{coff, coff + n})
			case e&qcow2OffsetMask == 0 || int64(e&qcow2OffsetMask)%cs != 0:
			case h.extendedL2():
				base := int64(e & qcow2OffsetMask)
				bm := be.Uint64(l2[i+8:])
				for s := int64(0); s < 32; s++ {
					if bm&(1<<s) != 0 && bm&(1<<(32+s)) == 0 {
						cover.add(span{base + s*sub, base + (s+1)*sub})
					}
				}
			case e&qcow2ZeroFlag == 0:
				base := int64(e & qcow2OffsetMask)
				cover.add(span{base, base + cs})
			}
		}
		if cover.covers(want) {
			return true, nil
		}
	}
	return false, nil
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
