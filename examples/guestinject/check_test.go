package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/guestinject/guestinject/imagecheck"
	"github.com/guestinject/guestinject/internal/testsupport/testimage"
)

// runCLI runs the command in-process and returns its exit status and output.
func runCLI(t *testing.T, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errOut bytes.Buffer
	code = run(context.Background(), args, stdio{in: strings.NewReader(""), out: &out, err: &errOut})
	return code, out.String(), errOut.String()
}

const luksSecret = "--object=secret,id=sec0,data=guestinject-test"

// createLUKS runs a qemu-img create that makes a LUKS header. Creation
// calibrates PBKDF2 against CPU time and fails now and then on a busy
// machine ("Unable to get accurate CPU usage"), so it is retried.
func createLUKS(t *testing.T, args ...string) {
	t.Helper()
	var out []byte
	var err error
	for range 5 {
		if out, err = exec.Command(testimage.Tool("qemu-img"), args...).CombinedOutput(); err == nil {
			return
		}
	}
	t.Fatalf("qemu-img %s: %v\n%s", strings.Join(args, " "), err, out)
}

// qemuVirtualSize is what `qemu-img info --output=json -f driver` reports.
func qemuVirtualSize(t *testing.T, img, driver string) int64 {
	t.Helper()
	var qi struct {
		Format      string `json:"format"`
		VirtualSize int64  `json:"virtual-size"`
	}
	out := testimage.Run(t, "qemu-img", "info", "--output=json", "-f", driver, img)
	if err := json.Unmarshal([]byte(out), &qi); err != nil {
		t.Fatalf("qemu-img info: %v\n%s", err, out)
	}
	if qi.Format != driver || qi.VirtualSize <= 0 {
		t.Fatalf("qemu-img info %s: format %q, virtual size %d", img, qi.Format, qi.VirtualSize)
	}
	return qi.VirtualSize
}

// isoImage builds a small ISO 9660 image with genisoimage.
func isoImage(t *testing.T, dir, name string) string {
	t.Helper()
	testimage.NeedTools(t, "genisoimage")
	tree := filepath.Join(dir, name+".tree")
	testimage.WriteTree(t, tree, map[string]string{"meta_data.json": `{"uuid":"x"}`})
	img := filepath.Join(dir, name)
	testimage.Run(t, "genisoimage", "-quiet", "-o", img, "-V", "config-2", "-r", "-J", tree)
	return img
}

