package imagecheck

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/guestinject/guestinject/internal/testsupport/testimage"
)

// The header mutator takes valid images of every format, changes one header
// field at a time (to 0, 1, all ones, the largest and smallest signed
// values, one more, one less, a sector more or less, double, half, a random
// value, and single bits of flag fields) and compares the checker's
// verdict with QEMU's: `qemu-img info -f FORMAT` under DefaultQEMULimits,
// and for images the checker accepts a read through qemu-io at the start,
// the middle and the end. The checker must never accept an image QEMU
// refuses, sizes differently or opens with a backing or data file; images
// it refuses although QEMU opens them, and accepted images whose reads fail
// (damage inside tables rather than headers), are counted and listed
// with -v.
//
// `go test` runs a sample of mutateShortRuns mutations chosen by a fixed
// seed (GUESTINJECT_MUTATE_SEED changes it); GUESTINJECT_MUTATE=long runs
// every mutation of every base image (make fuzz-long). Every disagreement
// found is kept in mutationRegressions.

// mutateEnv selects the long run; mutateSeedEnv changes the short run's
// sample.
const (
	mutateEnv       = "GUESTINJECT_MUTATE"
	mutateSeedEnv   = "GUESTINJECT_MUTATE_SEED"
	mutateShortRuns = 64
)

// mutField is one field of a base image at a fixed offset.
type mutField struct {
	name  string
	off   int64
	width int // bytes: 1, 2, 4 or 8; strings: the field length
	big   bool
	flags bool     // a bit field: single bits are tried too
	strs  []string // a NUL-padded string field: these values are tried
	// fix recomputes checksums that cover the field, if any.
	fix func([]byte)
}

func (m mutField) get(b []byte) uint64 {
	p := b[m.off : m.off+int64(m.width)]
	var v uint64
	for i := range m.width {
		j := i
		if m.big {
			j = m.width - 1 - i
		}
		v |= uint64(p[j]) << (8 * i)
	}
	return v
}

func (m mutField) put(b []byte, v uint64) {
	p := b[m.off : m.off+int64(m.width)]
	for i := range m.width {
		j := i
		if m.big {
			j = m.width - 1 - i
		}
		p[j] = byte(v >> (8 * i))
	}
}

// mutation is one change: field set to value (or str for string fields).
type mutation struct {
	base, field string
	value       uint64
	str         string
}

func (m mutation) String() string {
	return fmt.Sprintf("{%q, %q, %#x, %q}", m.base, m.field, m.value, m.str)
}

// apply returns a copy of img with the mutation made, or nil when the base
// has no such field.
func (m mutation) apply(img []byte, fields []mutField) []byte {
	for _, f := range fields {
		if f.name != m.field {
			continue
		}
		out := bytes.Clone(img)
		if f.strs != nil {
			p := out[f.off : f.off+int64(f.width)]
			clear(p)
			copy(p, m.str)
		} else {
			f.put(out, m.value)
		}
		if f.fix != nil {
			f.fix(out)
		}
		return out
	}
	return nil
}

// mutBase is a corpus image the mutator starts from.
type mutBase struct {
	image     string
	format    Format
	encrypted bool
	fields    func(img []byte) []mutField
}

var mutBases = []mutBase{
	{"v3.qcow2", QCOW2, false, qcow2Fields},
	{"v2.qcow2", QCOW2, false, qcow2Fields},
	{"c512.qcow2", QCOW2, false, qcow2Fields},
	{"extl2.qcow2", QCOW2, false, qcow2Fields},
	{"zstd.qcow2", QCOW2, false, qcow2Fields},
	{"conv.qcow2", QCOW2, false, qcow2Fields},
	{"snap.qcow2", QCOW2, false, qcow2Fields},
	{"bitmap.qcow2", QCOW2, false, qcow2Fields},
	{"enc.qcow2", QCOW2, true, qcow2Fields},
	{"plain.qed", QED, false, qedFields},
	{"c4k.qed", QED, false, qedFields},
	{"dyn.vdi", VDI, false, vdiFields},
	{"static.vdi", VDI, false, vdiFields},
	{"dyn.vhd", VPC, false, vpcFields},
	{"fixed.vhd", VPC, false, vpcFields},
	{"dyn.vhdx", VHDX, false, vhdxFields},
	{"conv.vhdx", VHDX, false, vhdxFields},
	{"sparse.vmdk", VMDK, false, vmdkFields},
	{"stream.vmdk", VMDK, false, vmdkFields},
	{"convstream.vmdk", VMDK, false, vmdkFields},
	{"footer.vmdk", VMDK, false, vmdkFields},
	{"disk.luks", LUKS, true, luksFields},
}

