package imagecheck

import (
	"context"
	"fmt"
)

const luksStripes = 4000

// inspectLUKS reads a LUKS1 header. The payload starts payload_offset
// sectors in; QEMU's virtual size is what follows it.
func inspectLUKS(ctx context.Context, src *source, info *Info) error {
	const f = LUKS
	h, err := src.readPadded(ctx, 0, 592)
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
	if src.size < 592 {
		info.defect(f, ReasonTruncated, "file is %d bytes, LUKS header needs 592", src.size)
		return nil
	}
	payload := int64(be.Uint32(h[104:])) * 512
	keyBytes := be.Uint32(h[108:])
	info.Features = append(info.Features, "cipher="+cstr(h[8:40])+"-"+cstr(h[40:72]), "hash="+cstr(h[72:104]))
	info.VirtualSize = roundUp512(src.size) - payload
	info.addSize(max(info.VirtualSize, 0))
	if payload > src.size {
		info.VirtualSize = 0
		info.defect(f, ReasonTruncated, "payload offset %d beyond the file (%d bytes)", payload, src.size)
	}
	if be.Uint32(h[164:]) == 0 {
		info.defect(f, ReasonCorrupt, "master key digest iteration count is zero")
	}
	if keyBytes == 0 || keyBytes > 64 {
		info.defect(f, ReasonCorrupt, "master key of %d bytes", keyBytes)
	}
	active := 0
	for i := 0; i < 8; i++ {
		s := h[208+48*i:]
		switch be.Uint32(s) {
		case 0x00ac71f3:
			active++
			material := int64(be.Uint32(s[40:])) * 512
			stripes := be.Uint32(s[44:])
			if be.Uint32(s[4:]) == 0 {
				info.defect(f, ReasonCorrupt, "key slot %d iteration count is zero", i)
			}
			if stripes != luksStripes || material < 592 ||
				material+int64(keyBytes)*luksStripes > payload {
				info.defect(f, ReasonCorrupt, "key slot %d: stripes %d, material at %d", i, stripes, material)
			}
		case 0x0000dead:
		default:
			info.defect(f, ReasonCorrupt, "key slot %d state %#x", i, be.Uint32(s))
		}
	}
	// Key material areas, rounded to 4 KiB as QEMU does, must not overlap.
	span := (int64(keyBytes)*luksStripes + 511) / 512
	span = (span + 7) &^ 7
	for i := 0; i < 8; i++ {
		a := int64(be.Uint32(h[208+48*i+40:]))
		for j := i + 1; j < 8; j++ {
			b := int64(be.Uint32(h[208+48*j+40:]))
			if a < b+span && b < a+span {
				info.defect(f, ReasonCorrupt, "key slots %d and %d overlap", i, j)
			}
		}
	}
	if active == 0 {
		info.defect(f, ReasonCorrupt, "no active key slot")
	}
	return nil
}