// For a benign image of every format check verifies, check exits 0 and
// reports the virtual size qemu-img reports, in JSON and in text; with
// --cross-check qemu-img itself agrees.
func TestCheckEveryFormatReportsQEMUVirtualSize(t *testing.T) {
	testimage.NeedTools(t, "qemu-img", "prlimit")
	dir := t.TempDir()
	qemuImg := func(args ...string) { testimage.Run(t, "qemu-img", args...) }
	for _, tc := range []struct {
		name, format string
		make         func(img string)
		flags        []string
	}{
		{"raw", "raw", func(img string) { qemuImg("create", "-q", "-f", "raw", img, "10M") }, nil},
		{"qcow2", "qcow2", func(img string) { qemuImg("create", "-q", "-f", "qcow2", img, "1000001") }, nil},
		{"qcow2 luks", "qcow2", func(img string) {
			createLUKS(t, "create", "-q", "-f", "qcow2", luksSecret, "-o", "encrypt.format=luks,encrypt.key-secret=sec0,encrypt.iter-time=10", img, "64M")
		}, []string{"--allow-encryption"}},
		{"qed", "qed", func(img string) { qemuImg("create", "-q", "-f", "qed", img, "1G") }, nil},
		{"vmdk", "vmdk", func(img string) { qemuImg("create", "-q", "-f", "vmdk", img, "100M") }, nil},
		{"vmdk stream", "vmdk", func(img string) {
			qemuImg("create", "-q", "-f", "vmdk", "-o", "subformat=streamOptimized", img, "100M")
		}, nil},
		// A dynamic VHD's size is rounded to a disk geometry: 1G is not
		// what qemu-img reports.
		{"vpc", "vpc", func(img string) { qemuImg("create", "-q", "-f", "vpc", img, "1G") }, nil},
		{"vhd fixed", "vhd", func(img string) { qemuImg("create", "-q", "-f", "vpc", "-o", "subformat=fixed", img, "10M") }, nil},
		{"vhdx", "vhdx", func(img string) { qemuImg("create", "-q", "-f", "vhdx", img, "1G") }, nil},
		{"vdi", "vdi", func(img string) { qemuImg("create", "-q", "-f", "vdi", img, "1G") }, nil},
		{"luks", "luks", func(img string) {
			createLUKS(t, "create", "-q", "-f", "luks", luksSecret, "-o", "key-secret=sec0,iter-time=10", img, "16M")
		}, []string{"--allow-encryption"}},
		{"iso", "iso", func(img string) { isoImage(t, dir, filepath.Base(img)) }, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			img := filepath.Join(dir, strings.ReplaceAll(tc.name, " ", "-")+".img")
			tc.make(img)
			declared, err := imagecheck.ParseFormat(tc.format)
			if err != nil {
				t.Fatal(err)
			}
			driver := string(declared)
			if declared == imagecheck.ISO {
				driver = "raw"
			}
			want := qemuVirtualSize(t, img, driver)

			args := append([]string{"check", img, "--format", tc.format}, tc.flags...)
			code, stdout, stderr := runCLI(t, append(args, "--json", "--cross-check")...)
			if code != exitOK {
				t.Fatalf("%q: exit %d\n%s%s", args, code, stdout, stderr)
			}
			var res checkResult
			if err := json.Unmarshal([]byte(stdout), &res); err != nil {
				t.Fatalf("check --json: %v\n%s", err, stdout)
			}
			if !res.Safe || res.Info == nil || res.Declared != string(declared) {
				t.Fatalf("check --json = %+v", res)
			}
			if res.Info.VirtualSize != want {
				t.Errorf("check --json: virtual size %d, qemu-img says %d", res.Info.VirtualSize, want)
			}

			code, stdout, stderr = runCLI(t, args...)
			if code != exitOK {
				t.Fatalf("%q: exit %d\n%s%s", args, code, stdout, stderr)
			}
			if row := textRow(stdout, "virtual size"); !strings.Contains(row, strconv.FormatInt(want, 10)+" bytes") {
				t.Errorf("check: virtual size row %q, qemu-img says %d bytes\n%s", row, want, stdout)
			}
		})
	}
}

// textRow returns the value of the row named key in check's text output.
func textRow(out, key string) string {
	for line := range strings.Lines(out) {
		if v, ok := strings.CutPrefix(strings.TrimSpace(line), key); ok {
			return strings.TrimSpace(v)
		}
	}
	return ""
}

