package main

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/guestinject/guestinject/internal/testsupport/testimage"
)

// uploadVMDK makes a 32 MiB vmdk with data at two places, written by qemu-io.
func uploadVMDK(t *testing.T, dir string) string {
	t.Helper()
	testimage.NeedTools(t, "qemu-img", "qemu-io", "prlimit")
	img := filepath.Join(dir, "upload.vmdk")
	testimage.Run(t, "qemu-img", "create", "-q", "-f", "vmdk", img, "32M")
	testimage.Run(t, "qemu-io", "-f", "vmdk", "-c", "write -P 0x42 0 1M", "-c", "write -P 0x43 20M 4M", img)
	return img
}

func TestConvertCommand(t *testing.T) {
	dir := t.TempDir()
	in := uploadVMDK(t, dir)
	before := testimage.FileHash(t, in)

	out := filepath.Join(dir, "disk.qcow2")
	code, stdout, stderr := runCLI(t, "convert", in, "--format", "vmdk", out, "--to", "qcow2", "--json")
	if code != exitOK {
		t.Fatalf("convert: exit %d\n%s%s", code, stdout, stderr)
	}
	var res convertResult
	if err := json.Unmarshal([]byte(stdout), &res); err != nil {
		t.Fatalf("convert --json: %v\n%s", err, stdout)
	}
	if !res.Converted || res.Format != "qcow2" || res.Declared != "vmdk" || res.Output != out || res.Info == nil ||
		res.Info.Format != "qcow2" || res.Info.VirtualSize != 32<<20 || res.Rejection != nil {
		t.Errorf("convert --json = %+v", res)
	}
	if !strings.Contains(stderr, "converting") || !strings.Contains(stderr, "100%") || !strings.Contains(stderr, "done in") {
		t.Errorf("no progress on stderr:\n%s", stderr)
	}
	if b, err := exec.Command("qemu-img", "compare", "-q", "-f", "vmdk", "-F", "qcow2", in, out).CombinedOutput(); err != nil {
		t.Errorf("qemu-img compare: %v\n%s", err, b)
	}

	raw := filepath.Join(dir, "disk.raw")
	code, stdout, stderr = runCLI(t, "convert", "--quiet", in, raw, "--format=vhd", "--to=raw")
	if code != exitRejected || !strings.Contains(stderr, "format mismatch") || stdout != "" {
		t.Errorf("vmdk declared vhd: exit %d\n%s%s", code, stdout, stderr)
	}
	code, stdout, stderr = runCLI(t, "convert", "--quiet", in, raw, "--format=vmdk", "--to=raw")
	if code != exitOK || stderr != "" || !strings.Contains(stdout, raw+": raw, virtual size 32 MiB") {
		t.Errorf("convert --quiet: exit %d\nstdout: %s\nstderr: %s", code, stdout, stderr)
	}
	if testimage.FileHash(t, in) != before {
		t.Error("the upload changed")
	}
}

func TestConvertExitCodes(t *testing.T) {
	dir := t.TempDir()
	in := uploadVMDK(t, dir)
	exists := filepath.Join(dir, "exists.qcow2")
	if err := os.WriteFile(exists, []byte("keep me"), 0o644); err != nil {
		t.Fatal(err)
	}
	iso := filepath.Join(dir, "x.iso")
	if err := os.WriteFile(iso, make([]byte, 1<<20), 0o644); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, "out.qcow2")
	for _, tc := range []struct {
		args []string
		code int
		msg  string
	}{
		{[]string{"convert"}, exitUsage, "IN OUT"},
		{[]string{"convert", in, "--format", "vmdk", "--to", "qcow2"}, exitUsage, "IN OUT"},
		{[]string{"convert", in, out, "--to", "qcow2"}, exitUsage, "--format is required"},
		{[]string{"convert", in, out, "--format", "auto", "--to", "qcow2"}, exitUsage, "--format"},
		{[]string{"convert", in, out, "--format", "vmdk"}, exitUsage, "--to is required"},
		{[]string{"convert", in, out, "--format", "vmdk", "--to", "vdi"}, exitUsage, "raw or qcow2"},
		{[]string{"convert", in, exists, "--format", "vmdk", "--to", "qcow2"}, exitFailed, "never replaces"},
		{[]string{"convert", filepath.Join(dir, "missing"), out, "--format", "vmdk", "--to", "qcow2"}, exitFailed, "no such file"},
		{[]string{"convert", in, out, "--format", "vmdk", "--to", "qcow2", "--max-size", "16M"}, exitRejected, "too large"},
		{[]string{"convert", iso, out, "--format", "iso", "--to", "raw"}, exitRejected, "format not allowed"},
		{[]string{"convert", in, out, "--format", "qcow2", "--to", "raw", "--json"}, exitRejected, `"reason": "format mismatch"`},
	} {
		code, stdout, stderr := runCLI(t, tc.args...)
		if code != tc.code || !strings.Contains(stdout+stderr, tc.msg) {
			t.Errorf("%q: exit %d, want %d with %q\nstdout: %s\nstderr: %s", tc.args, code, tc.code, tc.msg, stdout, stderr)
		}
		if _, err := os.Lstat(out); err == nil {
			t.Fatalf("%q left %s", tc.args, out)
		}
	}
	if b, _ := os.ReadFile(exists); string(b) != "keep me" {
		t.Errorf("an existing OUT became %q", b)
	}
}