func u(name string, off int64, width int, big bool) mutField {
	return mutField{name: name, off: off, width: width, big: big}
}

func flagsField(name string, off int64, width int, big bool) mutField {
	f := u(name, off, width, big)
	f.flags = true
	return f
}

func withFix(fix func([]byte), fs ...mutField) []mutField {
	for i := range fs {
		fs[i].fix = fix
	}
	return fs
}

func prefixed(prefix string, base int64, fs ...mutField) []mutField {
	for i := range fs {
		fs[i].name = prefix + fs[i].name
		fs[i].off += base
	}
	return fs
}

func qcow2Fields(img []byte) []mutField {
	fs := []mutField{
		u("version", 4, 4, true), u("backing_file_offset", 8, 8, true), u("backing_file_size", 16, 4, true),
		u("cluster_bits", 20, 4, true), u("size", 24, 8, true), u("crypt_method", 32, 4, true),
		u("l1_size", 36, 4, true), u("l1_table_offset", 40, 8, true), u("refcount_table_offset", 48, 8, true),
		u("refcount_table_clusters", 56, 4, true), u("nb_snapshots", 60, 4, true), u("snapshots_offset", 64, 8, true),
	}
	headerLen := int64(72)
	if be.Uint32(img[4:]) == 3 {
		fs = append(fs,
			flagsField("incompatible_features", 72, 8, true), flagsField("compatible_features", 80, 8, true),
			flagsField("autoclear_features", 88, 8, true), u("refcount_order", 96, 4, true),
			u("header_length", 100, 4, true), u("compression_type", 104, 1, true))
		headerLen = int64(be.Uint32(img[100:]))
	}
	cs := int64(1) << be.Uint32(img[20:])
	for off, i := headerLen, 0; off+8 <= cs && i < 16; i++ {
		typ, n := be.Uint32(img[off:]), int64(be.Uint32(img[off+4:]))
		p := fmt.Sprintf("ext[%d].", i)
		fs = append(fs, prefixed(p, off, u("type", 0, 4, true), u("len", 4, 4, true))...)
		switch typ {
		case qcow2ExtEnd:
			off = cs
			continue
		case qcow2ExtBitmaps:
			fs = append(fs, prefixed(p, off+8, u("nb_bitmaps", 0, 4, true), u("reserved", 4, 4, true),
				u("dir_size", 8, 8, true), u("dir_offset", 16, 8, true))...)
			dir := int64(be.Uint64(img[off+8+16:]))
			fs = append(fs, prefixed("bitmap[0].", dir, u("table_offset", 0, 8, true), u("table_size", 8, 4, true),
				flagsField("flags", 12, 4, true), u("type", 16, 1, true), u("granularity", 17, 1, true),
				u("name_size", 18, 2, true), u("extra_size", 20, 4, true))...)
		case qcow2ExtCrypto:
			fs = append(fs, prefixed(p, off+8, u("offset", 0, 8, true), u("length", 8, 8, true))...)
		}
		off += 8 + (n+7)&^7
	}
	if nb := be.Uint32(img[60:]); nb > 0 {
		so := int64(be.Uint64(img[64:]))
		fs = append(fs, prefixed("snapshot[0].", so, u("l1_table_offset", 0, 8, true), u("l1_size", 8, 4, true),
			u("id_str_size", 12, 2, true), u("name_size", 14, 2, true), u("extra_data_size", 36, 4, true))...)
	}
	return fs
}

func qedFields([]byte) []mutField {
	return []mutField{
		u("cluster_size", 4, 4, false), u("table_size", 8, 4, false), u("header_size", 12, 4, false),
		flagsField("features", 16, 8, false), flagsField("compat_features", 24, 8, false),
		flagsField("autoclear_features", 32, 8, false), u("l1_table_offset", 40, 8, false),
		u("image_size", 48, 8, false), u("backing_filename_offset", 56, 4, false), u("backing_filename_size", 60, 4, false),
	}
}