// The --allow options widen check's policy, and nothing else does.
func TestCheckPolicyFlags(t *testing.T) {
	testimage.NeedTools(t, "qemu-img", "genisoimage", "sfdisk")
	dir := t.TempDir()
	luks := filepath.Join(dir, "disk.luks")
	createLUKS(t, "create", "-q", "-f", "luks", luksSecret, "-o", "key-secret=sec0,iter-time=10", luks, "16M")
	encQCOW2 := filepath.Join(dir, "enc.qcow2")
	createLUKS(t, "create", "-q", "-f", "qcow2", luksSecret, "-o", "encrypt.format=luks,encrypt.key-secret=sec0,encrypt.iter-time=10", encQCOW2, "64M")
	hybrid := isoImage(t, dir, "hybrid.iso")
	testimage.Run(t, "truncate", "-s", "2M", hybrid)
	testimage.RunIn(t, "label: gpt\n", "sfdisk", "-q", hybrid)

	for _, tc := range []struct {
		args []string
		code int
		want string
	}{
		{[]string{"check", luks, "--format", "luks"}, exitRejected, "encrypted"},
		{[]string{"check", luks, "--format", "luks", "--allow-encryption"}, exitOK, "safe as luks"},
		{[]string{"check", encQCOW2, "--format", "qcow2"}, exitRejected, "encrypted"},
		{[]string{"check", encQCOW2, "--format", "qcow2", "--allow-encryption"}, exitOK, "safe as qcow2"},
		{[]string{"check", hybrid, "--format", "iso"}, exitRejected, "polyglot"},
		{[]string{"check", hybrid, "--format", "iso", "--allow-iso-hybrid"}, exitOK, "safe as iso"},
		{[]string{"check", hybrid, "--format", "iso", "--allow-encryption"}, exitRejected, "polyglot"},
		{[]string{"check", luks, "--format", "luks", "--allow-iso-hybrid"}, exitRejected, "encrypted"},
		{[]string{"check", luks, "--format", "luks", "--allow-encryption", "--max-size", "15M"}, exitRejected, "too large"},
		{[]string{"check", luks, "--format", "luks", "--allow-encryption", "--max-size", "16M"}, exitOK, "safe as luks"},
		// The declaration allows one format, not every one.
		{[]string{"check", luks, "--format", "raw"}, exitRejected, "format mismatch"},
		{[]string{"check", hybrid, "--format", "gpt"}, exitRejected, "cannot be declared"},
	} {
		code, stdout, stderr := runCLI(t, tc.args...)
		if code != tc.code || !strings.Contains(stdout+stderr, tc.want) {
			t.Errorf("%q: exit %d, want %d with %q\nstdout: %s\nstderr: %s", tc.args, code, tc.code, tc.want, stdout, stderr)
		}
	}
}

// Every field of imagecheck.Policy is set by one of check's flags.
func TestCheckFlagsCoverThePolicy(t *testing.T) {
	flagOf := map[string]string{
		"AllowedFormats":  "format",
		"MaxVirtualSize":  "max-size",
		"AllowEncryption": "allow-encryption",
		"AllowISOHybrid":  "allow-iso-hybrid",
	}
	var a checkArgs
	fs := newCheckFlags(&a)
	typ := reflect.TypeFor[imagecheck.Policy]()
	for i := range typ.NumField() {
		f := typ.Field(i)
		name, ok := flagOf[f.Name]
		if !ok {
			t.Errorf("imagecheck.Policy.%s has no check flag", f.Name)
			continue
		}
		if fs.Lookup(name) == nil {
			t.Errorf("check has no --%s for imagecheck.Policy.%s", name, f.Name)
		}
	}

	if _, err := parseArgs(fs, []string{"img", "--format", "vhd", "--max-size", "1.5G", "--allow-encryption", "--allow-iso-hybrid"}, &bytes.Buffer{}); err != nil {
		t.Fatal(err)
	}
	declared, err := a.declared()
	if err != nil {
		t.Fatal(err)
	}
	got := checkPolicy(&a.imageArgs, &a.allow, declared)
	want := imagecheck.Policy{AllowedFormats: []imagecheck.Format{imagecheck.VPC}, MaxVirtualSize: 3 << 29, AllowEncryption: true, AllowISOHybrid: true}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("policy %+v, want %+v", got, want)
	}

	var d checkArgs
	if _, err := parseArgs(newCheckFlags(&d), []string{"img", "--format", "qcow2"}, &bytes.Buffer{}); err != nil {
		t.Fatal(err)
	}
	got = checkPolicy(&d.imageArgs, &d.allow, imagecheck.QCOW2)
	want = imagecheck.Policy{AllowedFormats: []imagecheck.Format{imagecheck.QCOW2}, MaxVirtualSize: imagecheck.DefaultMaxVirtualSize}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("default policy %+v, want %+v", got, want)
	}
}

