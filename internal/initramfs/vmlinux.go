package initramfs

import (
	"bytes"
	"compress/bzip2"
	"compress/gzip"
	"crypto/sha256"
	"debug/elf"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
)

// The x86 bzImage carries the kernel ELF compressed, and the kernel spends
// a good part of a TCG boot decompressing itself (and the firmware copying
// the setup code around). A kernel built with CONFIG_PVH can instead be
// started straight from the uncompressed ELF through its Xen PVH entry
// point, which QEMU supports with -kernel. extractELF makes that copy once
// per kernel, into the cache.

// maxVmlinux bounds the uncompressed kernel.
const maxVmlinux = 512 << 20

// errNoELF means the kernel cannot be booted from an extracted ELF: its
// payload is compressed with a method this package does not decode, or the
// ELF has no PVH entry point. The bzImage is used then.
var errNoELF = errors.New("no bootable uncompressed kernel")

// extractELF returns the path of the uncompressed, PVH-bootable ELF of the
// bzImage k in the cache, extracting it unless it is there. The caller
// holds the cache lock.
func extractELF(k *Kernel, cache string) (string, error) {
	fi, err := os.Stat(k.Path)
	if err != nil {
		return "", fmt.Errorf("kernel: %w", err)
	}
	key := sha256.Sum256(fmt.Appendf(nil, "%s\n%d\n%d\n", k.Path, fi.Size(), fi.ModTime().UnixNano()))
	out := filepath.Join(cache, fmt.Sprintf("vmlinux-%s-%s", k.Version, hex.EncodeToString(key[:8])))
	if _, err := os.Stat(out); err == nil {
		return out, nil
	}
	img, err := os.ReadFile(k.Path)
	if err != nil {
		return "", fmt.Errorf("kernel: %w", err)
	}
	vmlinux, err := bzImagePayload(img)
	if err != nil {
		return "", fmt.Errorf("kernel %s: %w", k.Path, err)
	}
	if err := checkPVH(vmlinux); err != nil {
		return "", fmt.Errorf("kernel %s: %w", k.Path, err)
	}
	if err := writeAtomic(out, vmlinux); err != nil {
		return "", err
	}
	return out, nil
}

// bzImagePayload decompresses the kernel ELF inside an x86 bzImage (boot
// protocol 2.08 or later).
func bzImagePayload(img []byte) ([]byte, error) {
	if len(img) < 0x250 || string(img[0x202:0x206]) != "HdrS" || binary.LittleEndian.Uint16(img[0x206:]) < 0x208 {
		return nil, fmt.Errorf("%w: not a bzImage of boot protocol 2.08 or later", errNoELF)
	}
	setupSects := int(img[0x1F1])
	if setupSects == 0 {
		setupSects = 4
	}
	start := uint64(setupSects+1)*512 + uint64(binary.LittleEndian.Uint32(img[0x248:]))
	length := uint64(binary.LittleEndian.Uint32(img[0x24C:]))
	if length < 4 || start+length > uint64(len(img)) {
		return nil, fmt.Errorf("%w: payload outside the image", errNoELF)
	}
	// The payload ends with its uncompressed size.
	payload := img[start : start+length]
	size := binary.LittleEndian.Uint32(payload[len(payload)-4:])
	if size > maxVmlinux {
		return nil, fmt.Errorf("%w: uncompressed kernel of %d bytes", errNoELF, size)
	}
	var r io.Reader
	switch {
	case bytes.HasPrefix(payload, []byte{0x1f, 0x8b}):
		zr, err := gzip.NewReader(bytes.NewReader(payload))
		if err != nil {
			return nil, fmt.Errorf("%w: %v", errNoELF, err)
		}
		zr.Multistream(false)
		r = zr
	case bytes.HasPrefix(payload, []byte("BZh")):
		r = bzip2.NewReader(bytes.NewReader(payload))
	case bytes.HasPrefix(payload, lz4LegacyMagic):
		return unlz4Legacy(payload[:len(payload)-4], int(size))
	default:
		return nil, fmt.Errorf("%w: payload compression %x not supported", errNoELF, payload[:min(6, len(payload))])
	}
	out := make([]byte, 0, size)
	buf := bytes.NewBuffer(out)
	if _, err := io.Copy(buf, io.LimitReader(r, int64(size)+1)); err != nil {
		return nil, fmt.Errorf("%w: decompressing: %v", errNoELF, err)
	}
	if buf.Len() != int(size) {
		return nil, fmt.Errorf("%w: payload decompresses to %d bytes, header says %d", errNoELF, buf.Len(), size)
	}
	return buf.Bytes(), nil
}

