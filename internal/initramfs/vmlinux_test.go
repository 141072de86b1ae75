package initramfs

import (
	"bytes"
	"compress/gzip"
	"encoding/binary"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/guestinject/guestinject/internal/guestabi"
	"github.com/guestinject/guestinject/internal/testsupport/testimage"
)

func TestLZ4Block(t *testing.T) {
	for _, tc := range []struct {
		name string
		src  []byte
		want string
	}{
		{"literals only", []byte{0x50, 'h', 'e', 'l', 'l', 'o'}, "hello"},
		// "ab", then a match of 6 at offset 2 (overlapping), then "c".
		{"overlapping match", []byte{0x22, 'a', 'b', 0x02, 0x00, 0x10, 'c'}, "abababab" + "c"},
		// 15+3 literals: the length continues in the next byte.
		{"long literals", append([]byte{0xF0, 3}, []byte("0123456789abcdefgh")...), "0123456789abcdefgh"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := lz4Block(nil, tc.src, 1<<20)
			if err != nil || string(got) != tc.want {
				t.Errorf("lz4Block = %q, %v; want %q", got, err, tc.want)
			}
		})
	}
}

func TestLZ4BlockRejects(t *testing.T) {
	for name, src := range map[string][]byte{
		"literals past the end": {0x50, 'h', 'i'},
		"offset zero":           {0x10, 'a', 0x00, 0x00, 0x00},
		"offset before start":   {0x10, 'a', 0x05, 0x00, 0x00},
		"truncated offset":      {0x10, 'a', 0x01},
		"unterminated length":   {0xF0, 255, 255},
	} {
		if _, err := lz4Block(nil, src, 1<<20); !errors.Is(err, errNoELF) {
			t.Errorf("%s: err = %v, want errNoELF", name, err)
		}
	}
	// The output bound holds for matches that would expand past it.
	if _, err := lz4Block(nil, []byte{0x1F, 'a', 0x01, 0x00, 250}, 100); err == nil {
		t.Error("lz4Block wrote past its limit")
	}
}

func FuzzLZ4Block(f *testing.F) {
	f.Add([]byte{0x22, 'a', 'b', 0x02, 0x00, 0x10, 'c'})
	f.Add([]byte{0xFF, 255, 255, 0x01, 0x00, 255})
	f.Fuzz(func(t *testing.T, src []byte) {
		const limit = 1 << 16
		out, err := lz4Block(nil, src, limit)
		if err == nil && len(out) > limit {
			t.Fatalf("%d bytes out, limit %d", len(out), limit)
		}
	})
}

// fakeBzImage wraps payload (compressed, with its size appended, as the
// kernel build does) in a minimal boot protocol 2.08 header.
func fakeBzImage(payload []byte, size int) []byte {
	const setupSects = 1
	img := make([]byte, (setupSects+1)*512)
	img[0x1F1] = setupSects
	copy(img[0x202:], "HdrS")
	binary.LittleEndian.PutUint16(img[0x206:], 0x20F)
	binary.LittleEndian.PutUint32(img[0x248:], 16)
	binary.LittleEndian.PutUint32(img[0x24C:], uint32(len(payload)+4))
	img = append(img, make([]byte, 16)...)
	img = append(img, payload...)
	return binary.LittleEndian.AppendUint32(img, uint32(size))
}