// Every format check's help names is one check accepts.
func TestCheckHelpNamesItsFormats(t *testing.T) {
	dir := t.TempDir()
	img := filepath.Join(dir, "img")
	if err := os.WriteFile(img, make([]byte, 1<<20), 0o644); err != nil {
		t.Fatal(err)
	}
	code, stdout, _ := runCLI(t, "check", "--help")
	if code != exitOK {
		t.Fatalf("check --help: exit %d", code)
	}
	for _, f := range []string{"raw", "qcow2", "qed", "vmdk", "vpc", "vhd", "vhdx", "vdi", "luks", "iso"} {
		if !strings.Contains(stdout, f) {
			t.Errorf("check --help does not name %s", f)
		}
		// Declared, the format is checked: a blank file is raw, so any
		// other declaration is a mismatch, never "format not allowed".
		code, out, errOut := runCLI(t, "check", img, "--format", f)
		if f == "raw" {
			if code != exitOK {
				t.Errorf("check --format raw: exit %d\n%s%s", code, out, errOut)
			}
			continue
		}
		if code != exitRejected || !strings.Contains(out, "format mismatch") {
			t.Errorf("check --format %s: exit %d\n%s%s", f, code, out, errOut)
		}
	}
}

// Commands that attach the image keep the default policy and its formats,
// and their messages, whatever check accepts. check and convert read
// uploads of every format and attach nothing; seed opens no image.
func TestAttachingCommandsKeepTheirPolicy(t *testing.T) {
	for _, c := range commands() {
		if c.name == "check" || c.name == "convert" || c.name == "seed" {
			continue
		}
		fs := c.flags()
		if fs.Lookup("allow-encryption") != nil || fs.Lookup("allow-iso-hybrid") != nil {
			t.Errorf("%s has check's --allow options", c.name)
		}
		if u := fs.Lookup("format").Usage; !strings.Contains(u, attachFormats) || strings.Contains(u, "vmdk") {
			t.Errorf("%s --format: %q", c.name, u)
		}
	}
	var a inspectArgs
	pos, err := parseArgs(newInspectFlags(&a), []string{"img", "--format", "vmdk", "--max-size", "2G"}, &bytes.Buffer{})
	if err != nil {
		t.Fatal(err)
	}
	tg, _, err := a.resolveTarget("inspect", pos, true)
	if err != nil {
		t.Fatal(err)
	}
	want := imagecheck.DefaultPolicy()
	want.MaxVirtualSize = 2 << 30
	if !reflect.DeepEqual(tg.policy, want) || !slices.Equal(tg.policy.AllowedFormats, []imagecheck.Format{imagecheck.Raw, imagecheck.QCOW2}) {
		t.Errorf("inspect policy %+v, want %+v", tg.policy, want)
	}

	dir := t.TempDir()
	img := filepath.Join(dir, "img")
	if err := os.WriteFile(img, make([]byte, 1<<20), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		args []string
		code int
		want string
	}{
		{[]string{"inspect", img}, exitUsage, "--format is required: declare the image's format (raw or qcow2); it is never guessed"},
		{[]string{"ls", img, "/"}, exitUsage, "(raw or qcow2)"},
		{[]string{"check", img}, exitUsage, "(" + checkFormats + ")"},
		// The host mount refuses a format it does not attach before it
		// touches the image; no VM is involved.
		{[]string{"inspect", img, "--format", "vmdk", "--backend", "mount", "--trusted", "--quiet"}, exitRejected, `unsupported disk format: "vmdk"`},
	} {
		code, stdout, stderr := runCLI(t, tc.args...)
		if code != tc.code || !strings.Contains(stdout+stderr, tc.want) {
			t.Errorf("%q: exit %d, want %d with %q\nstdout: %s\nstderr: %s", tc.args, code, tc.code, tc.want, stdout, stderr)
		}
	}
}
