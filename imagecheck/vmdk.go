package imagecheck

import (
	"context"
	"fmt"
	"math"
	"strconv"
	"strings"
)

const (
	vmdk4Magic = 0x4b444d56 // "KDMV"
	vmdk3Magic = 0x434f5744 // "COWD"

	vmdkFlagRGD      = 1 << 1
	vmdkFlagCompress = 1 << 16
	vmdkFlagMarker   = 1 << 17
	vmdkGDAtEnd      = math.MaxUint64

	vmdkCompressionDeflate = 1

	vmdkMarkerEOS    = 0
	vmdkMarkerFooter = 3

	// vmdkMaxTableSector keeps table offsets below 2^62 bytes.
	vmdkMaxTableSector = 1<<53 - 1
	// vmdkParentScan is how far past 0x200 QEMU looks for a parent hint
	// (DESC_SIZE).
	vmdkParentScan = 20 * 512
	// vmdkMaxDescriptor bounds the descriptor text we read.
	vmdkMaxDescriptor = 64 << 10
)

// vmdkSafeCreateTypes are the create types whose data lives in the image
// file itself.
var vmdkSafeCreateTypes = map[string]bool{"monolithicSparse": true, "streamOptimized": true}

// probeVMDK is vmdk_probe: a sparse magic, or a text descriptor whose first
// line that is neither a comment nor blank is "version=1|2|3".
func probeVMDK(buf []byte) bool {
	if m := be.Uint32(buf); m == vmdk4Magic || m == vmdk3Magic {
		return true
	}
	p, end := 0, len(buf)
	for p < end {
		switch buf[p] {
		case '#':
			for p < end && buf[p] != '\n' {
				p++
			}
			p++
			continue
		case ' ':
			for p < end && buf[p] == ' ' {
				p++
			}
			if p < end && buf[p] == '\r' {
				p++
			}
			if p == end || buf[p] != '\n' {
				return false
			}
			p++
			continue
		}
		rest := string(buf[p:])
		for _, v := range []string{"1", "2", "3"} {
			if strings.HasPrefix(rest, "version="+v+"\n") || strings.HasPrefix(rest, "version="+v+"\r\n") {
				return true
			}
		}
		return false
	}
	return false
}

// vmdk4Header is the sparse extent header (after the magic), little-endian.
type vmdk4Header struct {
	version, flags              uint32
	capacity, granularity       uint64
	descOffset, descSize        uint64
	gtesPerGT                   uint32
	rgdOffset, gdOffset, grains uint64
	compress                    uint16
}

func parseVMDK4Header(b []byte) vmdk4Header {
	return vmdk4Header{
		version: le.Uint32(b[4:]), flags: le.Uint32(b[8:]),
		capacity: le.Uint64(b[12:]), granularity: le.Uint64(b[20:]),
		descOffset: le.Uint64(b[28:]), descSize: le.Uint64(b[36:]),
		gtesPerGT: le.Uint32(b[44:]), rgdOffset: le.Uint64(b[48:]),
		gdOffset: le.Uint64(b[56:]), grains: le.Uint64(b[64:]),
		compress: le.Uint16(b[77:]),
	}
}

func inspectVMDK(ctx context.Context, src *source, info *Info) error {
	head, err := src.readPadded(ctx, 0, 512)
	if err != nil {
		return err
	}
	switch be.Uint32(head) {
	case vmdk4Magic:
		return inspectVMDK4(ctx, src, info, head)
	case vmdk3Magic:
		info.Version = "COWD"
		info.VirtualSize = int64(le.Uint32(head[12:])) * 512
		info.addSize(info.VirtualSize)
		info.defect(VMDK, ReasonUnsupportedVersion, "VMDK3 (COWD) sparse images carry a parent file name QEMU ignores")
		return vmdkScanParent(ctx, src, info, 0x200)
	default:
		return inspectVMDKDescriptorFile(ctx, src, info, 0)
	}
}

