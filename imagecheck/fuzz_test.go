package imagecheck

import (
	"bytes"
	"context"
	"flag"
	"io"
	"os"
	"os/exec"
	"testing"
)

// maxSeed caps seeds taken from real images so the fuzzer stays fast.
const maxSeed = 4 << 20

// fuzzSeeds adds every crafted image and, when qemu-img is installed, every
// corpus image (truncated to maxSeed) to f.
func fuzzSeeds(f *testing.F, keep func(Format) bool) {
	for _, c := range craftedCases() {
		if keep(c.declared) {
			f.Add(c.img)
		}
	}
	if _, err := exec.LookPath("qemu-img"); err != nil || isFuzzWorker() {
		// Workers get their inputs from the coordinator; building the
		// corpus there would only delay them.
		return
	}
	for _, img := range corpus(f) {
		if !keep(img.Format) {
			continue
		}
		// Most headers live in the first 256 KiB; VHDX metadata and VMDK
		// footers need the whole (small) file. Only that much is read: some
		// corpus images are gigabytes of holes.
		limit := int64(256 << 10)
		if img.Format == VHDX || img.Format == VMDK {
			limit = maxSeed
		}
		b, err := readHead(img.Path, limit)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
}

// readHead returns the first n bytes of the file at path, or all of a
// shorter file.
func readHead(path string, n int64) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return io.ReadAll(io.LimitReader(f, n))
}

// checkParser runs one parser over data and checks the invariants every
// parser keeps whatever the input: no panic, bounded reads, sane sizes.
func checkParser(t *testing.T, format Format, parse func(context.Context, *source, *Info) error, data []byte) {
	src := newSource(bytes.NewReader(data), int64(len(data)))
	info := &Info{Format: format, FileSize: int64(len(data))}
	err := runParser(context.Background(), src, info, parse)
	if src.read > MaxBytesRead {
		t.Fatalf("read %d bytes", src.read)
	}
	if err != nil && !isReadLimit(err) {
		t.Fatalf("parser returned %v on an in-memory image", err)
	}
	if info.VirtualSize < 0 {
		t.Fatalf("negative virtual size %d", info.VirtualSize)
	}
	for _, d := range info.Defects {
		if d.Reason == "" {
			t.Fatalf("defect without reason: %v", d)
		}
	}
}

func isFuzzWorker() bool {
	fl := flag.Lookup("test.fuzzworker")
	return fl != nil && fl.Value.String() == "true"
}

func isReadLimit(err error) bool {
	return err != nil && bytes.Contains([]byte(err.Error()), []byte(ErrReadLimit.Error()))
}

func all(Format) bool { return true }

func only(fs ...Format) func(Format) bool {
	return func(f Format) bool {
		for _, g := range fs {
			if f == g {
				return true
			}
		}
		return false
	}
}

// FuzzInspect drives the whole pipeline: probe, parsers, policy.
func FuzzInspect(f *testing.F) {
	fuzzSeeds(f, all)
	f.Fuzz(func(t *testing.T, data []byte) {
		info, err := Inspect(context.Background(), bytes.NewReader(data), int64(len(data)))
		if err != nil && !isReadLimit(err) {
			t.Fatal(err)
		}
		if info.BytesRead > MaxBytesRead {
			t.Fatalf("read %d bytes", info.BytesRead)
		}
		if len(info.Formats) == 0 {
			t.Fatal("no format at all: raw must be the fallback")
		}
		for _, declared := range []Format{Raw, QCOW2, VMDK, VPC, VHDX, VDI, QED, LUKS, ISO} {
			p := Policy{AllowedFormats: []Format{declared}, AllowEncryption: true}
			if rej := Judge(info, declared, p); rej == nil {
				format := info.Format
				if declared == Raw && format == ISO {
					format = Raw // an ISO filesystem is raw content
				}
				if format != declared || len(info.Defects) > 0 || info.MaxSize() > DefaultMaxVirtualSize {
					t.Fatalf("accepted as %s: format %s, defects %v, size %d", declared, info.Format, info.Defects, info.MaxSize())
				}
			}
		}
	})
}

func FuzzQCOW2(f *testing.F) {
	fuzzSeeds(f, only(QCOW2))
	f.Fuzz(func(t *testing.T, data []byte) { checkParser(t, QCOW2, inspectQCOW2, data) })
}

func FuzzQED(f *testing.F) {
	fuzzSeeds(f, only(QED))
	f.Fuzz(func(t *testing.T, data []byte) { checkParser(t, QED, inspectQED, data) })
}

func FuzzVMDK(f *testing.F) {
	fuzzSeeds(f, only(VMDK))
	f.Fuzz(func(t *testing.T, data []byte) { checkParser(t, VMDK, inspectVMDK, data) })
}

// FuzzVMDKDescriptor checks the descriptor scanner against its own
// guarantees: extents have positive sizes and a known access mode.
func FuzzVMDKDescriptor(f *testing.F) {
	f.Add(vmdkDesc("monolithicSparse", `RW 2048 SPARSE "disk.vmdk"`))
	f.Add(vmdkDesc("monolithicFlat", `RW 2048 FLAT "disk-flat.vmdk" 0`, `RDONLY 10 FLAT "x" 5`))
	f.Add("RW\n-1\nFLAT\n\"a\" 99999999999999999999999")
	f.Add(`createType="` + "\nRW 1 ZERO \"\"")
	f.Fuzz(func(t *testing.T, text string) {
		d := parseVMDKDescriptor(text)
		for _, e := range d.extents {
			if e.Sectors <= 0 || !vmdkAccessModes[e.Access] || e.FileName == "" || len(e.FileName) > 511 {
				t.Fatalf("bad extent %+v", e)
			}
		}
		probeVMDK(append([]byte(text), make([]byte, probeSize)...)[:probeSize])
	})
}

func FuzzVPC(f *testing.F) {
	fuzzSeeds(f, only(VPC))
	f.Fuzz(func(t *testing.T, data []byte) { checkParser(t, VPC, inspectVPC, data) })
}

func FuzzVHDX(f *testing.F) {
	fuzzSeeds(f, only(VHDX))
	f.Fuzz(func(t *testing.T, data []byte) { checkParser(t, VHDX, inspectVHDX, data) })
}

func FuzzVDI(f *testing.F) {
	fuzzSeeds(f, only(VDI))
	f.Fuzz(func(t *testing.T, data []byte) { checkParser(t, VDI, inspectVDI, data) })
}

func FuzzLUKS(f *testing.F) {
	fuzzSeeds(f, only(LUKS))
	f.Fuzz(func(t *testing.T, data []byte) { checkParser(t, LUKS, inspectLUKS, data) })
}

func FuzzISO(f *testing.F) {
	fuzzSeeds(f, only(ISO, Raw))
	f.Fuzz(func(t *testing.T, data []byte) {
		checkParser(t, ISO, func(ctx context.Context, src *source, info *Info) error {
			if _, err := detectGPT(ctx, src); err != nil {
				return err
			}
			return inspectISO(ctx, src, info)
		}, data)
	})
}
