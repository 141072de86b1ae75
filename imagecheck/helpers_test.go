package imagecheck

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
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
	// Content is Info.Format when it differs from Format: the layout of a
	// raw image (iso).
	Content Format
}

var (
	corpusOnce sync.Once
	corpusDir  string
	corpusList []testImage
	corpusErr  string
)

const lukSecret = "--object=secret,id=sec0,data=" + secretData

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
		for range 10 {
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
	// A config drive is a raw disk holding an ISO 9660 filesystem.
	for _, name := range []string{"cd.iso", "udf.iso"} {
		imgs = append(imgs, testImage{Name: name + " as raw", Format: Raw, Path: filepath.Join(dir, name), qemuInfo: true, Content: ISO})
	}
	run(tb, dir, "cp", "cd.iso", "hybrid.iso")
	run(tb, dir, "truncate", "-s", "2M", "hybrid.iso")
	if err := runStdin(dir, "label: gpt\n", "sfdisk", "-q", "hybrid.iso"); err != nil {
		panic(err)
	}
	add("hybrid.iso", ISO, ReasonPolyglot)

	for _, o := range []struct{ name, opts string }{
		{"v3.qcow2", "compat=1.1"},
		{"v2.qcow2", "compat=0.10"},
		{"v2c512.qcow2", "compat=0.10,cluster_size=512"},
		{"v2c4k.qcow2", "compat=0.10,cluster_size=4k"},
		{"v2c2m.qcow2", "compat=0.10,cluster_size=2M"},
		{"extl2.qcow2", "extended_l2=on,cluster_size=128k"},
		{"extl2c16k.qcow2", "extended_l2=on,cluster_size=16k"},
		{"extl2c2m.qcow2", "extended_l2=on,cluster_size=2M"},
		{"c512.qcow2", "cluster_size=512"},
		{"c4k.qcow2", "cluster_size=4k"},
		{"c2m.qcow2", "cluster_size=2M"},
		{"lazy.qcow2", "lazy_refcounts=on"},
		{"zstd.qcow2", "compression_type=zstd"},
		{"prealloc.qcow2", "preallocation=metadata"},
		{"refbits1.qcow2", "refcount_bits=1"},
		{"refbits64.qcow2", "refcount_bits=64"},
	} {
		q("create", "-q", "-f", "qcow2", "-o", o.opts, o.name, "1G")
		add(o.name, QCOW2, "")
	}
	q("create", "-q", "-f", "qcow2", "-o", "preallocation=falloc,cluster_size=4k", "falloc.qcow2", "4M")
	add("falloc.qcow2", QCOW2, "")
	q("convert", "-O", "qcow2", "-c", "seed.raw", "conv.qcow2")
	add("conv.qcow2", QCOW2, "")
	q("convert", "-O", "qcow2", "-c", "-o", "compression_type=zstd", "seed.raw", "convzstd.qcow2")
	add("convzstd.qcow2", QCOW2, "")
	q("convert", "-O", "qcow2", "-c", "-o", "compat=0.10,cluster_size=4k", "seed.raw", "convv2.qcow2")
	add("convv2.qcow2", QCOW2, "")
	q("convert", "-O", "qcow2", "-o", "extended_l2=on", "seed.raw", "convextl2.qcow2")
	add("convextl2.qcow2", QCOW2, "")
	// Odd virtual sizes, every format and subformat.
	for _, size := range []string{"1049088", "3584"} {
		for _, o := range []struct {
			format Format
			ext    string
			opts   string
		}{
			{Raw, "raw", ""}, {QCOW2, "qcow2", "compat=1.1"}, {QCOW2, "v2.qcow2", "compat=0.10"},
			{QCOW2, "c512.qcow2", "cluster_size=512"}, {QED, "qed", ""}, {VDI, "vdi", ""},
			{VDI, "static.vdi", "static=on"}, {VPC, "vhd", ""}, {VPC, "fixed.vhd", "subformat=fixed"},
			{VPC, "forced.vhd", "force_size=on"}, {VHDX, "vhdx", ""}, {VMDK, "vmdk", ""},
			{VMDK, "stream.vmdk", "subformat=streamOptimized"},
		} {
			name := "odd" + size + "." + o.ext
			args := []string{"create", "-q", "-f", string(o.format)}
			if o.opts != "" {
				args = append(args, "-o", o.opts)
			}
			q(append(args, name, size)...)
			add(name, o.format, "")
		}
	}
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
	q("create", "-q", "-f", "qed", "-o", "cluster_size=4k,table_size=2", "c4k.qed", "64M")
	add("c4k.qed", QED, "")
	q("create", "-q", "-f", "qed", "-o", "cluster_size=1M,table_size=16", "c1m.qed", "1G")
	add("c1m.qed", QED, "")
	q("convert", "-O", "qed", "seed.raw", "conv.qed")
	add("conv.qed", QED, "")
	// qemu-img makes it, QEMU cannot open it: a one-cluster table fails the
	// overflow test of qed_check_table_offset.
	q("create", "-q", "-f", "qed", "-o", "cluster_size=4k,table_size=1", "ts1.qed", "8M")
	imgs = append(imgs, testImage{Name: "ts1.qed", Format: QED, Path: filepath.Join(dir, "ts1.qed"), Want: ReasonCorrupt})
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
	for _, bs := range []string{"1M", "32M", "256M"} {
		q("create", "-q", "-f", "vhdx", "-o", "block_size="+bs, "bs"+bs+".vhdx", "2G")
		add("bs"+bs+".vhdx", VHDX, "")
	}
	q("create", "-q", "-f", "vhdx", "big.vhdx", "1T")
	add("big.vhdx", VHDX, "")
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
	q("convert", "-c", "-O", "vmdk", "-o", "subformat=streamOptimized", "seed.raw", "convc.vmdk")
	add("convc.vmdk", VMDK, "")
	q("create", "-q", "-f", "vmdk", "-o", "adapter_type=lsilogic,subformat=monolithicSparse", "lsi.vmdk", "1G")
	add("lsi.vmdk", VMDK, "")
	q("create", "-q", "-f", "vmdk", "-o", "subformat=monolithicFlat", "flatbig.vmdk", "1G")
	add("flatbig.vmdk", VMDK, ReasonExternalExtent)
	// qemu-img never writes the footer layout of streamOptimized images
	// other tools make: build one.
	if err := os.WriteFile(filepath.Join(dir, "footer.vmdk"), withFooter(craftVMDK(2048, vmdkDesc("streamOptimized", `RW 2048 SPARSE "footer.vmdk"`)), nil), 0o644); err != nil {
		panic(err)
	}
	add("footer.vmdk", VMDK, "")
	q("create", "-q", "-f", "vmdk", "-F", "vmdk", "-b", filepath.Join(dir, "sparse.vmdk"), "child.vmdk")
	add("child.vmdk", VMDK, ReasonBackingFile)

	qLUKS("create", "-q", "-f", "luks", lukSecret, "-o", "key-secret=sec0,iter-time=50", "disk.luks", "16M")
	imgs = append(imgs, testImage{Name: "disk.luks", Format: LUKS, Path: filepath.Join(dir, "disk.luks"), Encrypt: true, qemuInfo: true})
	qLUKS("create", "-q", "-f", "luks", lukSecret, "-o", "key-secret=sec0,iter-time=50,cipher-alg=twofish-128,cipher-mode=cbc,ivgen-alg=essiv,ivgen-hash-alg=md5,hash-alg=sha512", "twofish.luks", "1049088")
	imgs = append(imgs, testImage{Name: "twofish.luks", Format: LUKS, Path: filepath.Join(dir, "twofish.luks"), Encrypt: true, qemuInfo: true})

	imgs = append(imgs, guestLayoutImages(tb, dir)...)
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

// secretData is the passphrase of the corpus's encrypted images.
const secretData = "imagecheck-test"

// runQEMUIORead opens path with `qemu-io -r -f declared` under lim and reads
// a few sectors at the start, the middle and the end of a size-byte virtual
// disk: what QEMU does when a guest boots from it. Encrypted images
// (encrypted true) are opened with the corpus secret.
func runQEMUIORead(ctx context.Context, path string, declared Format, size int64, encrypted bool, lim QEMULimits) error {
	qemuIO, err := exec.LookPath("qemu-io")
	if err != nil {
		return err
	}
	abs, err := neutralPath(path)
	if err != nil {
		return err
	}
	args := []string{
		"--as=" + strconv.FormatInt(lim.AddressSpace, 10), "--cpu=" + strconv.Itoa(lim.CPUSeconds), "--core=0", "--",
		qemuIO, "-r",
	}
	if encrypted {
		opts := "driver=" + qemuFormatName(declared) + ",file.filename=" + abs
		switch declared {
		case LUKS:
			opts += ",key-secret=sec0"
		default:
			opts += ",encrypt.key-secret=sec0"
		}
		args = append(args, "--object", "secret,id=sec0,data="+secretData, "--image-opts", opts)
	} else {
		args = append(args, "-f", qemuFormatName(declared), abs)
	}
	args = append(args, "-c", "length")
	n := min(size, 64<<10) &^ 511
	if n > 0 {
		mid := (size / 2) &^ 511
		args = append(args,
			"-c", fmt.Sprintf("read 0 %d", n),
			"-c", fmt.Sprintf("read %d %d", min(mid, size-n), n),
			"-c", fmt.Sprintf("read %d %d", size-n, n))
	}
	cmd := exec.CommandContext(ctx, "prlimit", args...)
	cmd.Env = []string{"LC_ALL=C", "PATH=/usr/bin:/bin", "MALLOC_ARENA_MAX=1"} // as internal/qemuimg runs them
	out, err := cmd.CombinedOutput()
	if err != nil {
		return fmt.Errorf("qemu-io %s: %v: %s", path, err, strings.TrimSpace(string(out)))
	}
	if bytes.Contains(out, []byte("failed")) || bytes.Contains(out, []byte("rror")) {
		return fmt.Errorf("qemu-io %s: %s", path, strings.TrimSpace(string(out)))
	}
	return nil
}
