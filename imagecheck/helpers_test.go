package imagecheck

import (
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/guestinject/guestinject/internal/testsupport/testimage"
)

func run(tb testing.TB, dir string, name string, args ...string) {
	tb.Helper()
	if _, err := exec.LookPath(name); err != nil {
		name = "/usr/sbin/" + name
	}
	cmd := exec.Command(name, args...)
	cmd.Dir = dir
	if out, err := cmd.CombinedOutput(); err != nil {
		tb.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
}

// testImage is an image built by a real tool.
type testImage struct {
	Name     string
	Format   Format // what it is (the format to declare)
	Path     string
	Encrypt  bool   // needs AllowEncryption
	Want     Reason // "" for benign images, else the expected rejection
	qemuInfo bool   // qemu-img info -f Format accepts it
}

var (
	corpusOnce sync.Once
	corpusDir  string
	corpusList []testImage
	corpusErr  string
)

const lukSecret = "--object=secret,id=sec0,data=imagecheck-test"

// corpus builds, once per test binary, every image qemu-img and friends can
// make for the formats imagecheck knows.
func corpus(tb testing.TB) []testImage {
	tb.Helper()
	testimage.NeedTools(tb, "qemu-img", "sfdisk", "genisoimage")
	corpusOnce.Do(func() {
		dir, err := os.MkdirTemp("", "imagecheck-corpus-")
		if err != nil {
			corpusErr = err.Error()
			return
		}
		corpusDir = dir
		var ok bool
		corpusList, ok = buildCorpus(tb, dir)
		if !ok {
			corpusErr = "building the corpus failed"
		}
	})
	if corpusErr != "" {
		tb.Fatal(corpusErr)
	}
	return corpusList
}

func TestMain(m *testing.M) {
	code := m.Run()
	if corpusDir != "" {
		os.RemoveAll(corpusDir)
	}
	os.Exit(code)
}

func buildCorpus(tb testing.TB, dir string) (imgs []testImage, ok bool) {
	defer func() {
		if r := recover(); r != nil {
			tb.Errorf("building corpus: %v", r)
			ok = false
		}
	}()
	q := func(args ...string) { run(tb, dir, "qemu-img", args...) }
	// LUKS creation calibrates PBKDF2 against CPU time and fails now and
	// then on a busy machine ("Unable to get accurate CPU usage"); retry.
	qLUKS := func(args ...string) {
		var err error
		for range 5 {
			if err = runStdin(dir, "", "qemu-img", args...); err == nil {
				return
			}
		}
		panic(err)
	}
	add := func(name string, f Format, want Reason) {
		imgs = append(imgs, testImage{Name: name, Format: f, Path: filepath.Join(dir, name), Want: want, qemuInfo: true})
	}
	// Seed data so converted images have allocated clusters.
	data := make([]byte, 3<<20)
	for i := range data {
		data[i] = byte(i*7 + i>>9)
	}
	if err := os.WriteFile(filepath.Join(dir, "seed.raw"), data, 0o644); err != nil {
		panic(err)
	}

	q("create", "-q", "-f", "raw", "raw.img", "10M")
	add("raw.img", Raw, "")
	add("seed.raw", Raw, "")
	q("create", "-q", "-f", "raw", "gpt.img", "8M")
	if err := runStdin(dir, ",4M,L\n", "sfdisk", "-q", "--label", "gpt", "gpt.img"); err != nil {
		panic(err)
	}
	add("gpt.img", Raw, "")
	q("create", "-q", "-f", "raw", "mbr.img", "8M")
	if err := runStdin(dir, ",4M,L\n", "sfdisk", "-q", "--label", "dos", "mbr.img"); err != nil {
		panic(err)
	}
	add("mbr.img", Raw, "")

	if err := os.MkdirAll(filepath.Join(dir, "isotree"), 0o755); err != nil {
		panic(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "isotree", "meta_data.json"), []byte(`{"uuid":"x"}`), 0o644); err != nil {
		panic(err)
	}
	run(tb, dir, "genisoimage", "-quiet", "-o", "cd.iso", "-V", "config-2", "-r", "-J", "isotree")
	add("cd.iso", ISO, "")
	run(tb, dir, "genisoimage", "-quiet", "-udf", "-o", "udf.iso", "-r", "isotree")
	add("udf.iso", ISO, "")
	run(tb, dir, "cp", "cd.iso", "hybrid.iso")
	run(tb, dir, "truncate", "-s", "2M", "hybrid.iso")
	if err := runStdin(dir, "label: gpt\n", "sfdisk", "-q", "hybrid.iso"); err != nil {
		panic(err)
	}
	add("hybrid.iso", ISO, ReasonPolyglot)

	for _, o := range []struct{ name, opts string }{
		{"v3.qcow2", "compat=1.1"},
		{"v2.qcow2", "compat=0.10"},
		{"extl2.qcow2", "extended_l2=on,cluster_size=128k"},
		{"c512.qcow2", "cluster_size=512"},
		{"c2m.qcow2", "cluster_size=2M"},
		{"lazy.qcow2", "lazy_refcounts=on"},
		{"zstd.qcow2", "compression_type=zstd"},
		{"prealloc.qcow2", "preallocation=metadata"},
		{"refbits1.qcow2", "refcount_bits=1"},
	} {
		q("create", "-q", "-f", "qcow2", "-o", o.opts, o.name, "1G")
		add(o.name, QCOW2, "")
	}
	q("convert", "-O", "qcow2", "-c", "seed.raw", "conv.qcow2")
	add("conv.qcow2", QCOW2, "")
	q("create", "-q", "-f", "qcow2", "snap.qcow2", "64M")
	q("snapshot", "-c", "s1", "snap.qcow2")
	add("snap.qcow2", QCOW2, "")
	q("create", "-q", "-f", "qcow2", "bitmap.qcow2", "64M")
	q("bitmap", "--add", "bitmap.qcow2", "b0")
	add("bitmap.qcow2", QCOW2, "")
	q("create", "-q", "-f", "qcow2", "odd.qcow2", "1000001")
	add("odd.qcow2", QCOW2, "")
	qLUKS("create", "-q", "-f", "qcow2", lukSecret, "-o", "encrypt.format=luks,encrypt.key-secret=sec0,encrypt.iter-time=50", "enc.qcow2", "64M")
	imgs = append(imgs, testImage{Name: "enc.qcow2", Format: QCOW2, Path: filepath.Join(dir, "enc.qcow2"), Encrypt: true, qemuInfo: true})
	// Hostile images qemu-img itself makes.
	q("create", "-q", "-f", "qcow2", "-F", "raw", "-b", filepath.Join(dir, "raw.img"), "backed.qcow2")
	add("backed.qcow2", QCOW2, ReasonBackingFile)
	q("create", "-q", "-f", "qcow2", "-o", "data_file="+filepath.Join(dir, "external.raw"), "datafile.qcow2", "64M")
	add("datafile.qcow2", QCOW2, ReasonDataFile)
	q("create", "-q", "-f", "qcow2", "-o", "data_file="+filepath.Join(dir, "external2.raw")+",data_file_raw=on", "datafileraw.qcow2", "64M")
	add("datafileraw.qcow2", QCOW2, ReasonDataFile)
	q("create", "-q", "-f", "qcow2", "big.qcow2", "2T")
	add("big.qcow2", QCOW2, ReasonTooLarge)

	q("create", "-q", "-f", "qed", "plain.qed", "1G")
	add("plain.qed", QED, "")
	q("create", "-q", "-f", "qed", "-F", "raw", "-b", filepath.Join(dir, "raw.img"), "backed.qed")
	add("backed.qed", QED, ReasonBackingFile)

	q("create", "-q", "-f", "vdi", "dyn.vdi", "1G")
	add("dyn.vdi", VDI, "")
	q("create", "-q", "-f", "vdi", "-o", "static=on", "static.vdi", "5M")
	add("static.vdi", VDI, "")
	q("convert", "-O", "vdi", "seed.raw", "conv.vdi")
	add("conv.vdi", VDI, "")

	q("create", "-q", "-f", "vpc", "dyn.vhd", "1G")
	add("dyn.vhd", VPC, "")
	q("create", "-q", "-f", "vpc", "-o", "subformat=fixed", "fixed.vhd", "10M")
	add("fixed.vhd", VPC, "")
	q("create", "-q", "-f", "vpc", "-o", "force_size=on", "forced.vhd", "1000M")
	add("forced.vhd", VPC, "")
	q("convert", "-O", "vpc", "seed.raw", "conv.vhd")
	add("conv.vhd", VPC, "")

	q("create", "-q", "-f", "vhdx", "dyn.vhdx", "1G")
	add("dyn.vhdx", VHDX, "")
	q("create", "-q", "-f", "vhdx", "-o", "subformat=fixed", "fixed.vhdx", "8M")
	add("fixed.vhdx", VHDX, "")
	q("create", "-q", "-f", "vhdx", "-o", "block_size=8M,log_size=2M", "bs.vhdx", "3G")
	add("bs.vhdx", VHDX, "")
	q("convert", "-O", "vhdx", "seed.raw", "conv.vhdx")
	add("conv.vhdx", VHDX, "")

	for _, o := range []struct {
		name, opts string
		want       Reason
	}{
		{"sparse.vmdk", "subformat=monolithicSparse", ""},
		{"stream.vmdk", "subformat=streamOptimized", ""},
		{"zeroed.vmdk", "zeroed_grain=on", ""},
		{"hw.vmdk", "hwversion=6", ""},
		{"flat.vmdk", "subformat=monolithicFlat", ReasonExternalExtent},
		{"split.vmdk", "subformat=twoGbMaxExtentSparse", ReasonExternalExtent},
		{"splitflat.vmdk", "subformat=twoGbMaxExtentFlat", ReasonExternalExtent},
	} {
		q("create", "-q", "-f", "vmdk", "-o", o.opts, o.name, "100M")
		add(o.name, VMDK, o.want)
	}
	q("convert", "-O", "vmdk", "-o", "subformat=streamOptimized", "seed.raw", "convstream.vmdk")
	add("convstream.vmdk", VMDK, "")
	q("convert", "-O", "vmdk", "seed.raw", "conv.vmdk")
	add("conv.vmdk", VMDK, "")
	q("create", "-q", "-f", "vmdk", "-F", "vmdk", "-b", filepath.Join(dir, "sparse.vmdk"), "child.vmdk")
	add("child.vmdk", VMDK, ReasonBackingFile)

	qLUKS("create", "-q", "-f", "luks", lukSecret, "-o", "key-secret=sec0,iter-time=50", "disk.luks", "16M")
	imgs = append(imgs, testImage{Name: "disk.luks", Format: LUKS, Path: filepath.Join(dir, "disk.luks"), Encrypt: true, qemuInfo: true})
	return imgs, true
}

func runStdin(dir, stdin, name string, args ...string) error {
	if _, err := exec.LookPath(name); err != nil {
		name = "/usr/sbin/" + name
	}
	cmd := exec.Command(name, args...)
	cmd.Dir = dir
	cmd.Stdin = strings.NewReader(stdin)
	out, err := cmd.CombinedOutput()
	if err != nil {
		return &exec.Error{Name: name + ": " + string(out), Err: err}
	}
	return nil
}

// qemuInfoProbe runs qemu-img info without -f: what QEMU's probe picks.
func qemuInfoProbe(tb testing.TB, path string) (*qemuInfo, error) {
	tb.Helper()
	out, err := exec.Command("qemu-img", "info", "--output=json", path).Output()
	if err != nil {
		return nil, err
	}
	var qi qemuInfo
	if err := json.Unmarshal(out, &qi); err != nil {
		tb.Fatalf("parsing qemu-img output: %v", err)
	}
	return &qi, nil
}

func policyFor(img testImage) Policy {
	p := DefaultPolicy().WithFormats(img.Format)
	p.AllowEncryption = img.Encrypt
	return p
}

var bg = context.Background()
