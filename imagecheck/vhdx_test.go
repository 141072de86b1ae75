package imagecheck

import (
	"bytes"
	"errors"
	"fmt"
	"hash/crc32"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// vhdxItem returns the metadata table entry for id in a VHDX image.
func vhdxItem(t *testing.T, img []byte, id [16]byte) (entry []byte, data []byte) {
	t.Helper()
	rt := img[vhdxRegionTableOffset:]
	var meta uint64
	for i := uint32(0); i < le.Uint32(rt[8:]); i++ {
		e := rt[16+32*i:]
		if [16]byte(e[:16]) == vhdxRegionMetadata {
			meta = le.Uint64(e[16:])
		}
	}
	mt := img[meta:]
	for i := 0; i < int(le.Uint16(mt[10:])); i++ {
		e := mt[32+32*i : 64+32*i]
		if [16]byte(e[:16]) == id {
			return e, img[meta+uint64(le.Uint32(e[16:])):]
		}
	}
	t.Fatalf("metadata item %x not found", id)
	return nil, nil
}

func resumVHDX(b []byte) {
	clear(b[4:8])
	put32le(b, 4, crc32.Checksum(b, castagnoli))
}

// TestVHDXHostile patches a real VHDX the ways a hostile uploader would.
func TestVHDXHostile(t *testing.T) {
	var base []byte
	for _, img := range corpus(t) {
		if img.Name == "dyn.vhdx" {
			var err error
			if base, err = os.ReadFile(img.Path); err != nil {
				t.Fatal(err)
			}
		}
	}
	// A policy below the base image's 1 GiB BAT capacity, so that a size
	// QEMU accepts can still exceed it.
	p := allow(VHDX)
	p.MaxVirtualSize = 1 << 30
	// qemuOpens marks the cases qemu-img opens although the checker
	// refuses them (policy, or stricter than QEMU); QEMU refuses the others.
	cases := []struct {
		name      string
		patch     func(t *testing.T, b []byte)
		want      Reason
		qemuOpens bool
	}{
		{"unchanged", func(*testing.T, []byte) {}, "", true},
		{"has parent", func(t *testing.T, b []byte) {
			_, d := vhdxItem(t, b, vhdxFileParameters)
			put32le(d, 4, le.Uint32(d[4:])|2)
		}, ReasonBackingFile, false},
		{"parent locator item", func(t *testing.T, b []byte) {
			e, _ := vhdxItem(t, b, vhdxPage83)
			copy(e, vhdxParentLocatorItem[:])
		}, ReasonBackingFile, false},
		{"unknown required item", func(t *testing.T, b []byte) {
			e, _ := vhdxItem(t, b, vhdxPage83)
			e[0] ^= 0xff
			put32le(e, 24, 4)
		}, ReasonUnknownFeature, false},
		{"virtual size above policy", func(t *testing.T, b []byte) {
			_, d := vhdxItem(t, b, vhdxVirtualDiskSize)
			put64le(d, 0, 1<<30+8<<20)
		}, ReasonTooLarge, true},
		{"virtual size beyond the BAT", func(t *testing.T, b []byte) {
			_, d := vhdxItem(t, b, vhdxVirtualDiskSize)
			put64le(d, 0, 4<<40)
		}, ReasonCorrupt, false},
		{"log needs replay", func(t *testing.T, b []byte) {
			for _, off := range []int{vhdxHeader1Offset, vhdxHeader2Offset} {
				h := b[off : off+vhdxHeaderSize]
				h[48] = 1
				resumVHDX(h)
			}
		}, ReasonDirty, true},
		{"equal sequence numbers, different headers", func(t *testing.T, b []byte) {
			h1, h2 := b[vhdxHeader1Offset:vhdxHeader1Offset+vhdxHeaderSize], b[vhdxHeader2Offset:vhdxHeader2Offset+vhdxHeaderSize]
			copy(h1[8:16], h2[8:16])
			h1[16] ^= 1 // file write GUID
			resumVHDX(h1)
		}, ReasonCorrupt, false},
		{"equal sequence numbers, identical headers", func(t *testing.T, b []byte) {
			copy(b[vhdxHeader1Offset:vhdxHeader1Offset+vhdxHeaderSize], b[vhdxHeader2Offset:vhdxHeader2Offset+vhdxHeaderSize])
		}, "", true},
		{"log inside the header section", func(t *testing.T, b []byte) {
			for _, off := range []int{vhdxHeader1Offset, vhdxHeader2Offset} {
				h := b[off : off+vhdxHeaderSize]
				put64le(h, 72, 0)
				resumVHDX(h)
			}
		}, ReasonCorrupt, false},
		{"log version 1", func(t *testing.T, b []byte) {
			for _, off := range []int{vhdxHeader1Offset, vhdxHeader2Offset} {
				h := b[off : off+vhdxHeaderSize]
				put16le(h, 64, 1)
				resumVHDX(h)
			}
		}, ReasonUnsupportedVersion, false},
		{"4096-byte logical sectors", func(t *testing.T, b []byte) {
			_, d := vhdxItem(t, b, vhdxLogicalSector)
			put32le(d, 0, 4096)
		}, ReasonUnsupportedVersion, false},
		{"BAT region on the metadata region", func(t *testing.T, b []byte) {
			rt := b[vhdxRegionTableOffset : vhdxRegionTableOffset+vhdxRegionTableSize]
			var meta uint64
			for i := uint32(0); i < le.Uint32(rt[8:]); i++ {
				if e := rt[16+32*i:]; [16]byte(e[:16]) == vhdxRegionMetadata {
					meta = le.Uint64(e[16:])
				}
			}
			for i := uint32(0); i < le.Uint32(rt[8:]); i++ {
				if e := rt[16+32*i:]; [16]byte(e[:16]) == vhdxRegionBAT {
					put64le(e, 16, meta)
				}
			}
			resumVHDX(rt)
		}, ReasonCorrupt, false},
		{"payload block past the end of the file", func(t *testing.T, b []byte) {
			rt := b[vhdxRegionTableOffset:]
			for i := uint32(0); i < le.Uint32(rt[8:]); i++ {
				if e := rt[16+32*i:]; [16]byte(e[:16]) == vhdxRegionBAT {
					put64le(b, int(le.Uint64(e[16:])), uint64(len(b)+1<<20)|vhdxBlockFullyPresent)
				}
			}
		}, ReasonTruncated, false},
		{"no valid header", func(t *testing.T, b []byte) {
			b[vhdxHeader1Offset+100]++
			b[vhdxHeader2Offset+100]++
		}, ReasonCorrupt, false},
		{"unknown required region", func(t *testing.T, b []byte) {
			rt := b[vhdxRegionTableOffset : vhdxRegionTableOffset+vhdxRegionTableSize]
			n := le.Uint32(rt[8:])
			e := rt[16+32*n:]
			copy(e, bytes.Repeat([]byte{0x42}, 16))
			put64le(e, 16, 64<<20)
			put32le(e, 24, 1<<20)
			put32le(e, 28, 1)
			put32le(rt, 8, n+1)
			resumVHDX(rt)
		}, ReasonUnknownFeature, false},
	}
	_, qemuErr := exec.LookPath("qemu-img")
	dir := t.TempDir()
	for i, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			img := bytes.Clone(base)
			c.patch(t, img)
			_, err := Check(bg, bytes.NewReader(img), int64(len(img)), VHDX, p)
			if c.want == "" {
				if err != nil {
					t.Fatal(err)
				}
			} else if !errors.Is(err, c.want) {
				t.Fatalf("want %q, got %v", c.want, err)
			}
			if qemuErr != nil {
				return
			}
			path := filepath.Join(dir, fmt.Sprintf("%d.vhdx", i))
			if err := os.WriteFile(path, img, 0o600); err != nil {
				t.Fatal(err)
			}
			_, qerr := runQEMUImgInfo(bg, path, VHDX, DefaultQEMULimits())
			if c.qemuOpens && qerr != nil {
				t.Errorf("qemu-img refuses: %v", qerr)
			} else if !c.qemuOpens && qerr == nil {
				t.Errorf("qemu-img opens it")
			}
		})
	}
}
