package imagecheck

import (
	"bytes"
	"encoding/binary"
	"hash/crc32"
	"strings"
)

// Builders of minimal images, written byte by byte from the specifications,
// used by the hostile tests and as fuzz seeds.

func put32be(b []byte, off int, v uint32) { binary.BigEndian.PutUint32(b[off:], v) }
func put64be(b []byte, off int, v uint64) { binary.BigEndian.PutUint64(b[off:], v) }
func put16be(b []byte, off int, v uint16) { binary.BigEndian.PutUint16(b[off:], v) }
func put32le(b []byte, off int, v uint32) { binary.LittleEndian.PutUint32(b[off:], v) }
func put64le(b []byte, off int, v uint64) { binary.LittleEndian.PutUint64(b[off:], v) }

// qcow2Ext is one header extension for craftQCOW2.
type qcow2Ext struct {
	typ  uint32
	data []byte
}

// craftQCOW2 builds a valid, empty qcow2 v3 image of size bytes with 64 KiB
// clusters: header, refcount table, refcount block, L1 table.
func craftQCOW2(size uint64, exts ...qcow2Ext) []byte {
	const cluster = 1 << 16
	l1 := (size + (1 << 29) - 1) >> 29
	b := make([]byte, 4*cluster)
	put32be(b, 0, qcowMagic)
	put32be(b, 4, 3)
	put32be(b, 20, 16)
	put64be(b, 24, size)
	put32be(b, 36, uint32(l1))
	put64be(b, 40, 3*cluster)
	put64be(b, 48, cluster)
	put32be(b, 56, 1)
	put32be(b, 96, 4)
	put32be(b, 100, 112)
	off := 112
	for _, e := range exts {
		put32be(b, off, e.typ)
		put32be(b, off+4, uint32(len(e.data)))
		copy(b[off+8:], e.data)
		off += 8 + (len(e.data)+7)&^7
	}
	put64be(b, cluster, 2*cluster) // refcount table -> refcount block
	for i := 0; i < 4; i++ {
		put16be(b, 2*cluster+2*i, 1)
	}
	return b
}

// craftVMDK builds a monolithicSparse VMDK with the given embedded
// descriptor (empty means the usual one), capacity in sectors.
func craftVMDK(capacity uint64, desc string) []byte {
	if desc == "" {
		desc = vmdkDesc("monolithicSparse", `RW 2048 SPARSE "disk.vmdk"`)
	}
	b := make([]byte, 128*512)
	put32be(b, 0, vmdk4Magic)
	put32le(b, 4, 1)
	put32le(b, 8, 3) // NL detect, redundant GD
	put64le(b, 12, capacity)
	put64le(b, 20, 128)
	put64le(b, 28, 1)
	put64le(b, 36, 20)
	put32le(b, 44, 512)
	put64le(b, 48, 21)
	put64le(b, 56, 25)
	put64le(b, 64, 128)
	copy(b[73:], "\n \r\n")
	copy(b[512:512+20*512], desc)
	return b
}

func vmdkDesc(createType string, extents ...string) string {
	return "# Disk DescriptorFile\nversion=1\nCID=1234abcd\nparentCID=ffffffff\ncreateType=\"" + createType +
		"\"\n\n# Extent description\n" + strings.Join(extents, "\n") + "\n\n# The Disk Data Base\n#DDB\n\nddb.virtualHWVersion = \"4\"\n"
}

// withFooter turns a sparse VMDK into the streamOptimized layout whose
// header defers to a footer: grain directory at end, then footer marker,
// footer header, end-of-stream marker.
func withFooter(img []byte, patchFooter func(hdr []byte)) []byte {
	out := bytes.Clone(img)
	put32le(out, 8, 3|vmdkFlagCompress|1<<17)
	put16le(out, 77, 1)
	hdr := bytes.Clone(out[:512])
	put64le(out, 56, vmdkGDAtEnd)
	tail := make([]byte, 1536)
	put32le(tail, 12, vmdkMarkerFooter)
	copy(tail[512:], hdr)
	if patchFooter != nil {
		patchFooter(tail[512:1024])
	}
	return append(out, tail...)
}

func put16le(b []byte, off int, v uint16) { binary.LittleEndian.PutUint16(b[off:], v) }

// vhdFooter builds a VHD footer of the given type and sizes, checksummed.
func vhdFooter(diskType uint32, size uint64, creator string, dataOffset uint64) []byte {
	f := make([]byte, 512)
	copy(f, "conectix")
	put32be(f, 8, 2)
	put32be(f, 12, 0x00010000)
	put64be(f, 16, dataOffset)
	copy(f[28:], creator)
	put64be(f, 40, size)
	put64be(f, 48, size)
	// CHS that matches size when possible (63 sectors, 16 heads).
	put16be(f, 56, uint16(min(size/512/(16*63), 65535)))
	f[58], f[59] = 16, 63
	put32be(f, 60, diskType)
	put32be(f, 64, vhdChecksum(f, 64))
	return f
}