func inspectVMDK4(ctx context.Context, src *source, info *Info, head []byte) error {
	const f = VMDK
	h := parseVMDK4Header(head)
	if h.capacity == 0 && h.descOffset != 0 {
		// QEMU then treats the embedded descriptor as a descriptor file and
		// opens the files its extents name.
		return inspectVMDKDescriptorFile(ctx, src, info, h.descOffset)
	}
	hdr := h
	if h.gdOffset == vmdkGDAtEnd {
		if h.capacity != 0 {
			info.addSize(vmdkBytes(h.capacity))
		}
		foot, err := vmdkFooter(ctx, src)
		if err != nil {
			return err
		}
		if foot == nil {
			info.defect(f, ReasonCorrupt, "grain directory at end but no valid footer")
			return nil
		}
		h = *foot
		if h.gdOffset == vmdkGDAtEnd {
			info.defect(f, ReasonCorrupt, "the footer too puts the grain directory at the end")
			return nil
		}
		if h.descOffset != hdr.descOffset || h.descSize != hdr.descSize {
			info.defect(f, ReasonCorrupt, "descriptor differs between header (sector %d, %d sectors) and footer (sector %d, %d sectors)",
				hdr.descOffset, hdr.descSize, h.descOffset, h.descSize)
			return nil
		}
		info.Features = append(info.Features, "footer")
	}
	info.Version = fmt.Sprint(h.version)
	info.ClusterSize = int64(min(h.granularity, 1<<40)) * 512
	info.VirtualSize = vmdkBytes(h.capacity)
	info.addSize(info.VirtualSize)
	if h.capacity > math.MaxInt64/512 {
		info.defect(f, ReasonTooLarge, "capacity of %d sectors", h.capacity)
	}
	// QEMU decides compression by the algorithm field, not the flag.
	compressed := h.compress == vmdkCompressionDeflate
	switch {
	case h.version > 3:
		info.defect(f, ReasonUnsupportedVersion, "VMDK version %d", h.version)
	case h.version == 3 && !compressed:
		info.defect(f, ReasonUnsupportedVersion, "VMDK version 3 without compression is read-only in QEMU")
	}
	l1Sectors := uint64(h.gtesPerGT) * h.granularity
	switch {
	case h.gtesPerGT > 512:
		info.defect(f, ReasonCorrupt, "%d grain table entries per table", h.gtesPerGT)
	case l1Sectors == 0 || h.granularity > 0x200000:
		info.defect(f, ReasonCorrupt, "granularity %d with %d entries per table", h.granularity, h.gtesPerGT)
	case h.granularity&(h.granularity-1) != 0:
		// QEMU opens it, but the specification wants a power of two and
		// QEMU's reads of compressed grains need one.
		info.defect(f, ReasonCorrupt, "granularity %d not a power of two", h.granularity)
	case (h.capacity+l1Sectors-1)/l1Sectors > 32<<20:
		info.defect(f, ReasonCorrupt, "grain directory too large")
	}
	if h.grains > uint64(roundUp512(src.size)/512) {
		info.defect(f, ReasonTruncated, "grains start at sector %d, file has %d", h.grains, roundUp512(src.size)/512)
	}
	// QEMU reads the grain directories at byte offsets it keeps in an
	// int64; past the end of the file it reads zeros.
	if h.gdOffset > vmdkMaxTableSector || (h.flags&vmdkFlagRGD != 0 && h.rgdOffset > vmdkMaxTableSector) {
		info.defect(f, ReasonCorrupt, "grain directory at sector %d or %d", h.gdOffset, h.rgdOffset)
	}
	if compressed {
		info.Features = append(info.Features, "compressed")
		if h.flags&vmdkFlagMarker == 0 {
			// QEMU would read each compressed grain without its marker.
			info.defect(f, ReasonCorrupt, "compressed grains without grain markers")
		}
	}

	// The embedded descriptor: its create type and extents must describe a
	// self-contained image.
	if h.descOffset != 0 && h.descSize != 0 {
		off, n := vmdkBytes(h.descOffset), vmdkBytes(min(h.descSize, vmdkMaxDescriptor/512))
		if off >= src.size {
			info.defect(f, ReasonTruncated, "descriptor at %d beyond end of file", off)
		} else {
			desc, err := src.readAt(ctx, off, min(n, src.size-off))
			if err != nil {
				return err
			}
			d := parseVMDKDescriptor(cstr(desc))
			info.CreateType = d.createType
			info.Extents = d.extents
			vmdkDescriptorDefects(info, d, false)
			if len(d.extents) != 1 {
				info.defect(f, ReasonExternalExtent, "%d extents in a sparse image", len(d.extents))
			} else if e := d.extents[0]; e.Type != "SPARSE" || strings.ContainsAny(e.FileName, `/\`) || e.FileName == ".." {
				info.defect(f, ReasonExternalExtent, "extent %s %q is not the image itself", e.Type, e.FileName)
			} else if e.Sectors != int64(h.capacity) {
				info.defect(f, ReasonCorrupt, "extent of %d sectors, header capacity %d", e.Sectors, h.capacity)
			}
			if d.createType != "" && !vmdkSafeCreateTypes[d.createType] {
				info.defect(f, ReasonUnsafeCreateType, "create type %q", d.createType)
			}
			if d.createType == "streamOptimized" && !compressed {
				info.defect(f, ReasonCorrupt, "streamOptimized descriptor on an uncompressed extent")
			}
			if err := vmdkScanParent(ctx, src, info, off); err != nil {
				return err
			}
		}
	}
	if err := vmdkScanParent(ctx, src, info, 0x200); err != nil {
		return err
	}
	return vmdkCIDs(ctx, src, info)
}

// vmdkCIDs mirrors vmdk_read_cid, which QEMU calls for the CID and the
// parent CID of every sparse image: the first "CID" and "parentCID" in the
// descriptor area, skipping one character, must start a hexadecimal number.
func vmdkCIDs(ctx context.Context, src *source, info *Info) error {
	b, err := readTable(ctx, src, 0x200, vmdkParentScan)
	if err != nil {
		return err
	}
	text := cstr(b[:vmdkParentScan-1])
	for _, name := range []string{"CID", "parentCID"} {
		i := strings.Index(text, name)
		if i < 0 {
			info.defect(VMDK, ReasonCorrupt, "descriptor has no %s", name)
			continue
		}
		if !scansHex(text[min(len(text), i+len(name)+1):]) {
			info.defect(VMDK, ReasonCorrupt, "descriptor %s is not a hexadecimal number", name)
		}
	}
	return nil
}

// scansHex reports whether sscanf("%x") converts something at the start
// of s: optional white space and sign, then a hexadecimal digit.
func scansHex(s string) bool {
	c := cscanner{s: s}
	c.space()
	if c.i < len(s) && (s[c.i] == '+' || s[c.i] == '-') {
		c.i++
	}
	return c.i < len(s) && strings.IndexByte("0123456789abcdefABCDEF", s[c.i]) >= 0
}

func vmdkBytes(sectors uint64) int64 {
	if sectors > math.MaxInt64/512 {
		return math.MaxInt64
	}
	return int64(sectors) * 512
}

// vmdkFooter reads the streamOptimized footer the way vmdk_open_vmdk4 does:
// footer marker, footer header, end-of-stream marker in the last 1536 bytes.
func vmdkFooter(ctx context.Context, src *source) (*vmdk4Header, error) {
	if src.size < 1536+512 {
		return nil, nil
	}
	// QEMU counts the file in whole sectors, the last one zero padded.
	b, err := src.readPadded(ctx, roundUp512(src.size)-1536, 1536)
	if err != nil {
		return nil, err
	}
	marker, hdr, eos := b[:512], b[512:1024], b[1024:]
	if be.Uint32(hdr) != vmdk4Magic || le.Uint32(marker[8:]) != 0 || le.Uint32(marker[12:]) != vmdkMarkerFooter ||
		le.Uint64(eos) != 0 || le.Uint32(eos[8:]) != 0 || le.Uint32(eos[12:]) != vmdkMarkerEOS {
		return nil, nil
	}
	h := parseVMDK4Header(hdr)
	return &h, nil
}

// vmdkScanParent mirrors vmdk_parent_open: any "parentFileNameHint" in the
// 10 KiB after off (up to a NUL) becomes a backing file, and a parentCID
// other than ffffffff is a parent link.
func vmdkScanParent(ctx context.Context, src *source, info *Info, off int64) error {
	if off >= src.size {
		return nil
	}
	b, err := src.readAt(ctx, off, min(vmdkParentScan, src.size-off))
	if err != nil {
		return err
	}
	text := cstr(b)
	if i := strings.Index(text, "parentFileNameHint"); i >= 0 {
		name := text[i+len("parentFileNameHint"):]
		name = strings.TrimPrefix(name, `="`)
		if j := strings.IndexByte(name, '"'); j >= 0 {
			name = name[:j]
		}
		if info.BackingFile == "" {
			info.BackingFile = name
		}
		info.defect(VMDK, ReasonBackingFile, "parentFileNameHint %q", name)
	}
	if i := strings.Index(text, "parentCID"); i >= 0 {
		v := strings.TrimPrefix(text[i+len("parentCID"):], "=")
		j := 0
		for j < len(v) && j < 8 && strings.IndexByte("0123456789abcdefABCDEF", v[j]) >= 0 {
			j++
		}
		if cid, err := strconv.ParseUint(v[:j], 16, 32); err == nil && cid != 0xffffffff {
			info.defect(VMDK, ReasonBackingFile, "parentCID %08x", cid)
		}
	}
	return nil
}

// inspectVMDKDescriptorFile handles text descriptors, standalone or at
// sector descSector of a sparse file with zero capacity. Their extents are
// separate files, so they are always refused; the facts are still reported.
func inspectVMDKDescriptorFile(ctx context.Context, src *source, info *Info, descSector uint64) error {
	const f = VMDK
	off := vmdkBytes(descSector)
	if off >= src.size {
		info.defect(f, ReasonTruncated, "descriptor at %d beyond end of file", off)
		return nil
	}
	b, err := src.readAt(ctx, off, min(vmdkMaxDescriptor, src.size-off))
	if err != nil {
		return err
	}
	d := parseVMDKDescriptor(cstr(b))
	info.CreateType = d.createType
	info.Extents = d.extents
	var total int64
	for _, e := range d.extents {
		if e.Access == "RW" && total <= math.MaxInt64/512-e.Sectors {
			total += e.Sectors
		}
	}
	info.VirtualSize = total * 512
	info.addSize(info.VirtualSize)
	vmdkDescriptorDefects(info, d, true)
	if !d.hasCreateType {
		info.defect(f, ReasonCorrupt, "descriptor without createType")
	} else if !vmdkSafeCreateTypes[d.createType] {
		info.defect(f, ReasonUnsafeCreateType, "create type %q", d.createType)
	}
	info.defect(f, ReasonExternalExtent, "descriptor file: its %d extent(s) are other files", len(d.extents))
	for _, e := range d.extents {
		info.defect(f, ReasonExternalExtent, "extent %s %s %q", e.Access, e.Type, e.FileName)
	}
	return vmdkScanParent(ctx, src, info, off)
}

func vmdkDescriptorDefects(info *Info, d vmdkDescriptor, _ bool) {
	for _, l := range d.invalid {
		info.defect(VMDK, ReasonCorrupt, "invalid extent line %q", l)
	}
}

type vmdkDescriptor struct {
	createType    string
	hasCreateType bool
	extents       []Extent
	invalid       []string
}

// parseVMDKDescriptor reads a descriptor as QEMU does: createType is the
// first occurrence of the word anywhere (even in a comment), and extents are
// scanned from every line start with sscanf's whitespace rules, which let an
// extent span lines. Lines QEMU skips (RDONLY, NOACCESS) are reported too.
func parseVMDKDescriptor(text string) vmdkDescriptor {
	var d vmdkDescriptor
	if i := strings.Index(text, "createType"); i >= 0 {
		v := text[i+len("createType"):]
		if len(v) > 2 {
			v = v[2:]
			if j := strings.IndexByte(v, '"'); j >= 0 && j < 128 {
				d.createType, d.hasCreateType = v[:j], true
			}
		}
	}
	for p := 0; p < len(text); {
		line := text[p:]
		if e, n, ok := scanExtent(line); n >= 4 {
			switch {
			case !ok:
				d.invalid = append(d.invalid, firstLine(line))
			case e.Sectors > 0:
				d.extents = append(d.extents, e)
			}
		}
		if i := strings.IndexByte(line, '\n'); i >= 0 {
			p += i + 1
		} else {
			break
		}
	}
	return d
}

func firstLine(s string) string {
	if i := strings.IndexAny(s, "\r\n"); i >= 0 {
		s = s[:i]
	}
	if len(s) > 80 {
		s = s[:80]
	}
	return s
}

var vmdkAccessModes = map[string]bool{"RW": true, "RDONLY": true, "NOACCESS": true}

// scanExtent emulates
//
//	sscanf(p, "%10s %" SCNd64 " %10s \"%511[^\n\r\"]\" %" SCNd64, ...)
//
// returning the conversions made and whether QEMU's follow-up checks pass
// (FLAT needs an offset, other types must not have one).
func scanExtent(s string) (Extent, int, bool) {
	var e Extent
	sc := cscanner{s: s}
	access, ok := sc.word(10)
	if !ok || !vmdkAccessModes[access] {
		return e, 0, false
	}
	e.Access = access
	if e.Sectors, ok = sc.int64(); !ok {
		return e, 1, false
	}
	if e.Type, ok = sc.word(10); !ok {
		return e, 2, false
	}
	sc.space()
	if !sc.lit('"') {
		return e, 3, false
	}
	if e.FileName, ok = sc.set(511, "\n\r\""); !ok || !sc.lit('"') {
		return e, 3, false
	}
	n := 4
	off, hasOff := sc.int64()
	if hasOff {
		n, e.Offset = 5, off
	}
	switch e.Type {
	case "FLAT":
		return e, n, n == 5 && off >= 0
	case "VMFS":
		return e, n, n == 4
	default:
		return e, n, n == 4
	}
}

// cscanner implements the few sscanf conversions QEMU's VMDK code uses.
type cscanner struct {
	s string
	i int
}

func isCSpace(c byte) bool { return c == ' ' || (c >= '\t' && c <= '\r') }

func (c *cscanner) space() {
	for c.i < len(c.s) && isCSpace(c.s[c.i]) {
		c.i++
	}
}

func (c *cscanner) word(width int) (string, bool) {
	c.space()
	start := c.i
	for c.i < len(c.s) && c.i-start < width && !isCSpace(c.s[c.i]) {
		c.i++
	}
	return c.s[start:c.i], c.i > start
}

func (c *cscanner) lit(b byte) bool {
	if c.i < len(c.s) && c.s[c.i] == b {
		c.i++
		return true
	}
	return false
}

func (c *cscanner) set(width int, exclude string) (string, bool) {
	start := c.i
	for c.i < len(c.s) && c.i-start < width && strings.IndexByte(exclude, c.s[c.i]) < 0 {
		c.i++
	}
	return c.s[start:c.i], c.i > start
}

// int64 parses like %lld: optional sign, decimal digits, saturating on
// overflow as glibc's strtoll does.
func (c *cscanner) int64() (int64, bool) {
	c.space()
	neg := false
	if c.i < len(c.s) && (c.s[c.i] == '+' || c.s[c.i] == '-') {
		neg = c.s[c.i] == '-'
		c.i++
	}
	start := c.i
	var v uint64
	over := false
	for c.i < len(c.s) && c.s[c.i] >= '0' && c.s[c.i] <= '9' {
		d := uint64(c.s[c.i] - '0')
		if v > (math.MaxUint64-d)/10 {
			over = true
		} else {
			v = v*10 + d
		}
		c.i++
	}
	if c.i == start {
		return 0, false
	}
	switch {
	case neg && (over || v > 1<<63):
		return math.MinInt64, true
	case neg:
		return -int64(v), true
	case over || v > math.MaxInt64:
		return math.MaxInt64, true
	}
	return int64(v), true
}

// vmdkGuestData reports whether want lies in grains of an uncompressed
// sparse extent, clear of the header, the descriptor and the grain
// directories and tables. Compressed grains are never counted as data.
func vmdkGuestData(ctx context.Context, src *source, want span) (bool, error) {
	head, err := src.readPadded(ctx, 0, 512)
	if err != nil {
		return false, err
	}
	if be.Uint32(head) != vmdk4Magic {
		return false, nil
	}
	h := parseVMDK4Header(head)
	if h.compress == vmdkCompressionDeflate || h.gdOffset == vmdkGDAtEnd || h.gtesPerGT == 0 || h.granularity == 0 {
		return false, nil
	}
	grain := int64(h.granularity) * 512
	gtBytes := int64(h.gtesPerGT) * 4
	gdEntries := int64((h.capacity + uint64(h.gtesPerGT)*h.granularity - 1) / (uint64(h.gtesPerGT) * h.granularity))
	if (span{0, vmdkBytes(h.grains)}).overlaps(want) {
		return false, nil
	}
	gd, err := readTable(ctx, src, vmdkBytes(h.gdOffset), gdEntries*4)
	if err != nil {
		return false, err
	}
	meta := []span{{vmdkBytes(h.gdOffset), vmdkBytes(h.gdOffset) + gdEntries*4}}
	if h.flags&vmdkFlagRGD != 0 {
		meta = append(meta, span{vmdkBytes(h.rgdOffset), vmdkBytes(h.rgdOffset) + gdEntries*4})
	}
	var cover coverage
	for i := int64(0); i < gdEntries; i++ {
		gtOff := vmdkBytes(uint64(le.Uint32(gd[4*i:])))
		if gtOff == 0 {
			continue
		}
		meta = append(meta, span{gtOff, gtOff + gtBytes})
		gt, err := readTable(ctx, src, gtOff, gtBytes)
		if err != nil {
			return false, err
		}
		for j := int64(0); j < int64(h.gtesPerGT); j++ {
			if e := int64(le.Uint32(gt[4*j:])); e > 1 {
				cover.add(span{e * 512, e*512 + grain})
			}
		}
	}
	for _, m := range meta {
		if m.overlaps(want) {
			return false, nil
		}
	}
	return cover.covers(want), nil
}
