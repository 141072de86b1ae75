package imagecheck

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"hash/crc32"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// Raw layout signatures (a GPT header at LBA 1, an ISO 9660 volume
// descriptor at 32 KiB) inside containers: guest data that happens to sit
// there is not a polyglot, bytes the container does not account for are.

// gptHeaderAt writes a GPT header with a valid CRC at off.
func gptHeaderAt(b []byte, off int) {
	h := b[off : off+92]
	clear(h)
	copy(h, "EFI PART")
	put32le(h, 8, 0x00010000)
	put32le(h, 12, 92)
	put64le(h, 24, 1)
	put64le(h, 32, 2047)
	put32le(h, 16, crc32.ChecksumIEEE(h))
}

// isoVolumeAt writes a primary volume descriptor and a set terminator at
// off.
func isoVolumeAt(b []byte, off int) {
	copy(b[off:], "\x01CD001\x01")
	copy(b[off+2048:], "\xffCD001\x01")
}

// filler is guest data that makes every cluster of the first 64 KiB
// allocated.
func filler(n int) []byte {
	b := make([]byte, n)
	for i := range 64 << 10 {
		b[i] = byte(i%251 + 1)
	}
	return b
}

type mapExtent struct {
	Start, Length int64
	Data          bool
	Offset        *int64
}

// hostOffset asks qemu-img map where guest offset 0 of the image lives and
// how far the mapping runs contiguously.
func hostOffset(tb testing.TB, dir, path string, f Format) (off, length int64) {
	tb.Helper()
	out, err := exec.Command("qemu-img", "map", "--output=json", "-f", string(f), filepath.Join(dir, path)).Output()
	if err != nil {
		tb.Fatalf("qemu-img map %s: %v", path, err)
	}
	var m []mapExtent
	if err := json.Unmarshal(out, &m); err != nil {
		tb.Fatal(err)
	}
	if len(m) == 0 || m[0].Start != 0 || !m[0].Data || m[0].Offset == nil {
		tb.Fatalf("%s: guest offset 0 is not mapped: %s", path, out)
	}
	return *m[0].Offset, m[0].Length
}

