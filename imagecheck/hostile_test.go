package imagecheck

import (
	"bytes"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// craftedCase is an image built byte by byte.
type craftedCase struct {
	name     string
	img      []byte
	declared Format
	policy   Policy
	want     Reason // "" means the image must be accepted
}

func allow(fs ...Format) Policy { return DefaultPolicy().WithFormats(fs...) }

func craftedCases() []craftedCase {
	const GiB = 1 << 30
	q := craftQCOW2(GiB)
	vm := craftVMDK(2048, "")
	vhd := craftDynamicVHD(64<<20, "qemu", vhdTypeDynamic, nil)
	vdi := craftVDI(64 << 20)
	qed := craftQED(GiB)
	luks := craftLUKS(4096, 3<<20)
	iso := craftISO(64)
	pv := allow(VPC)
	return []craftedCase{
		// Benign references: the hostile ones below differ by one thing.
		{"qcow2 benign", q, QCOW2, DefaultPolicy(), ""},
		{"vmdk benign", vm, VMDK, allow(VMDK), ""},
		{"vmdk footer benign", withFooter(vm, nil), VMDK, allow(VMDK), ""},
		{"vhd benign", vhd, VPC, pv, ""},
		{"vdi benign", vdi, VDI, allow(VDI), ""},
		{"qed benign", qed, QED, allow(QED), ""},
		{"luks benign", luks, LUKS, Policy{AllowedFormats: []Format{LUKS}, AllowEncryption: true}, ""},
		{"iso benign", iso, ISO, allow(ISO), ""},
		{"raw text benign", []byte("\nversion=1\ncreateType=\"monolithicFlat\"\nRW 10 FLAT \"/etc/passwd\" 0\n"), Raw, DefaultPolicy(), ""},
		{"gpt benign", addGPT(make([]byte, 1<<20)), Raw, DefaultPolicy(), ""},

		// Declarations.
		{"no declared format", q, "", DefaultPolicy(), ReasonNoDeclaredFormat},
		{"auto", q, "auto", DefaultPolicy(), ReasonNoDeclaredFormat},
		{"vmdk not in default policy", vm, VMDK, DefaultPolicy(), ReasonFormatNotAllowed},
		{"bochs not declarable", q, Bochs, allow(Bochs), ReasonFormatNotAllowed},

		// Content differs from the declaration (CVE-2024-40767 and kin).
		{"raw holding qcow2", q, Raw, DefaultPolicy(), ReasonFormatMismatch},
		{"raw holding text vmdk", []byte("# Disk DescriptorFile\nversion=1\ncreateType=\"monolithicFlat\"\nRW 10 FLAT \"/etc/passwd\" 0\n"), Raw, DefaultPolicy(), ReasonFormatMismatch},
		{"raw holding text vmdk after blank line", []byte(" \r\nversion=2\r\n"), Raw, DefaultPolicy(), ReasonFormatMismatch},
		{"raw holding vmdk sparse", vm, Raw, DefaultPolicy(), ReasonFormatMismatch},
		{"raw holding vhd footer", append(make([]byte, 1<<20), vhdFooter(vhdTypeFixed, 1<<20, "qemu", ^uint64(0))...), Raw, DefaultPolicy(), ReasonFormatMismatch},
		{"raw holding luks2", patched(luks, func(b []byte) { put16be(b, 6, 2) }), Raw, DefaultPolicy(), ReasonFormatMismatch},
		{"raw iso config drive", iso, Raw, DefaultPolicy(), ""},
		{"raw holding cloop", []byte(cloopMagic + strings.Repeat("\x00", 4096)), Raw, DefaultPolicy(), ReasonFormatMismatch},
		{"raw holding parallels", patched(make([]byte, 4096), func(b []byte) { copy(b, "WithoutFreeSpace"); put32le(b, 16, 2) }), Raw, DefaultPolicy(), ReasonFormatMismatch},
		{"qcow2 declared, raw content", make([]byte, 1<<20), QCOW2, DefaultPolicy(), ReasonFormatMismatch},
		{"qcow2 declared, empty file", nil, QCOW2, DefaultPolicy(), ReasonFormatMismatch},
		{"vmdk declared, qcow2 content", q, VMDK, allow(VMDK), ReasonFormatMismatch},
		{"qcow v1 declared qcow2", patched(q, func(b []byte) { put32be(b, 4, 1) }), QCOW2, DefaultPolicy(), ReasonUnsupportedVersion},

		// Polyglots.
		{"qcow2 + vdi signature", patched(q, func(b []byte) { put32le(b, 0x40, vdiSignature) }), QCOW2, DefaultPolicy(), ReasonPolyglot},
		{"qcow2 + vhd footer", append(bytes.Clone(q), vhdFooter(vhdTypeFixed, 1<<18, "qemu", ^uint64(0))...), QCOW2, DefaultPolicy(), ReasonPolyglot},
		{"qcow2 + iso volume", patched(append(bytes.Clone(q), make([]byte, 64<<10)...), func(b []byte) { copy(b[0x8000:], "\x01CD001\x01") }), QCOW2, DefaultPolicy(), ReasonPolyglot},
		{"iso + gpt hybrid refused", addGPT(iso), ISO, allow(ISO), ReasonPolyglot},
		{"iso + gpt hybrid allowed", addGPT(iso), ISO, Policy{AllowedFormats: []Format{ISO}, AllowISOHybrid: true}, ""},

		// qcow2 headers that reach outside the file.
		{"qcow2 backing file", patched(craftQCOW2(GiB, qcow2Ext{qcow2ExtEnd, nil}), func(b []byte) { copy(b[512:], "/etc/shadow"); put64be(b, 8, 512); put32be(b, 16, 11) }), QCOW2, DefaultPolicy(), ReasonBackingFile},
		{"qcow2 backing offset, zero length", patched(q, func(b []byte) { put64be(b, 8, 512) }), QCOW2, DefaultPolicy(), ReasonBackingFile},
		{"qcow2 json backing", patched(q, func(b []byte) {
			copy(b[512:], `json:{"file.filename":"/etc/shadow"}`)
			put64be(b, 8, 512)
			put32be(b, 16, 35)
		}), QCOW2, DefaultPolicy(), ReasonBackingFile},
		{"qcow2 backing format extension", craftQCOW2(GiB, qcow2Ext{qcow2ExtBackingFormat, []byte("raw")}), QCOW2, DefaultPolicy(), ReasonBackingFile},
		{"qcow2 data file bit", patched(q, func(b []byte) { put64be(b, 72, qcow2IncompatDataFile) }), QCOW2, DefaultPolicy(), ReasonDataFile},
		{"qcow2 data file extension", craftQCOW2(GiB, qcow2Ext{qcow2ExtDataFile, []byte("/dev/sda")}), QCOW2, DefaultPolicy(), ReasonDataFile},
		{"qcow2 raw data autoclear", patched(q, func(b []byte) { put64be(b, 88, qcow2AutoclearRawData) }), QCOW2, DefaultPolicy(), ReasonDataFile},
		{"qcow2 data file extension after unknown ones", craftQCOW2(GiB, qcow2Ext{0x12345678, make([]byte, 100)}, qcow2Ext{qcow2ExtFeatureTable, make([]byte, 48)}, qcow2Ext{qcow2ExtDataFile, []byte("x")}), QCOW2, DefaultPolicy(), ReasonDataFile},

		// qcow2 features, flags, versions, geometry.
		{"qcow2 unknown incompatible bit", patched(q, func(b []byte) { put64be(b, 72, 1<<20) }), QCOW2, DefaultPolicy(), ReasonUnknownFeature},
		{"qcow2 compression bit with zlib", patched(q, func(b []byte) { put64be(b, 72, qcow2IncompatCompression) }), QCOW2, DefaultPolicy(), ReasonCorrupt},
		{"qcow2 zstd without compression bit", patched(q, func(b []byte) { b[104] = qcow2CompressionZstd }), QCOW2, DefaultPolicy(), ReasonCorrupt},
		{"qcow2 zstd with compression bit", patched(q, func(b []byte) { b[104] = qcow2CompressionZstd; put64be(b, 72, qcow2IncompatCompression) }), QCOW2, DefaultPolicy(), ""},
		{"qcow2 unknown compression type", patched(q, func(b []byte) { b[104] = 7; put64be(b, 72, qcow2IncompatCompression) }), QCOW2, DefaultPolicy(), ReasonUnknownFeature},
		{"qcow2 snapshot table unaligned, no snapshots", patched(q, func(b []byte) { put64be(b, 64, 0x1234) }), QCOW2, DefaultPolicy(), ReasonCorrupt},
		{"qcow2 corrupt", patched(q, func(b []byte) { put64be(b, 72, qcow2IncompatCorrupt) }), QCOW2, DefaultPolicy(), ReasonCorrupt},
		{"qcow2 dirty", patched(q, func(b []byte) { put64be(b, 72, qcow2IncompatDirty) }), QCOW2, DefaultPolicy(), ReasonDirty},
		{"qcow2 version 4", patched(q, func(b []byte) { put32be(b, 4, 4) }), QCOW2, DefaultPolicy(), ReasonUnsupportedVersion},
		{"qcow2 unknown encryption", patched(q, func(b []byte) { put32be(b, 32, 7) }), QCOW2, DefaultPolicy(), ReasonUnsupportedVersion},
		{"qcow2 aes encryption", patched(q, func(b []byte) { put32be(b, 32, 1) }), QCOW2, DefaultPolicy(), ReasonUnsupportedVersion},
		{"qcow2 aes encryption allowed", patched(q, func(b []byte) { put32be(b, 32, 1) }), QCOW2, Policy{AllowedFormats: []Format{QCOW2}, AllowEncryption: true}, ReasonUnsupportedVersion},
		{"qcow2 cluster bits 30", patched(q, func(b []byte) { put32be(b, 20, 30) }), QCOW2, DefaultPolicy(), ReasonCorrupt},
		{"qcow2 L1 too small for size", patched(q, func(b []byte) { put64be(b, 24, 1<<61) }), QCOW2, DefaultPolicy(), ReasonCorrupt},
		{"qcow2 size above policy", craftQCOW2(2 << 40), QCOW2, DefaultPolicy(), ReasonTooLarge},
		{"qcow2 size 2^63", patched(q, func(b []byte) { put64be(b, 24, 1<<63) }), QCOW2, DefaultPolicy(), ReasonTooLarge},
		{"qcow2 truncated header", q[:60], QCOW2, DefaultPolicy(), ReasonTruncated},
		{"qcow2 extension overrun", patched(q, func(b []byte) { put32be(b, 112, 0x1234); put32be(b, 116, 1<<20) }), QCOW2, DefaultPolicy(), ReasonCorrupt},
		{"qcow2 endless extensions", patched(q, func(b []byte) {
			for off := 112; off < 112+8*100; off += 8 {
				put32be(b, off, 0x1234)
			}
		}), QCOW2, DefaultPolicy(), ReasonCorrupt},

		// VMDK extents, create types, parents, footers.
		{"vmdk flat extent on host file", craftVMDK(2048, vmdkDesc("monolithicSparse", `RW 2048 FLAT "/etc/passwd" 0`)), VMDK, allow(VMDK), ReasonExternalExtent},
		{"vmdk second extent", craftVMDK(2048, vmdkDesc("monolithicSparse", `RW 2048 SPARSE "disk.vmdk"`, `RW 2048 FLAT "/dev/sda" 0`)), VMDK, allow(VMDK), ReasonExternalExtent},
		{"vmdk rdonly extent", craftVMDK(2048, vmdkDesc("monolithicSparse", `RW 2048 SPARSE "disk.vmdk"`, `RDONLY 2048 SPARSE "other.vmdk"`)), VMDK, allow(VMDK), ReasonExternalExtent},
		{"vmdk extent with path", craftVMDK(2048, vmdkDesc("monolithicSparse", `RW 2048 SPARSE "../../etc/x.vmdk"`)), VMDK, allow(VMDK), ReasonExternalExtent},
		{"vmdk extent spanning lines", craftVMDK(2048, vmdkDesc("monolithicSparse", `RW 2048 SPARSE "disk.vmdk"`, "RW\n2048\nFLAT\n\"/etc/shadow\" 0")), VMDK, allow(VMDK), ReasonExternalExtent},
		{"vmdk zero capacity descriptor mode", craftVMDK(0, vmdkDesc("monolithicFlat", `RW 2048 FLAT "/etc/passwd" 0`)), VMDK, allow(VMDK), ReasonExternalExtent},
		{"vmdk zero capacity self extent", craftVMDK(0, vmdkDesc("monolithicSparse", `RW 2048 SPARSE "disk.vmdk"`)), VMDK, allow(VMDK), ReasonExternalExtent},
		{"vmdk text descriptor file", []byte(vmdkDesc("monolithicFlat", `RW 2048 FLAT "disk-flat.vmdk" 0`)), VMDK, allow(VMDK), ReasonExternalExtent},
		{"vmdk create type vmfs", craftVMDK(2048, vmdkDesc("vmfs", `RW 2048 SPARSE "disk.vmdk"`)), VMDK, allow(VMDK), ReasonUnsafeCreateType},
		{"vmdk create type in comment wins", craftVMDK(2048, "# createType=\"monolithicFlat\"\n"+vmdkDesc("monolithicSparse", `RW 2048 SPARSE "disk.vmdk"`)), VMDK, allow(VMDK), ReasonUnsafeCreateType},
		{"vmdk parent hint", craftVMDK(2048, strings.Replace(vmdkDesc("monolithicSparse", `RW 2048 SPARSE "disk.vmdk"`), "parentCID=ffffffff\n", "parentCID=ffffffff\nparentFileNameHint=\"/etc/base.vmdk\"\n", 1)), VMDK, allow(VMDK), ReasonBackingFile},
		{"vmdk parent hint past descriptor", patched(vm, func(b []byte) {
			for i := 512 + bytes.IndexByte(b[512:], 0); i < 512+2000; i++ {
				b[i] = ' '
			}
			copy(b[512+2000:], `parentFileNameHint="/x.vmdk"`)
		}), VMDK, allow(VMDK), ReasonBackingFile},
		{"vmdk CID not hexadecimal", craftVMDK(2048, strings.Replace(vmdkDesc("monolithicSparse", `RW 2048 SPARSE "disk.vmdk"`), "\nCID=1234abcd", "\nCID=zz", 1)), VMDK, allow(VMDK), ReasonCorrupt},
		{"vmdk without parentCID", craftVMDK(2048, strings.Replace(vmdkDesc("monolithicSparse", `RW 2048 SPARSE "disk.vmdk"`), "parentCID=ffffffff", "parent=ffffffff", 1)), VMDK, allow(VMDK), ReasonCorrupt},
		{"vmdk CID found inside parentCID", craftVMDK(2048, strings.Replace(vmdkDesc("monolithicSparse", `RW 2048 SPARSE "disk.vmdk"`), "\nCID=1234abcd", "\nXID=zz", 1)), VMDK, allow(VMDK), ""},
		{"vmdk footer defers to itself", withFooter(vm, func(h []byte) { put64le(h, 56, vmdkGDAtEnd) }), VMDK, allow(VMDK), ReasonCorrupt},
		{"vmdk parent CID", craftVMDK(2048, strings.Replace(vmdkDesc("monolithicSparse", `RW 2048 SPARSE "disk.vmdk"`), "parentCID=ffffffff", "parentCID=1a2b3c4d", 1)), VMDK, allow(VMDK), ReasonBackingFile},
		{"vmdk footer moves descriptor", withFooter(vm, func(h []byte) { put64le(h, 28, 40) }), VMDK, allow(VMDK), ReasonCorrupt},
		{"vmdk footer capacity above policy", withFooter(craftVMDK(2048, vmdkDesc("streamOptimized", `RW 8589934592 SPARSE "disk.vmdk"`)), func(h []byte) { put64le(h, 12, 4<<31) }), VMDK, allow(VMDK), ReasonTooLarge},
		{"vmdk NUL hides a later parent hint", patched(vm, func(b []byte) { copy(b[512+2000:], `parentFileNameHint="/x.vmdk"`) }), VMDK, allow(VMDK), ""},
		{"vmdk capacity above policy", craftVMDK(4<<31, vmdkDesc("monolithicSparse", `RW 8589934592 SPARSE "disk.vmdk"`)), VMDK, allow(VMDK), ReasonTooLarge},
		{"vmdk header capacity above policy", withFooter(craftVMDK(4<<31, ""), func(h []byte) { put64le(h, 12, 2048) }), VMDK, allow(VMDK), ReasonTooLarge},
		{"vmdk missing footer", patched(vm, func(b []byte) { put64le(b, 56, vmdkGDAtEnd) }), VMDK, allow(VMDK), ReasonCorrupt},
		{"vmdk version 4", patched(vm, func(b []byte) { put32le(b, 4, 4) }), VMDK, allow(VMDK), ReasonUnsupportedVersion},
		{"vmdk cowd", patched(make([]byte, 4096), func(b []byte) { put32be(b, 0, vmdk3Magic); put32le(b, 12, 2048) }), VMDK, allow(VMDK), ReasonUnsupportedVersion},
		{"vmdk granularity zero", patched(vm, func(b []byte) { put64le(b, 20, 0) }), VMDK, allow(VMDK), ReasonCorrupt},
		{"vmdk grains beyond file", patched(vm, func(b []byte) { put64le(b, 64, 1<<20) }), VMDK, allow(VMDK), ReasonTruncated},
		{"vmdk capacity 2^62 sectors", craftVMDK(1<<62, ""), VMDK, allow(VMDK), ReasonCorrupt},

		// VHD.
		{"vhd differencing", craftDynamicVHD(64<<20, "qemu", vhdTypeDifferecing, nil), VPC, pv, ReasonBackingFile},
		{"vhd parent locator", craftDynamicVHD(64<<20, "qemu", vhdTypeDynamic, func(d []byte) { copy(d[576:], "W2ku") }), VPC, pv, ReasonBackingFile},
		{"vhd parent name", craftDynamicVHD(64<<20, "qemu", vhdTypeDynamic, func(d []byte) { copy(d[64:], "\x00/\x00e\x00t\x00c") }), VPC, pv, ReasonBackingFile},
		{"vhd bad checksum", patched(vhd, func(b []byte) { b[70]++ }), VPC, pv, ReasonCorrupt},
		{"vhd footers differ", patched(vhd, func(b []byte) {
			t := b[len(b)-512:]
			put64be(t, 48, 1<<41)
			put32be(t, 64, vhdChecksum(t, 64))
		}), VPC, pv, ReasonCorrupt},
		{"vhd size by creator above policy", craftDynamicVHD(1<<41-1<<30, "win ", vhdTypeDynamic, nil), VPC, pv, ReasonTooLarge},
		{"vhd fixed truncated", append(make([]byte, 4096), vhdFooter(vhdTypeFixed, 1<<30, "win ", ^uint64(0))...), VPC, pv, ReasonTruncated},

		// VDI, QED, LUKS.
		{"vdi parent uuid", patched(vdi, func(b []byte) { b[0x1b8] = 1 }), VDI, allow(VDI), ReasonBackingFile},
		{"vdi link uuid", patched(vdi, func(b []byte) { b[0x1a8] = 1 }), VDI, allow(VDI), ReasonBackingFile},
		{"vdi version", patched(vdi, func(b []byte) { put32le(b, 0x44, 0x00010002) }), VDI, allow(VDI), ReasonUnsupportedVersion},
		{"vdi size beyond blocks", patched(vdi, func(b []byte) { put64le(b, 0x170, 1<<40) }), VDI, allow(VDI), ReasonCorrupt},
		{"qed backing bit", patched(qed, func(b []byte) { put64le(b, 16, qedFeatureBacking) }), QED, allow(QED), ReasonBackingFile},
		{"qed unknown feature", patched(qed, func(b []byte) { put64le(b, 16, 1<<9) }), QED, allow(QED), ReasonUnknownFeature},
		{"qed need check", patched(qed, func(b []byte) { put64le(b, 16, qedFeatureNeedCheck) }), QED, allow(QED), ReasonDirty},
		{"qed size above policy", patched(qed, func(b []byte) { put64le(b, 48, 1<<44) }), QED, allow(QED), ReasonTooLarge},
		{"luks without AllowEncryption", luks, LUKS, allow(LUKS), ReasonEncrypted},
		{"luks payload beyond file", craftLUKS(1<<20, 3<<20), LUKS, Policy{AllowedFormats: []Format{LUKS}, AllowEncryption: true}, ReasonTruncated},
		{"luks2", patched(luks, func(b []byte) { put16be(b, 6, 2) }), LUKS, Policy{AllowedFormats: []Format{LUKS}, AllowEncryption: true}, ReasonUnsupportedVersion},
		{"iso truncated", craftISO(64)[:40*2048], ISO, allow(ISO), ReasonTruncated},
	}
}

// TestCrafted runs every crafted image through Check and requires the
// expected verdict; with qemu-img present it also requires our formats to
// include what QEMU probes and, for accepted images, the same virtual size.
func TestCrafted(t *testing.T) {
	_, qemuErr := exec.LookPath("qemu-img")
	dir := t.TempDir()
	for i, c := range craftedCases() {
		t.Run(c.name, func(t *testing.T) {
			info, err := Check(bg, bytes.NewReader(c.img), int64(len(c.img)), c.declared, c.policy)
			if c.want == "" {
				if err != nil {
					t.Fatalf("refused: %v (formats %v, defects %v)", err, info.Formats, info.Defects)
				}
			} else {
				var rej *RejectionError
				if !errors.As(err, &rej) || rej.Reason != c.want || !errors.Is(err, c.want) || !errors.Is(err, ErrRejected) {
					t.Fatalf("want %q, got %v", c.want, err)
				}
			}
			if info == nil {
				return
			}
			if info.BytesRead > MaxBytesRead {
				t.Errorf("read %d bytes", info.BytesRead)
			}
			if qemuErr != nil || len(c.img) == 0 {
				return
			}
			path := filepath.Join(dir, strings.Repeat("x", i%3)+"img"+string(rune('a'+i%26)))
			if err := os.WriteFile(path, c.img, 0o600); err != nil {
				t.Fatal(err)
			}
			probed, err := qemuInfoProbe(t, path)
			if err == nil && !info.Has(Format(probed.Format)) {
				t.Errorf("qemu-img probes %q, we found %v", probed.Format, info.Formats)
			}
			if c.want == "" && c.declared != "" {
				qi, err := runQEMUImgInfo(bg, path, c.declared, DefaultQEMULimits())
				if err != nil {
					t.Fatalf("qemu-img refuses an image we accept: %v", err)
				}
				if qi.VirtualSize != info.VirtualSize {
					t.Errorf("virtual size %d, qemu-img %d", info.VirtualSize, qi.VirtualSize)
				}
				// Crafted encrypted images have no key that unlocks them.
				if !info.Encrypted {
					if err := runQEMUIORead(bg, path, c.declared, info.VirtualSize, false, DefaultQEMULimits()); err != nil {
						t.Errorf("accepted, but QEMU cannot read it: %v", err)
					}
				}
			}
		})
	}
}