func TestBzImagePayload(t *testing.T) {
	want := bytes.Repeat([]byte("\x7fELF kernel "), 100)
	var gz bytes.Buffer
	zw := gzip.NewWriter(&gz)
	zw.Write(want)
	zw.Close()
	// One LZ4 block: 12 literals and a match of the rest at offset 12,
	// then the final literals-only sequence (empty).
	block := append([]byte{0xCF}, want[:12]...)
	block = append(block, 12, 0)
	n := len(want) - 12 - 4 - 15
	for ; n >= 255; n -= 255 {
		block = append(block, 255)
	}
	block = append(block, byte(n), 0x00)
	lz4 := append(append([]byte{}, lz4LegacyMagic...), 0, 0, 0, 0)
	binary.LittleEndian.PutUint32(lz4[4:], uint32(len(block)))
	lz4 = append(lz4, block...)

	for name, payload := range map[string][]byte{"gzip": gz.Bytes(), "lz4": lz4} {
		got, err := bzImagePayload(fakeBzImage(payload, len(want)))
		if err != nil || !bytes.Equal(got, want) {
			t.Errorf("%s: bzImagePayload = %d bytes, %v; want %d bytes", name, len(got), err, len(want))
		}
	}
	if _, err := bzImagePayload(fakeBzImage([]byte{0xfd, '7', 'z', 'X', 'Z', 0}, 10)); !errors.Is(err, errNoELF) {
		t.Errorf("xz payload: err = %v, want errNoELF", err)
	}
	if _, err := bzImagePayload(fakeBzImage(gz.Bytes(), len(want)+1)); !errors.Is(err, errNoELF) {
		t.Errorf("wrong size: err = %v, want errNoELF", err)
	}
}

// TestExtractKernels extracts the kernels the appliance boots, the host's
// and its own, and checks QEMU's PVH entry note is there.
func TestExtractKernels(t *testing.T) {
	t.Run("host", func(t *testing.T) {
		k, err := HostKernel()
		if err != nil {
			testimage.Need(t, "a readable kernel in /boot: "+err.Error())
			return
		}
		checkExtract(t, k)
	})
	t.Run("own", func(t *testing.T) {
		if k := ownKernel(t); k != nil {
			checkExtract(t, k)
		}
	})
}

// ownKernel is the appliance's own kernel in the default cache, or nil
// (after testimage.Need) when make kernel has not built it.
func ownKernel(t *testing.T) *Kernel {
	t.Helper()
	cache, err := cacheDir("")
	if err != nil {
		t.Fatal(err)
	}
	k, err := findKernel("", cache, t.TempDir(), t.TempDir())
	if err != nil || !k.Own {
		testimage.Need(t, "the appliance's own kernel in "+filepath.Join(cache, OwnKernelDir)+" (make kernel)")
		return nil
	}
	return k
}

func checkExtract(t *testing.T, k *Kernel) {
	t.Helper()
	cache := t.TempDir()
	path, err := extractELF(k, cache)
	if errors.Is(err, errNoELF) {
		t.Skipf("%s cannot boot through PVH: %v", k.Path, err)
	}
	if err != nil {
		t.Fatal(err)
	}
	if filepath.Dir(path) != cache {
		t.Errorf("extracted to %s, outside the cache", path)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := checkPVH(data); err != nil {
		t.Error(err)
	}
	// A second call reuses the copy.
	fi, _ := os.Stat(path)
	again, err := extractELF(k, cache)
	fi2, _ := os.Stat(again)
	if err != nil || again != path || !os.SameFile(fi, fi2) {
		t.Errorf("second extractELF = %s, %v", again, err)
	}
}

func TestCheckPVHGarbage(t *testing.T) {
	if err := checkPVH([]byte("\x7fELF not really")); !errors.Is(err, errNoELF) {
		t.Errorf("checkPVH(garbage) = %v", err)
	}
}

// TestOwnKernelHasEveryModule checks the appliance's own kernel has built
// in every module the appliance may load: the build leaves nothing to
// load, and a module it lacked would only show when a guest needed it.
func TestOwnKernelHasEveryModule(t *testing.T) {
	k := ownKernel(t)
	if k == nil {
		return
	}
	km, err := readKernelModules(k.ModulesDir)
	if err != nil {
		t.Fatal(err)
	}
	for _, g := range append(slices.Clone(moduleGroups), moduleGroup{group: guestabi.DMGroup, modules: dmModules}) {
		for _, m := range g.modules {
			if !km.builtin[m] {
				t.Errorf("%s (group %s) is not built into %s", m, g.group, k.Path)
			}
		}
	}
}