// guestLayoutImages builds, for every container whose guest data can sit
// below 48 KiB of the file, an image whose guest data puts a GPT header
// at file offset 4096 and an ISO volume descriptor at 32768 (benign), and
// hand-made polyglots: the same signatures outside every allocated
// cluster, or in a cluster the guest sees as zeros.
func guestLayoutImages(tb testing.TB, dir string) []testImage {
	var imgs []testImage
	write := func(name string, b []byte) {
		if err := os.WriteFile(filepath.Join(dir, name), b, 0o644); err != nil {
			panic(err)
		}
	}
	for _, c := range []struct {
		name   string
		format Format
		opts   string
	}{
		{"guestlayout.qcow2", QCOW2, "cluster_size=512"},
		{"guestlayout-v2.qcow2", QCOW2, "compat=0.10,cluster_size=512"},
		{"guestlayout.vhd", VPC, "subformat=dynamic"},
		{"guestlayout-fixed.vhd", VPC, "subformat=fixed"},
		{"guestlayout.vdi", VDI, "static=off"},
		{"guestlayout.qed", QED, "cluster_size=4k,table_size=2"},
	} {
		// Where does guest offset 0 land?
		write("probe.raw", filler(1<<20))
		run(tb, dir, "qemu-img", "convert", "-f", "raw", "-O", string(c.format), "-o", c.opts, "probe.raw", "probe."+c.name)
		h0, n := hostOffset(tb, dir, "probe."+c.name, c.format)
		guest := filler(1 << 20)
		if 4096-h0 >= 0 {
			gptHeaderAt(guest, int(4096-h0))
		}
		if 32768-h0 < 0 || 32768-h0+2048+7 > n {
			panic(fmt.Sprintf("%s: guest data at %d..%d cannot reach 32 KiB", c.name, h0, h0+n))
		}
		isoVolumeAt(guest, int(32768-h0))
		write("guest.raw", guest)
		run(tb, dir, "qemu-img", "convert", "-f", "raw", "-O", string(c.format), "-o", c.opts, "guest.raw", c.name)
		if h, _ := hostOffset(tb, dir, c.name, c.format); h != h0 {
			panic(fmt.Sprintf("%s: guest offset 0 moved from %d to %d", c.name, h0, h))
		}
		imgs = append(imgs, testImage{Name: c.name, Format: c.format, Path: filepath.Join(dir, c.name), qemuInfo: true})
	}

	// Polyglots by hand. A small qcow2 with 512-byte clusters ends before
	// 32 KiB; the signatures written past its end belong to no cluster.
	small := filler(1 << 20)[:4096]
	write("small.raw", append(small, make([]byte, 1<<20-4096)...))
	run(tb, dir, "qemu-img", "convert", "-f", "raw", "-O", "qcow2", "-o", "cluster_size=512", "small.raw", "small.qcow2")
	b, err := os.ReadFile(filepath.Join(dir, "small.qcow2"))
	if err != nil {
		panic(err)
	}
	if len(b) > 32768 {
		panic(fmt.Sprintf("small.qcow2 is %d bytes", len(b)))
	}
	tail := append(bytes.Clone(b), make([]byte, 40960-len(b))...)
	isoVolumeAt(tail, 32768)
	write("unmapped-iso.qcow2", tail)
	imgs = append(imgs, testImage{Name: "unmapped-iso.qcow2", Format: QCOW2, Path: filepath.Join(dir, "unmapped-iso.qcow2"), Want: ReasonPolyglot, qemuInfo: true})

	// The guest's ISO volume, then zeroed: the cluster stays allocated
	// with the zero flag, the guest reads zeros, the file still holds the
	// volume descriptor.
	run(tb, dir, "cp", "guestlayout.qcow2", "zeroed-iso.qcow2")
	h0, _ := hostOffset(tb, dir, "guestlayout.qcow2", QCOW2)
	run(tb, dir, "qemu-io", "-f", "qcow2", "-c", fmt.Sprintf("write -z %d 4096", 32768-h0), "zeroed-iso.qcow2")
	imgs = append(imgs, testImage{Name: "zeroed-iso.qcow2", Format: QCOW2, Path: filepath.Join(dir, "zeroed-iso.qcow2"), Want: ReasonPolyglot, qemuInfo: true})
	return imgs
}

// TestGuestLayoutSignatures checks that the corpus's guest-layout images
// really carry the raw signatures at the file offsets that matter, so that
// accepting them tests something.
func TestGuestLayoutSignatures(t *testing.T) {
	for _, img := range corpus(t) {
		want := map[string]bool{
			"guestlayout.qcow2": true, "guestlayout-v2.qcow2": true, "guestlayout.vhd": true, "guestlayout-fixed.vhd": true,
			"guestlayout.vdi": true, "guestlayout.qed": true, "unmapped-iso.qcow2": true, "zeroed-iso.qcow2": true,
		}[img.Name]
		if !want {
			continue
		}
		t.Run(img.Name, func(t *testing.T) {
			b, err := os.ReadFile(img.Path)
			if err != nil {
				t.Fatal(err)
			}
			src := newSource(bytes.NewReader(b), int64(len(b)))
			iso, err := detectISO(bg, src)
			if err != nil || !iso.found() {
				t.Fatalf("no ISO volume at 32 KiB of the file (%v)", err)
			}
			// Where guest offset 0 lies at or below 4096, the guest's GPT
			// header sits at LBA 1 of 4096-byte sectors too.
			if img.Want == "" && img.Format != QED {
				if gpt, err := detectGPT(bg, src); err != nil || !gpt.found() {
					t.Fatalf("no GPT header at 4096 of the file (%v)", err)
				}
			}
			info, err := Check(bg, bytes.NewReader(b), int64(len(b)), img.Format, policyFor(img))
			if img.Want == "" {
				if err != nil {
					t.Fatalf("guest data taken for a polyglot: %v", err)
				}
				if info.Has(ISO) || info.Has(GPT) || info.PartitionTable != "" {
					t.Errorf("guest data reported as a layout: %v %q", info.Formats, info.PartitionTable)
				}
			} else if !errors.Is(err, img.Want) {
				t.Fatalf("want %q, got %v", img.Want, err)
			}
		})
	}
}