func vdiFields([]byte) []mutField {
	return []mutField{
		u("signature", 0x40, 4, false), u("version", 0x44, 4, false), u("header_size", 0x48, 4, false),
		u("image_type", 0x4c, 4, false), flagsField("image_flags", 0x50, 4, false),
		u("offset_bmap", 0x154, 4, false), u("offset_data", 0x158, 4, false), u("cylinders", 0x15c, 4, false),
		u("sector_size", 0x168, 4, false), u("disk_size", 0x170, 8, false), u("block_size", 0x178, 4, false),
		u("block_extra", 0x17c, 4, false), u("blocks_in_image", 0x180, 4, false), u("blocks_allocated", 0x184, 4, false),
		u("uuid_link", 0x1a8, 8, false), u("uuid_parent", 0x1b8, 8, false),
	}
}

func vpcFooterFields(prefix string, at int64, fix func([]byte)) []mutField {
	fs := prefixed(prefix, at,
		flagsField("features", 8, 4, true), u("version", 12, 4, true), u("data_offset", 16, 8, true),
		u("creator_app", 28, 4, true), u("orig_size", 40, 8, true), u("current_size", 48, 8, true),
		u("cyls", 56, 2, true), u("heads", 58, 1, true), u("secs_per_cyl", 59, 1, true), u("type", 60, 4, true),
		u("saved_state", 84, 1, true))
	fs = withFix(fix, fs...)
	return append(fs, prefixed(prefix, at, u("checksum", 64, 4, true))...)
}

func vpcFields(img []byte) []mutField {
	size := int64(len(img))
	if string(img[:8]) != "conectix" {
		fix := func(b []byte) { f := b[size-512:]; put32be(f, 64, vhdChecksum(f, 64)) }
		return vpcFooterFields("footer.", size-512, fix)
	}
	// Dynamic: the footer copy at the start is the one QEMU reads; the
	// mutator changes both copies alike.
	both := func(b []byte) {
		put32be(b, 64, vhdChecksum(b[:512], 64))
		copy(b[size-512:], b[:512])
	}
	fs := vpcFooterFields("footer.", 0, both)
	dyn := int64(be.Uint64(img[16:]))
	fixDyn := func(b []byte) { d := b[dyn : dyn+1024]; put32be(d, 36, vhdChecksum(d, 36)) }
	fs = append(fs, withFix(fixDyn, prefixed("dyn.", dyn,
		u("data_offset", 8, 8, true), u("table_offset", 16, 8, true), u("header_version", 24, 4, true),
		u("max_table_entries", 28, 4, true), u("block_size", 32, 4, true), u("parent_uuid", 40, 8, true),
		u("parent_name", 64, 8, true), u("locator[0].code", 576, 4, true), u("locator[0].offset", 592, 8, true))...)...)
	return append(fs, prefixed("dyn.", dyn, u("checksum", 36, 4, true))...)
}

func vhdxChecksumFix(at, n int64) func([]byte) {
	return func(b []byte) {
		p := b[at : at+n]
		clear(p[4:8])
		binary.LittleEndian.PutUint32(p[4:], crc32.Checksum(p, castagnoli))
	}
}

