package imagecheck

import (
	"bytes"
	"context"
	"fmt"
	"slices"
	"strings"
)

const (
	luksStripes    = 4000
	luksHeaderSize = 592
	luksSlotActive = 0x00ac71f3
	luksSlotDead   = 0x0000dead
	// luksKeySlotOffset is the first sector key material may use: the
	// header's 4 KiB (QCRYPTO_BLOCK_LUKS_KEY_SLOT_OFFSET).
	luksKeySlotOffset = 8
	// luksMaxIterations bounds the PBKDF2 iterations of a key slot or the
	// master key digest: unlocking costs that many hash rounds, and about
	// ten times what cryptsetup or qemu-img choose for a two-second unlock
	// is an attempt to pin QEMU's CPU.
	luksMaxIterations = 1 << 24
)

// inspectLUKS reads a LUKS1 header. The payload starts payload_offset
// sectors in; QEMU's virtual size is what follows it.
func inspectLUKS(ctx context.Context, src *source, info *Info) error {
	const f = LUKS
	h, err := src.readPadded(ctx, 0, luksHeaderSize)
	if err != nil {
		return err
	}
	info.Encrypted, info.Encryption = true, "luks"
	version := be.Uint16(h[6:])
	info.Version = fmt.Sprint(version)
	if version != 1 {
		info.defect(f, ReasonUnsupportedVersion, "LUKS version %d", version)
		return nil
	}
	if src.size < luksHeaderSize {
		info.defect(f, ReasonTruncated, "file is %d bytes, LUKS header needs %d", src.size, luksHeaderSize)
		return nil
	}
	payload := int64(be.Uint32(h[104:])) * 512
	info.Features = append(info.Features, "cipher="+cstr(h[8:40])+"-"+cstr(h[40:72]), "hash="+cstr(h[72:104]))
	info.VirtualSize = roundUp512(src.size) - payload
	info.addSize(max(info.VirtualSize, 0))
	if payload > src.size {
		info.VirtualSize = 0
		info.defect(f, ReasonTruncated, "payload offset %d beyond the file (%d bytes)", payload, src.size)
	}
	luksHeaderDefects(f, h, info)
	return nil
}

// luksHeaderDefects applies the checks of qcrypto_block_luks_check_header
// and qcrypto_block_luks_parse_header to the 592-byte header h, plus our
// own on what makes the volume impossible or too costly to unlock: no
// active key slot, zero or absurd PBKDF2 iteration counts.
func luksHeaderDefects(f Format, h []byte, info *Info) {
	for _, s := range []struct {
		name  string
		field []byte
	}{{"cipher name", h[8:40]}, {"cipher mode", h[40:72]}, {"hash", h[72:104]}} {
		if bytes.IndexByte(s.field, 0) < 0 {
			info.defect(f, ReasonCorrupt, "LUKS %s is not NUL terminated", s.name)
			return
		}
	}
	payloadSectors := int64(be.Uint32(h[104:]))
	keyBytes := be.Uint32(h[108:])
	if it := be.Uint32(h[164:]); it == 0 || it > luksMaxIterations {
		info.defect(f, ReasonCorrupt, "master key digest iteration count %d", it)
	}
	if keyBytes == 0 || keyBytes > 64 {
		info.defect(f, ReasonCorrupt, "master key of %d bytes", keyBytes)
		return
	}
	// Every slot, used or not, must keep 4000 stripes of key material
	// between the header and the payload, without overlapping another.
	span := (int64(keyBytes)*luksStripes + 511) / 512
	span = (span + 7) &^ 7
	active := 0
	for i := 0; i < 8; i++ {
		s := h[208+48*i:]
		state, start := be.Uint32(s), int64(be.Uint32(s[40:]))
		switch state {
		case luksSlotActive:
			active++
			if it := be.Uint32(s[4:]); it == 0 || it > luksMaxIterations {
				info.defect(f, ReasonCorrupt, "key slot %d iteration count %d", i, it)
			}
		case luksSlotDead:
		default:
			info.defect(f, ReasonCorrupt, "key slot %d state %#x", i, state)
		}
		if stripes := be.Uint32(s[44:]); stripes != luksStripes {
			info.defect(f, ReasonCorrupt, "key slot %d has %d stripes", i, stripes)
		}
		if start < luksKeySlotOffset || start+span > payloadSectors {
			info.defect(f, ReasonCorrupt, "key slot %d material at sector %d outside the key area", i, start)
		}
		for j := i + 1; j < 8; j++ {
			other := int64(be.Uint32(h[208+48*j+40:]))
			if start < other+span && other < start+span {
				info.defect(f, ReasonCorrupt, "key slots %d and %d overlap", i, j)
			}
		}
	}
	if active == 0 {
		info.defect(f, ReasonCorrupt, "no active key slot")
	}
	if err := luksCipherSpec(cstr(h[8:40]), cstr(h[40:72]), cstr(h[72:104]), keyBytes); err != "" {
		info.defect(f, ReasonUnsupportedVersion, "LUKS cipher: %s", err)
	}
}