// checkPVH checks vmlinux is an x86-64 ELF with a Xen PVH entry point
// note (XEN_ELFNOTE_PHYS32_ENTRY), which is what QEMU boots.
func checkPVH(vmlinux []byte) error {
	f, err := elf.NewFile(bytes.NewReader(vmlinux))
	if err != nil {
		return fmt.Errorf("%w: %v", errNoELF, err)
	}
	if f.Machine != elf.EM_X86_64 {
		return fmt.Errorf("%w: ELF for %v", errNoELF, f.Machine)
	}
	const xenElfnotePhys32Entry = 18
	for _, p := range f.Progs {
		if p.Type != elf.PT_NOTE {
			continue
		}
		notes, err := io.ReadAll(io.LimitReader(p.Open(), 1<<20))
		if err != nil {
			continue
		}
		for len(notes) >= 12 {
			namesz, descsz, typ := binary.LittleEndian.Uint32(notes), binary.LittleEndian.Uint32(notes[4:]), binary.LittleEndian.Uint32(notes[8:])
			name := noteAlign(uint64(namesz))
			total := 12 + name + noteAlign(uint64(descsz))
			if total > uint64(len(notes)) {
				break
			}
			if typ == xenElfnotePhys32Entry && bytes.Equal(bytes.TrimRight(notes[12:12+namesz], "\x00"), []byte("Xen")) {
				return nil
			}
			notes = notes[total:]
		}
	}
	return fmt.Errorf("%w: the kernel has no PVH entry point (CONFIG_PVH)", errNoELF)
}

func noteAlign(n uint64) uint64 { return (n + 3) &^ 3 }

// lz4LegacyMagic starts the LZ4 legacy frame the kernel build uses.
var lz4LegacyMagic = []byte{0x02, 0x21, 0x4c, 0x18}

// unlz4Legacy decodes an LZ4 legacy frame (magic, then blocks each
// preceded by its compressed size, concatenated frames allowed) into
// exactly size bytes.
func unlz4Legacy(src []byte, size int) ([]byte, error) {
	out := make([]byte, 0, size)
	for len(src) > 0 {
		if bytes.HasPrefix(src, lz4LegacyMagic) {
			src = src[4:]
			continue
		}
		if len(src) < 4 {
			return nil, fmt.Errorf("%w: lz4: truncated block header", errNoELF)
		}
		n := uint64(binary.LittleEndian.Uint32(src))
		src = src[4:]
		if n > uint64(len(src)) {
			return nil, fmt.Errorf("%w: lz4: block of %d bytes past the end", errNoELF, n)
		}
		var err error
		if out, err = lz4Block(out, src[:n], size); err != nil {
			return nil, err
		}
		src = src[n:]
	}
	if len(out) != size {
		return nil, fmt.Errorf("%w: lz4: %d bytes decoded, header says %d", errNoELF, len(out), size)
	}
	return out, nil
}

// lz4Block appends the decoded LZ4 block src to dst, never past limit
// bytes in all.
func lz4Block(dst, src []byte, limit int) ([]byte, error) {
	bad := func(what string) ([]byte, error) { return nil, fmt.Errorf("%w: lz4: %s", errNoELF, what) }
	length := func(n int, i *int) (int, bool) {
		if n != 15 {
			return n, true
		}
		for *i < len(src) {
			b := src[*i]
			*i++
			n += int(b)
			if n > limit {
				return 0, false
			}
			if b != 255 {
				return n, true
			}
		}
		return 0, false
	}
	for i := 0; i < len(src); {
		token := src[i]
		i++
		lit, ok := length(int(token>>4), &i)
		if !ok || lit > len(src)-i || len(dst)+lit > limit {
			return bad("bad literal length")
		}
		dst = append(dst, src[i:i+lit]...)
		i += lit
		if i == len(src) {
			break // the last sequence has literals only
		}
		if i+2 > len(src) {
			return bad("truncated offset")
		}
		off := int(binary.LittleEndian.Uint16(src[i:]))
		i += 2
		ml, ok := length(int(token&15), &i)
		if !ok {
			return bad("bad match length")
		}
		ml += 4
		if off == 0 || off > len(dst) || len(dst)+ml > limit {
			return bad("bad match")
		}
		// Overlapping copies repeat the last off bytes.
		for pos := len(dst) - off; ml > 0; {
			chunk := min(ml, len(dst)-pos)
			dst = append(dst, dst[pos:pos+chunk]...)
			pos += chunk
			ml -= chunk
		}
	}
	return dst, nil
}