func vhdxFields(img []byte) []mutField {
	var fs []mutField
	for i, at := range []int64{vhdxHeader1Offset, vhdxHeader2Offset} {
		fs = append(fs, withFix(vhdxChecksumFix(at, vhdxHeaderSize), prefixed(fmt.Sprintf("header%d.", i+1), at,
			u("sequence_number", 8, 8, false), u("log_guid", 48, 8, false), u("log_version", 64, 2, false),
			u("version", 66, 2, false), u("log_length", 68, 4, false), u("log_offset", 72, 8, false))...)...)
	}
	rt := int64(vhdxRegionTableOffset)
	fixRT := vhdxChecksumFix(rt, vhdxRegionTableSize)
	fs = append(fs, withFix(fixRT, u("regions.entry_count", rt+8, 4, false))...)
	var meta int64
	for i := int64(0); i < int64(le.Uint32(img[rt+8:])); i++ {
		e := rt + 16 + 32*i
		if [16]byte(img[e:e+16]) == vhdxRegionMetadata {
			meta = int64(le.Uint64(img[e+16:]))
		}
		fs = append(fs, withFix(fixRT, prefixed(fmt.Sprintf("region[%d].", i), e,
			u("guid", 0, 8, false), u("file_offset", 16, 8, false), u("length", 24, 4, false), flagsField("required", 28, 4, false))...)...)
	}
	fs = append(fs, u("metadata.entry_count", meta+10, 2, false))
	for i := int64(0); i < int64(le.Uint16(img[meta+10:])); i++ {
		e := meta + 32 + 32*i
		name := fmt.Sprintf("metadata[%d].", i)
		fs = append(fs, prefixed(name, e, u("guid", 0, 8, false), u("offset", 16, 4, false), u("length", 20, 4, false),
			flagsField("flags", 24, 4, false))...)
		item := meta + int64(le.Uint32(img[e+16:]))
		switch [16]byte(img[e : e+16]) {
		case vhdxFileParameters:
			fs = append(fs, u("file_parameters.block_size", item, 4, false), flagsField("file_parameters.flags", item+4, 4, false))
		case vhdxVirtualDiskSize:
			fs = append(fs, u("virtual_disk_size", item, 8, false))
		case vhdxLogicalSector:
			fs = append(fs, u("logical_sector_size", item, 4, false))
		case vhdxPhysicalSector:
			fs = append(fs, u("physical_sector_size", item, 4, false))
		}
	}
	for i := int64(0); i < int64(le.Uint32(img[rt+8:])); i++ {
		e := rt + 16 + 32*i
		if [16]byte(img[e:e+16]) == vhdxRegionBAT {
			bat := int64(le.Uint64(img[e+16:]))
			fs = append(fs, u("bat[0]", bat, 8, false), u("bat[1]", bat+8, 8, false))
		}
	}
	return fs
}

func vmdkHeaderFields(prefix string, at int64) []mutField {
	return prefixed(prefix, at,
		u("version", 4, 4, false), flagsField("flags", 8, 4, false), u("capacity", 12, 8, false),
		u("granularity", 20, 8, false), u("desc_offset", 28, 8, false), u("desc_size", 36, 8, false),
		u("num_gtes_per_gt", 44, 4, false), u("rgd_offset", 48, 8, false), u("gd_offset", 56, 8, false),
		u("grain_offset", 64, 8, false), u("unclean_shutdown", 72, 1, false), u("compress_algorithm", 77, 2, false))
}

func vmdkFields(img []byte) []mutField {
	fs := vmdkHeaderFields("", 0)
	if le.Uint64(img[56:]) == vmdkGDAtEnd {
		end := int64(len(img))
		fs = append(fs, vmdkHeaderFields("footer.", end-1024)...)
		fs = append(fs, u("footer_marker.size", end-1536+8, 4, false), u("footer_marker.type", end-1536+12, 4, false),
			u("eos_marker.val", end-512, 8, false), u("eos_marker.type", end-512+12, 4, false))
	}
	return fs
}

var (
	luksCiphers = []string{"aes", "twofish", "serpent", "cast5", "sm4", "des", "", strings.Repeat("a", 32)}
	luksModes   = []string{"xts-plain64", "cbc-essiv:sha256", "cbc-essiv:sha1", "cbc-essiv", "cbc-plain", "ecb-plain", "ctr-plain64", "xts", "xts-plain64:nohash", "gcm-plain64"}
	luksHashes  = []string{"sha1", "sha256", "sha512", "md5", "ripemd160", "sha3-256", "whirlpool", ""}
)

func luksFields([]byte) []mutField {
	fs := []mutField{
		u("version", 6, 2, true),
		{name: "cipher_name", off: 8, width: 32, strs: luksCiphers},
		{name: "cipher_mode", off: 40, width: 32, strs: luksModes},
		{name: "hash_spec", off: 72, width: 32, strs: luksHashes},
		u("payload_offset", 104, 4, true), u("key_bytes", 108, 4, true), u("mk_digest_iter", 164, 4, true),
	}
	for _, i := range []int64{0, 1, 7} {
		fs = append(fs, prefixed(fmt.Sprintf("slot[%d].", i), 208+48*i,
			u("active", 0, 4, true), u("iterations", 4, 4, true), u("key_offset", 40, 4, true), u("stripes", 44, 4, true))...)
	}
	return fs
}