// luksDigestLen lists the hashes QEMU's LUKS driver knows, with their
// digest lengths.
var luksDigestLen = map[string]int{
	"md5": 16, "sha1": 20, "sha224": 28, "sha256": 32, "sha384": 48, "sha512": 64, "ripemd160": 20,
}

// luksCipherKeys lists the ciphers QEMU's LUKS driver knows, with their key
// sizes.
var luksCipherKeys = map[string][]uint32{
	"aes": {16, 24, 32}, "cast5": {16}, "serpent": {16, 24, 32}, "twofish": {16, 24, 32},
}

// luksCipherSpec follows qcrypto_block_luks_parse_header: the mode string is
// <mode>-<ivgen>[:<ivhash>], the cipher must exist with the key size (half
// of it in XTS mode), and ESSIV needs a hash whose digest is a key size of
// the cipher. It returns what QEMU would object to, or "".
func luksCipherSpec(cipher, mode, hash string, keyBytes uint32) string {
	cmode, ivgen, ok := strings.Cut(mode, "-")
	if !ok {
		return fmt.Sprintf("mode %q has no IV generator", mode)
	}
	ivgen, ivhash, hasIVHash := strings.Cut(ivgen, ":")
	if hasIVHash {
		if _, ok := luksDigestLen[ivhash]; !ok {
			return fmt.Sprintf("IV hash %q", ivhash)
		}
	}
	switch cmode {
	case "ecb", "cbc", "ctr":
	case "xts":
		keyBytes /= 2
	default:
		return fmt.Sprintf("cipher mode %q", cmode)
	}
	sizes, ok := luksCipherKeys[cipher]
	if !ok || !slices.Contains(sizes, keyBytes) {
		return fmt.Sprintf("cipher %q with %d-byte keys", cipher, keyBytes)
	}
	if _, ok := luksDigestLen[hash]; !ok {
		return fmt.Sprintf("hash %q", hash)
	}
	switch ivgen {
	case "plain", "plain64":
	case "essiv":
		if !hasIVHash {
			return "essiv without a hash"
		}
		d := uint32(luksDigestLen[ivhash])
		if d != keyBytes && (cipher == "cast5" || !slices.Contains(sizes, d)) {
			return fmt.Sprintf("essiv hash %q does not key %s", ivhash, cipher)
		}
	default:
		return fmt.Sprintf("IV generator %q", ivgen)
	}
	return ""
}

// luksGuestData reports whether want lies in the encrypted payload: the
// container's data, whatever it decrypts to.
func luksGuestData(ctx context.Context, src *source, want span) (bool, error) {
	h, err := src.readPadded(ctx, 0, luksHeaderSize)
	if err != nil {
		return false, err
	}
	return want.off >= int64(be.Uint32(h[104:]))*512 && want.end <= src.size, nil
}
