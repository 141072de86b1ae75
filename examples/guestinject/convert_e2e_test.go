package main

import (
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"

	"github.com/guestinject/guestinject/internal/testsupport/guestimage"
	"github.com/guestinject/guestinject/internal/testsupport/testimage"
)

// Uploads in vmdk, vhd, vhdx and vdi are converted to qcow2 by the
// command, then injected into through the appliance; the guest's files
// are read back from the result, and the uploads are unchanged.
func TestE2EUploadsToQcow2ThenInject(t *testing.T) {
	guestimage.NeedAppliance(t)
	testimage.NeedTools(t, "prlimit")
	guest := guestimage.Raw(t)
	for _, up := range []struct{ format, opts string }{
		{"vmdk", "subformat=streamOptimized"},
		{"vpc", "subformat=dynamic"},
		{"vhdx", ""},
		{"vdi", ""},
	} {
		t.Run(up.format, func(t *testing.T) {
			dir := t.TempDir()
			upload := filepath.Join(dir, "upload."+up.format)
			args := []string{"convert", "-q", "-f", "raw", "-O", up.format}
			if up.opts != "" {
				args = append(args, "-o", up.opts)
			}
			testimage.Run(t, "qemu-img", append(args, guest, upload)...)
			before := testimage.FileHash(t, upload)

			disk := filepath.Join(dir, "disk.qcow2")
			r := cli(t, "", "convert", upload, "--format", up.format, disk, "--to", "qcow2", "--json")
			if r.code != exitOK {
				t.Fatalf("convert: exit %d\n%s%s", r.code, r.stdout, r.stderr)
			}
			var res convertResult
			if err := json.Unmarshal([]byte(r.stdout), &res); err != nil || !res.Converted || res.Info == nil || res.Info.Format != "qcow2" || res.Info.VirtualSize < 64<<20 {
				t.Fatalf("convert --json: %v %+v\n%s", err, res, r.stdout)
			}

			host := "conv-" + up.format
			r = cli(t, "", "inject", disk, "--format", "qcow2", "--hostname", host, "--quiet")
			if r.code != exitOK {
				t.Fatalf("inject: exit %d\n%s%s", r.code, r.stdout, r.stderr)
			}
			back := filepath.Join(dir, "back.raw")
			testimage.Run(t, "qemu-img", "convert", "-q", "-f", "qcow2", "-O", "raw", disk, back)
			if got := guestimage.Cat(t, back, "/etc/hostname"); strings.TrimSpace(got) != host {
				t.Errorf("/etc/hostname = %q, want %q", got, host)
			}
			if got := guestimage.Cat(t, back, "/etc/passwd"); got != guestimage.Tree["/etc/passwd"] {
				t.Errorf("/etc/passwd = %q", got)
			}
			if testimage.FileHash(t, upload) != before {
				t.Error("the upload changed")
			}
		})
	}
}