// mutationsOf lists every mutation of a base: each field to each of its
// values.
func mutationsOf(base string, img []byte, fields []mutField, rng *rand.Rand) []mutation {
	var out []mutation
	for _, f := range fields {
		if f.strs != nil {
			for _, s := range f.strs {
				if s != cstr(img[f.off:f.off+int64(f.width)]) {
					out = append(out, mutation{base: base, field: f.name, str: s})
				}
			}
			continue
		}
		for _, v := range fieldValues(f, f.get(img), rng) {
			out = append(out, mutation{base: base, field: f.name, value: v})
		}
	}
	return out
}

func fieldValues(f mutField, orig uint64, rng *rand.Rand) []uint64 {
	mask := uint64(1)<<(8*f.width) - 1
	if f.width == 8 {
		mask = ^uint64(0)
	}
	vs := []uint64{0, 1, mask, orig + 1, orig - 1, orig << 1, orig >> 1, mask >> 1, mask>>1 + 1, orig + 512, orig - 512, rng.Uint64()}
	if f.flags {
		for b := range 8 * f.width {
			vs = append(vs, orig^1<<b)
		}
	}
	var out []uint64
	for _, v := range vs {
		v &= mask
		if v != orig && !slices.Contains(out, v) {
			out = append(out, v)
		}
	}
	return out
}

// mutVerdict compares the checker with QEMU on one image.
type mutVerdict struct {
	// must is a disagreement the checker must not have: it accepts what
	// QEMU refuses, sizes differently or opens with another file.
	must string
	// strict describes an image the checker refuses although QEMU opens it
	// without a backing or data file.
	strict string
	// read describes an image both accept whose sectors qemu-io cannot
	// all read: damage in tables the header checks do not walk (an L1
	// moved onto other data, a grain directory pointing elsewhere). The
	// promise is that QEMU opens the image, so these are reported, not
	// failed.
	read string
}

func judgeMutant(ctx context.Context, img []byte, path string, b mutBase) mutVerdict {
	p := Policy{AllowedFormats: []Format{b.format}, AllowEncryption: true, MaxVirtualSize: DefaultMaxVirtualSize}
	info, ourErr := Check(ctx, bytes.NewReader(img), int64(len(img)), b.format, p)
	var rej *RejectionError
	if ourErr != nil && !errors.As(ourErr, &rej) {
		return mutVerdict{must: "checker failed: " + ourErr.Error()}
	}
	if err := os.WriteFile(path, img, 0o600); err != nil {
		return mutVerdict{must: err.Error()}
	}
	qi, qemuErr := runQEMUImgInfo(ctx, path, b.format, DefaultQEMULimits())
	if ourErr == nil {
		switch {
		case qemuErr != nil:
			return mutVerdict{must: "accepted, qemu-img refuses: " + lastLine(qemuErr.Error())}
		case qi.VirtualSize != info.VirtualSize:
			return mutVerdict{must: fmt.Sprintf("accepted with virtual size %d, qemu-img says %d", info.VirtualSize, qi.VirtualSize)}
		case qi.BackingFilename != "" || qi.FullBacking != "" || qi.FormatSpecific.Data.DataFile != "":
			return mutVerdict{must: "accepted, qemu-img opens a backing or data file"}
		}
		if err := runQEMUIORead(ctx, path, b.format, info.VirtualSize, b.encrypted || info.Encrypted, DefaultQEMULimits()); err != nil {
			// A corrupted key slot only shows when unlocking: no header
			// check can see it without the passphrase.
			if b.encrypted && strings.Contains(err.Error(), "Invalid password") {
				return mutVerdict{}
			}
			return mutVerdict{read: "qemu-io: " + lastLine(err.Error())}
		}
		return mutVerdict{}
	}
	if qemuErr == nil && qi.BackingFilename == "" && qi.FormatSpecific.Data.DataFile == "" {
		return mutVerdict{strict: string(rej.Reason) + ": " + rej.Detail}
	}
	return mutVerdict{}
}

