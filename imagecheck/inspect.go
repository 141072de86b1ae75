package imagecheck

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"os"
)

// probeSize is how much QEMU reads to probe a format (BLOCK_PROBE_BUF_SIZE).
const probeSize = 2048

var (
	be = binary.BigEndian
	le = binary.LittleEndian
)

// Inspect reads the headers of the image in r, which is size bytes long, and
// reports what it found. It returns an error only when the image could not be
// read (I/O failure, cancelled ctx, read limit); findings about the content,
// however bad, are reported in Info.Defects for Check to judge.
func Inspect(ctx context.Context, r io.ReaderAt, size int64) (*Info, error) {
	if size < 0 {
		return nil, fmt.Errorf("imagecheck: negative image size %d", size)
	}
	src := newSource(r, size)
	info := &Info{FileSize: size}
	err := inspect(ctx, src, info)
	info.BytesRead = src.read
	if err != nil {
		return info, err
	}
	return info, nil
}

// InspectFile inspects the image at path. Only path itself is opened.
func InspectFile(ctx context.Context, path string) (*Info, error) {
	f, size, err := openImage(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return Inspect(ctx, f, size)
}

// openImage opens a regular file read-only; devices, FIFOs and directories
// are refused before any read.
func openImage(path string) (*os.File, int64, error) {
	f, err := os.OpenFile(path, os.O_RDONLY|syscallNoFollowCtty, 0)
	if err != nil {
		return nil, 0, err
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, 0, err
	}
	if !st.Mode().IsRegular() {
		f.Close()
		return nil, 0, &os.PathError{Op: "open", Path: path, Err: errors.New("not a regular file")}
	}
	return f, st.Size(), nil
}

// containerOrder fixes the order in which formats are reported.
var containerOrder = []Format{QCOW2, QCOW, QED, VMDK, VPC, VHDX, VDI, LUKS, Bochs, Parallels, Cloop}

func inspect(ctx context.Context, src *source, info *Info) error {
	if src.size == 0 {
		// QEMU opens empty files as raw without probing.
		info.Formats = []Format{Raw}
		info.Format = Raw
		return nil
	}
	head, err := src.readPadded(ctx, 0, probeSize)
	if err != nil {
		return err
	}
	claimed := probeQEMU(head)
	found := map[Format]bool{}
	for _, f := range claimed {
		found[f] = true
	}
	// Signatures QEMU's probe does not see but the content carries.
	if string(head[:6]) == "LUKS\xba\xbe" {
		found[LUKS] = true
	}
	if src.size >= 512 && !found[VPC] {
		tail, err := src.readAt(ctx, src.size-512, 512)
		if err != nil {
			return err
		}
		if string(tail[:8]) == "conectix" {
			found[VPC] = true
		}
	}
	if len(claimed) == 0 {
		info.Formats = append(info.Formats, Raw)
	}
	var containers []Format
	for _, f := range containerOrder {
		if found[f] {
			info.addFormat(f)
			containers = append(containers, f)
		}
	}
	iso, err := detectISO(ctx, src)
	if err != nil {
		return err
	}
	gpt, err := detectGPT(ctx, src)
	if err != nil {
		return err
	}
	layouts := []layoutHit{iso, gpt}
	if len(containers) == 0 && !gpt.found() && detectMBR(head) {
		layouts = append(layouts, layoutHit{format: MBR, at: span{0, 512}})
	}

	switch len(containers) {
	case 0:
		addLayouts(info, layouts)
		info.Format = Raw
		if iso.found() {
			info.Format = ISO
		}
		info.VirtualSize = roundUp512(src.size)
		if iso.found() {
			return runParser(ctx, src, info, inspectISO)
		}
		return nil
	case 1:
		info.Format = containers[0]
		if err := runParser(ctx, src, info, parsers[info.Format]); err != nil {
			return err
		}
		return attributeLayouts(ctx, src, info, layouts)
	default:
		// A polyglot: Check refuses it whatever it is, so its headers are
		// not worth reading.
		addLayouts(info, layouts)
		return nil
	}
}

// span is the byte range [off, end) of the file.
type span struct{ off, end int64 }

func (s span) overlaps(o span) bool { return s.off < o.end && o.off < s.end }

// coverage collects the spans of the file a container hands to the guest
// as they are, to decide whether they cover a (small) span of interest.
type coverage struct{ spans []span }

func (c *coverage) add(s span) { c.spans = append(c.spans, s) }

// covers reports whether the union of the spans added contains want.
func (c *coverage) covers(want span) bool {
	for at := want.off; at < want.end; {
		next := at
		for _, s := range c.spans {
			if s.off <= at && s.end > next {
				next = s.end
			}
		}
		if next == at {
			return false
		}
		at = next
	}
	return true
}

// readTable reads n bytes at off the way QEMU reads a table: zeros past the
// end of the file. It refuses (ErrReadLimit) a table the read budget could
// not serve, before allocating anything.
func readTable(ctx context.Context, src *source, off, n int64) ([]byte, error) {
	if off < 0 || n < 0 {
		return nil, errShort
	}
	if n > src.limit-src.read {
		return nil, fmt.Errorf("%w: a table of %d bytes at %d", ErrReadLimit, n, off)
	}
	if off >= src.size {
		return make([]byte, n), nil
	}
	return src.readPadded(ctx, off, n)
}

// layoutHit is a raw layout signature found in the file: an ISO 9660 or
// UDF volume recognition sequence, a GPT header or an MBR.
type layoutHit struct {
	format Format
	// at holds the bytes that make the signature.
	at span
}

func (l layoutHit) found() bool { return l.format != "" }

func addLayouts(info *Info, layouts []layoutHit) {
	for _, l := range layouts {
		if !l.found() {
			continue
		}
		info.addFormat(l.format)
		if l.format == GPT || l.format == MBR {
			if info.PartitionTable == "" {
				info.PartitionTable = string(l.format)
			}
		}
	}
}

// guestData tells, for a container format, whether a span of the file is
// guest data: bytes the container maps into the guest's disk as they are,
// outside every metadata structure.
var guestData map[Format]func(context.Context, *source, span) (bool, error)

func init() {
	guestData = map[Format]func(context.Context, *source, span) (bool, error){
		QCOW2: qcow2GuestData,
		QED:   qedGuestData,
		VMDK:  vmdkGuestData,
		VPC:   vpcGuestData,
		VHDX:  vhdxGuestData,
		VDI:   vdiGuestData,
		LUKS:  luksGuestData,
	}
}

// attributeLayouts decides, for a file holding one container, whether each
// raw layout signature in it is the container's guest data (a guest may
// write a GPT or an ISO image anywhere in its disk, and with small clusters
// its data lands at any file offset) or a second structure the container
// does not account for: bytes outside every allocated cluster, or inside
// the container's own metadata. Only the latter make a polyglot. A
// signature that cannot be attributed within the read budget counts as a
// polyglot.
func attributeLayouts(ctx context.Context, src *source, info *Info, layouts []layoutHit) error {
	for _, l := range layouts {
		if !l.found() {
			continue
		}
		mapped := guestData[info.Format]
		if len(info.Defects) > 0 || mapped == nil {
			addLayouts(info, []layoutHit{l})
			continue
		}
		ok, err := mapped(ctx, src, l.at)
		if errors.Is(err, ErrReadLimit) || errors.Is(err, errShort) {
			ok, err = false, nil
		}
		if err != nil {
			return err
		}
		if !ok {
			addLayouts(info, []layoutHit{l})
		}
	}
	return nil
}

// runParser runs parse and turns a read past the end of the image into a
// truncation finding: headers that point outside the file are a property of
// the image, not an I/O failure.
func runParser(ctx context.Context, src *source, info *Info, parse func(context.Context, *source, *Info) error) error {
	err := parse(ctx, src, info)
	if errors.Is(err, errShort) {
		info.defect(info.Format, ReasonTruncated, "a header points past the end of the file")
		return nil
	}
	return err
}

var parsers map[Format]func(context.Context, *source, *Info) error

func init() {
	parsers = map[Format]func(context.Context, *source, *Info) error{
		QCOW2:     inspectQCOW2,
		QCOW:      inspectQCOW1,
		QED:       inspectQED,
		VMDK:      inspectVMDK,
		VPC:       inspectVPC,
		VHDX:      inspectVHDX,
		VDI:       inspectVDI,
		LUKS:      inspectLUKS,
		Bochs:     inspectRefused,
		Parallels: inspectRefused,
		Cloop:     inspectRefused,
	}
}

// probeQEMU returns the formats whose QEMU driver would claim a file whose
// first 2048 bytes (zero padded) are head, following each driver's
// .bdrv_probe. Raw is never returned: it claims what nobody else does.
func probeQEMU(head []byte) []Format {
	var out []Format
	if be.Uint32(head) == qcowMagic {
		switch v := be.Uint32(head[4:]); {
		case v >= 2:
			out = append(out, QCOW2)
		case v == 1:
			out = append(out, QCOW)
		}
	}
	if le.Uint32(head) == qedMagic {
		out = append(out, QED)
	}
	if probeVMDK(head) {
		out = append(out, VMDK)
	}
	if string(head[:8]) == "conectix" {
		out = append(out, VPC)
	}
	if string(head[:8]) == "vhdxfile" {
		out = append(out, VHDX)
	}
	if le.Uint32(head[0x40:]) == vdiSignature {
		out = append(out, VDI)
	}
	if string(head[:6]) == "LUKS\xba\xbe" && be.Uint16(head[6:]) == 1 {
		out = append(out, LUKS)
	}
	if probeBochs(head) {
		out = append(out, Bochs)
	}
	if m := string(head[:16]); (m == "WithoutFreeSpace" || m == "WithouFreSpacExt") && le.Uint32(head[16:]) == 2 {
		out = append(out, Parallels)
	}
	if bytes.HasPrefix(head, []byte(cloopMagic)) {
		out = append(out, Cloop)
	}
	return out
}

const cloopMagic = "#!/bin/sh\n#V2.0 Format\nmodprobe cloop file=$0 && mount -r -t iso9660 /dev/cloop $1\n"

// cstr returns b up to its first NUL, as C's string functions see it.
func cstr(b []byte) string {
	if i := bytes.IndexByte(b, 0); i >= 0 {
		return string(b[:i])
	}
	return string(b)
}

func probeBochs(head []byte) bool {
	v := le.Uint32(head[64:])
	return cstr(head[:32]) == "Bochs Virtual HD Image" && cstr(head[32:48]) == "Redolog" &&
		cstr(head[48:64]) == "Growing" && (v == 0x00020000 || v == 0x00010000)
}

// roundUp512 is the length QEMU reports for a file: whole sectors, the last
// one padded.
func roundUp512(n int64) int64 { return (n + 511) &^ 511 }

// inspectRefused handles formats that are recognised only to be refused.
func inspectRefused(_ context.Context, src *source, info *Info) error {
	info.VirtualSize = 0
	info.defect(info.Format, ReasonFormatNotAllowed, "%s images are recognised but not supported", info.Format)
	return nil
}

// detectISO looks for an ISO 9660 or UDF volume recognition sequence at
// sector 16 (2048-byte sectors).
func detectISO(ctx context.Context, src *source) (layoutHit, error) {
	const start, sector, maxSectors = 16 * 2048, 2048, 8
	if src.size < start+sector {
		return layoutHit{}, nil
	}
	hit := func(i int64) layoutHit { return layoutHit{format: ISO, at: span{start, start + (i+1)*sector}} }
	bea := false
	for i := int64(0); i < maxSectors && start+(i+1)*sector <= src.size; i++ {
		d, err := src.readAt(ctx, start+i*sector, 7)
		if err != nil {
			return layoutHit{}, err
		}
		if d[6] != 1 && string(d[1:6]) == "CD001" {
			return layoutHit{}, nil
		}
		switch string(d[1:6]) {
		case "CD001":
			if i == 0 {
				return hit(i), nil
			}
		case "BEA01":
			bea = true
		case "NSR02", "NSR03":
			if bea {
				return hit(i), nil
			}
		case "BOOT2", "CDW02", "TEA01":
		default:
			return layoutHit{}, nil
		}
	}
	return layoutHit{}, nil
}

// inspectISO reads the primary volume descriptor's volume space size.
func inspectISO(ctx context.Context, src *source, info *Info) error {
	pvd, err := src.readAt(ctx, 16*2048, 2048)
	if err != nil {
		return err
	}
	if pvd[0] != 1 || string(pvd[1:6]) != "CD001" {
		return nil // UDF only: its size lives in the partition descriptors
	}
	blocks := int64(le.Uint32(pvd[80:]))
	blockSize := int64(le.Uint16(pvd[128:]))
	if int64(be.Uint32(pvd[84:])) != blocks || int64(be.Uint16(pvd[130:])) != blockSize {
		info.defect(ISO, ReasonCorrupt, "primary volume descriptor: little- and big-endian copies differ")
		return nil
	}
	vol := blocks * blockSize
	info.addSize(vol)
	if vol > src.size {
		info.defect(ISO, ReasonTruncated, "volume space is %d bytes, file is %d", vol, src.size)
	}
	return nil
}

// detectGPT looks for a GPT header with a valid CRC at LBA 1 for 512- and
// 4096-byte sectors.
func detectGPT(ctx context.Context, src *source) (layoutHit, error) {
	for _, lba1 := range []int64{512, 4096} {
		if src.size < lba1+92 {
			continue
		}
		h, err := src.readAt(ctx, lba1, 92)
		if err != nil {
			return layoutHit{}, err
		}
		if string(h[:8]) != "EFI PART" {
			continue
		}
		hs := int64(le.Uint32(h[12:]))
		if hs < 92 || hs > 512 || src.size < lba1+hs {
			continue
		}
		full, err := src.readAt(ctx, lba1, hs)
		if err != nil {
			return layoutHit{}, err
		}
		want := le.Uint32(full[16:])
		clear(full[16:20])
		if crc32.ChecksumIEEE(full) == want {
			return layoutHit{format: GPT, at: span{lba1, lba1 + hs}}, nil
		}
	}
	return layoutHit{}, nil
}

// detectMBR recognises a DOS partition table: the boot signature and four
// entries with valid status bytes, at least one of them used.
func detectMBR(head []byte) bool {
	if head[510] != 0x55 || head[511] != 0xaa {
		return false
	}
	used := false
	for i := 0; i < 4; i++ {
		e := head[446+16*i : 446+16*(i+1)]
		if e[0] != 0 && e[0] != 0x80 {
			return false
		}
		if e[4] != 0 {
			used = true
		}
	}
	return used
}