// craftDynamicVHD builds a dynamic VHD: footer copy, dynamic header, BAT,
// footer. patchDyn may change the dynamic header before checksumming.
func craftDynamicVHD(size uint64, creator string, diskType uint32, patchDyn func([]byte)) []byte {
	foot := vhdFooter(diskType, size, creator, 512)
	entries := (size + (2<<20 - 1)) / (2 << 20)
	bat := (entries*4 + 511) &^ 511
	b := make([]byte, 0, 1536+bat+512)
	b = append(b, foot...)
	dyn := make([]byte, 1024)
	copy(dyn, "cxsparse")
	put64be(dyn, 8, ^uint64(0))
	put64be(dyn, 16, 1536)
	put32be(dyn, 24, 0x00010000)
	put32be(dyn, 28, uint32(entries))
	put32be(dyn, 32, 2<<20)
	if patchDyn != nil {
		patchDyn(dyn)
	}
	put32be(dyn, 36, vhdChecksum(dyn, 36))
	b = append(b, dyn...)
	b = append(b, bytes.Repeat([]byte{0xff}, int(bat))...)
	return append(b, foot...)
}

// craftVDI builds a dynamic VDI header with an empty block map.
func craftVDI(diskSize uint64) []byte {
	blocks := (diskSize + (1<<20 - 1)) >> 20
	b := make([]byte, 512+((blocks*4+511)&^511))
	copy(b, "<<< QEMU VM Virtual Disk Image >>>\n")
	put32le(b, 0x40, vdiSignature)
	put32le(b, 0x44, vdiVersion11)
	put32le(b, 0x48, 0x190)
	put32le(b, 0x4c, 1)
	put32le(b, 0x154, 512)
	put32le(b, 0x158, uint32(len(b)))
	put32le(b, 0x168, 512)
	put64le(b, 0x170, diskSize)
	put32le(b, 0x178, 1<<20)
	put32le(b, 0x180, uint32(blocks))
	for i := 0; i < int(blocks); i++ {
		put32le(b, 512+4*i, 0xffffffff)
	}
	return b
}

// craftQED builds an empty QED image.
func craftQED(size uint64) []byte {
	const cluster = 64 << 10
	b := make([]byte, 2*cluster*4)
	put32le(b, 0, qedMagic)
	put32le(b, 4, cluster)
	put32le(b, 8, 4)
	put32le(b, 12, 1)
	put64le(b, 40, cluster)
	put64le(b, 48, size)
	return b
}

// craftLUKS builds a LUKS1 header with one active key slot.
func craftLUKS(payloadSectors uint32, fileSize int) []byte {
	b := make([]byte, fileSize)
	copy(b, "LUKS\xba\xbe")
	put16be(b, 6, 1)
	copy(b[8:], "aes")
	copy(b[40:], "xts-plain64")
	copy(b[72:], "sha256")
	put32be(b, 104, payloadSectors)
	put32be(b, 108, 32)
	put32be(b, 164, 1000)
	for i := 0; i < 8; i++ {
		s := 208 + 48*i
		put32be(b, s, 0x0000dead)
		put32be(b, s+4, 100000)
		put32be(b, s+40, uint32(8+i*256))
		put32be(b, s+44, luksStripes)
	}
	put32be(b, 208, 0x00ac71f3)
	return b
}

// craftISO builds an ISO 9660 volume descriptor set of blocks 2048-byte
// blocks.
func craftISO(blocks uint32) []byte {
	b := make([]byte, int(blocks)*2048)
	pvd := b[16*2048:]
	pvd[0] = 1
	copy(pvd[1:], "CD001")
	pvd[6] = 1
	put32le(pvd, 80, blocks)
	put32be(pvd, 84, blocks)
	put16le(pvd, 128, 2048)
	put16be(pvd, 130, 2048)
	term := b[17*2048:]
	term[0] = 255
	copy(term[1:], "CD001")
	term[6] = 1
	return b
}

// addGPT writes a protective MBR and a primary GPT header (no entries).
func addGPT(b []byte) []byte {
	b = bytes.Clone(b)
	b[446+4] = 0xee
	b[510], b[511] = 0x55, 0xaa
	h := b[512 : 512+92]
	copy(h, "EFI PART")
	put32le(h, 8, 0x00010000)
	put32le(h, 12, 92)
	put64le(h, 24, 1)
	put64le(h, 32, uint64(len(b)/512-1))
	put32le(h, 16, crc32.ChecksumIEEE(h))
	return b
}

func patched(b []byte, edits ...func([]byte)) []byte {
	b = bytes.Clone(b)
	for _, e := range edits {
		e(b)
	}
	return b
}