// lastLine picks the line of a qemu-img or qemu-io error that says what
// went wrong.
func lastLine(s string) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	line := lines[len(lines)-1]
	for _, l := range lines {
		if strings.Contains(l, "failed") || strings.Contains(l, "rror") {
			line = l
		}
	}
	if i := strings.Index(line, "qemu-img:"); i >= 0 {
		line = line[i:]
	}
	return strings.TrimSpace(line)
}

// mutantBases loads the base images from the corpus.
func mutantBases(t *testing.T) map[string][]byte {
	imgs := map[string][]byte{}
	for _, img := range corpus(t) {
		for _, b := range mutBases {
			if b.image == img.Name {
				data, err := os.ReadFile(img.Path)
				if err != nil {
					t.Fatal(err)
				}
				imgs[b.image] = data
			}
		}
	}
	for _, b := range mutBases {
		if imgs[b.image] == nil {
			t.Fatalf("base image %s missing from the corpus", b.image)
		}
	}
	return imgs
}

// TestHeaderMutations is the header mutator described at the top of this
// file.
func TestHeaderMutations(t *testing.T) {
	testimage.NeedTools(t, "qemu-img", "qemu-io", "prlimit")
	bases := mutantBases(t)
	seed := uint64(14)
	if s := os.Getenv(mutateSeedEnv); s != "" {
		v, err := strconv.ParseUint(s, 0, 64)
		if err != nil {
			t.Fatalf("%s: %v", mutateSeedEnv, err)
		}
		seed = v
	}
	rng := rand.New(rand.NewPCG(seed, 0))
	var all []mutation
	fields := map[string][]mutField{}
	for _, b := range mutBases {
		fields[b.image] = b.fields(bases[b.image])
		all = append(all, mutationsOf(b.image, bases[b.image], fields[b.image], rng)...)
	}
	long := os.Getenv(mutateEnv) == "long"
	if !long {
		rng.Shuffle(len(all), func(i, j int) { all[i], all[j] = all[j], all[i] })
		all = all[:min(len(all), mutateShortRuns)]
	}
	t.Logf("%d mutations (seed %d, long=%v)", len(all), seed, long)

	baseOf := map[string]mutBase{}
	for _, b := range mutBases {
		baseOf[b.image] = b
	}
	dir := t.TempDir()
	work := make(chan mutation)
	var mu sync.Mutex
	var musts, reads []string
	strict := map[string][]string{}
	var wg sync.WaitGroup
	for w := range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for m := range work {
				b := baseOf[m.base]
				img := m.apply(bases[m.base], fields[m.base])
				path := filepath.Join(dir, fmt.Sprintf("w%d.%s", w, b.format))
				v := judgeMutant(bg, img, path, b)
				mu.Lock()
				if v.must != "" {
					musts = append(musts, fmt.Sprintf("%v: %s", m, v.must))
				}
				if v.read != "" {
					reads = append(reads, fmt.Sprintf("%v: %s", m, v.read))
				}
				if v.strict != "" {
					reason, _, _ := strings.Cut(v.strict, ":")
					strict[reason] = append(strict[reason], fmt.Sprintf("%v: %s", m, v.strict))
				}
				mu.Unlock()
			}
		}()
	}
	for _, m := range all {
		work <- m
	}
	close(work)
	wg.Wait()

	slices.Sort(musts)
	for _, m := range musts {
		t.Errorf("disagreement %s", m)
	}
	n := 0
	for reason, list := range strict {
		n += len(list)
		slices.Sort(list)
		t.Logf("refused, qemu-img opens (%s): %d", reason, len(list))
		if testing.Verbose() {
			for _, l := range list {
				t.Logf("  %s", l)
			}
		}
	}
	slices.Sort(reads)
	t.Logf("accepted by both, a read fails: %d", len(reads))
	if testing.Verbose() {
		for _, r := range reads {
			t.Logf("  %s", r)
		}
	}
	t.Logf("%d disagreements, %d stricter verdicts", len(musts), n)
}
