package imagecheck

import (
	"bytes"
	"errors"
	"hash/crc32"
	"os"
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
	p := allow(VHDX)
	cases := []struct {
		name  string
		patch func(t *testing.T, b []byte)
		want  Reason
	}{
		{"unchanged", func(*testing.T, []byte) {}, ""},
		{"has parent", func(t *testing.T, b []byte) {
			_, d := vhdxItem(t, b, vhdxFileParameters)
			put32le(d, 4, le.Uint32(d[4:])|2)
		}, ReasonBackingFile},
		{"parent locator item", func(t *testing.T, b []byte) {
			e, _ := vhdxItem(t, b, vhdxPage83)
			copy(e, vhdxParentLocatorItem[:])
		}, ReasonBackingFile},
		{"unknown required item", func(t *testing.T, b []byte) {
			e, _ := vhdxItem(t, b, vhdxPage83)
			e[0] ^= 0xff
			put32le(e, 24, 4)
		}, ReasonUnknownFeature},
		{"virtual size above policy", func(t *testing.T, b []byte) {
			_, d := vhdxItem(t, b, vhdxVirtualDiskSize)
			put64le(d, 0, 4<<40)
		}, ReasonTooLarge},
		{"log needs replay", func(t *testing.T, b []byte) {
			for _, off := range []int{vhdxHeader1Offset, vhdxHeader2Offset} {
				h := b[off : off+vhdxHeaderSize]
				h[48] = 1
				resumVHDX(h)
			}
		}, ReasonDirty},
		{"no valid header", func(t *testing.T, b []byte) {
			b[vhdxHeader1Offset+100]++
			b[vhdxHeader2Offset+100]++
		}, ReasonCorrupt},
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
		}, ReasonUnknownFeature},
	}
	for _, c := range cases {
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
		})
	}
}
