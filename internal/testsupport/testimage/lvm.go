package testimage

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// LogicalVolume is a logical volume of an LVM image holding an ext4
// filesystem built from Tree.
type LogicalVolume struct {
	Name    string
	SizeMiB int64
	Label   string
	Tree    string // directory copied in with mkfs.ext4 -d; "" for an empty filesystem
	// Debugfs holds debugfs(8) commands run on the new filesystem (modes,
	// owners), one a line; "" for none.
	Debugfs string
}

// lvmPartitionStart is where the LVM partition of an LVM image begins.
const lvmPartitionStart = 1 << 20

// NeedLVM is Need for what building and reading LVM images takes.
func NeedLVM(t testing.TB) {
	t.Helper()
	NeedTools(t, "lvm", "losetup", "sfdisk", "mkfs.ext4", "debugfs")
}

// UniqueVG returns a volume group name made of prefix and random hex, so
// images built by concurrent tests, and the host's own volume groups,
// never share a name.
func UniqueVG(prefix string) string {
	b := make([]byte, 4)
	rand.Read(b)
	return prefix + hex.EncodeToString(b)
}

// LVM builds a raw GPT disk at img whose one partition, a Linux LVM one,
// is the physical volume of volume group vg holding lvs, each an ext4
// filesystem. It needs a loop device and the host's lvm tools, but not
// device-mapper: nothing is activated. The volume group's metadata is
// written with the LVM tools on a loop device that only they see (a
// device filter naming it alone, no udev, no devices file, no host
// configuration), autoactivation off, so that host's own LVM leaves it
// alone; each filesystem is made with mkfs.ext4 at the offset lvm placed
// its volume at.
func LVM(t testing.TB, img, vg string, lvs ...LogicalVolume) {
	t.Helper()
	var total int64
	for _, lv := range lvs {
		total += lv.SizeMiB
	}
	pvMiB := total + 2 // metadata area, alignment
	Sparse(t, img, lvmPartitionStart+(pvMiB+1)<<20)
	RunIn(t, fmt.Sprintf("label: gpt\nstart=2048, size=%d, type=E6D6D379-F507-44C2-A23C-238F2A3DF928\n", pvMiB<<11), "sfdisk", "-q", img)

	withPV(t, img, false, func(lvm func(args ...string) string, dev string) {
		lvm("pvcreate", "--yes", dev)
		lvm("vgcreate", "--yes", "--setautoactivation", "n", "--physicalextentsize", "1m", vg, dev)
		for _, lv := range lvs {
			// Contiguous, so one offset places the whole filesystem.
			lvm("lvcreate", "--yes", "--activate", "n", "--zero", "n", "--alloc", "contiguous",
				"--name", lv.Name, "--size", strconv.FormatInt(lv.SizeMiB, 10)+"m", vg)
		}
	})
	for _, lv := range lvs {
		off := LVOffset(t, img, vg, lv.Name)
		args := []string{"-q", "-F", "-E", fmt.Sprintf("offset=%d", off)}
		if lv.Label != "" {
			args = append(args, "-L", lv.Label)
		}
		if lv.Tree != "" {
			args = append(args, "-d", lv.Tree)
		}
		Run(t, "mkfs.ext4", append(args, img, strconv.FormatInt(lv.SizeMiB<<10, 10)+"k")...)
		if lv.Debugfs != "" {
			script := filepath.Join(t.TempDir(), "lv.debugfs")
			if err := os.WriteFile(script, []byte(lv.Debugfs), 0o644); err != nil {
				t.Fatal(err)
			}
			Run(t, "debugfs", "-w", "-f", script, offsetSpec(img, off))
		}
	}
}

// LVOffset returns the byte offset in the LVM image img of logical
// volume lv of vg, as the host's lvm tools read it from the volume
// group's metadata (on a read-only loop device). The volume must be in
// one piece, as LVM makes it.
func LVOffset(t testing.TB, img, vg, lv string) int64 {
	t.Helper()
	var out string
	withPV(t, img, true, func(lvm func(args ...string) string, _ string) {
		out = lvm("pvs", "--segments", "--units", "b", "--nosuffix", "--reportformat", "json",
			"--options", "vg_name,lv_name,pe_start,pvseg_start,vg_extent_size")
	})
	var report struct {
		Report []struct {
			Segs []struct {
				VG         string `json:"vg_name"`
				LV         string `json:"lv_name"`
				PEStart    string `json:"pe_start"`
				SegStart   string `json:"pvseg_start"`
				ExtentSize string `json:"vg_extent_size"`
			} `json:"pvseg"`
		} `json:"report"`
	}
	if err := json.Unmarshal([]byte(out), &report); err != nil {
		t.Fatalf("pvs report: %v\n%s", err, out)
	}
	var found []int64
	for _, r := range report.Report {
		for _, s := range r.Segs {
			if s.VG != vg || s.LV != lv {
				continue
			}
			pe, err1 := strconv.ParseInt(s.PEStart, 10, 64)
			start, err2 := strconv.ParseInt(s.SegStart, 10, 64)
			extent, err3 := strconv.ParseInt(s.ExtentSize, 10, 64)
			if err1 != nil || err2 != nil || err3 != nil {
				t.Fatalf("pvs report: bad numbers in %+v", s)
			}
			found = append(found, lvmPartitionStart+pe+start*extent)
		}
	}
	if len(found) != 1 {
		t.Fatalf("%s/%s has %d segments, want 1:\n%s", vg, lv, len(found), out)
	}
	return found[0]
}

// LVDebugfs runs `debugfs -R request` on the ext4 filesystem of logical
// volume lv of vg in the LVM image img, found by LVOffset, and returns
// its output.
func LVDebugfs(t testing.TB, img, vg, lv, request string) string {
	t.Helper()
	return Run(t, "debugfs", "-R", request, offsetSpec(img, LVOffset(t, img, vg, lv)))
}

// offsetSpec names a filesystem at off inside img for e2fsprogs.
func offsetSpec(img string, off int64) string {
	return fmt.Sprintf("%s?offset=%d", img, off)
}

// withPV attaches the LVM partition of img to a loop device, runs f with
// an lvm runner that sees that device alone, and detaches it, even when
// f fails the test.
func withPV(t testing.TB, img string, readOnly bool, f func(lvm func(args ...string) string, dev string)) {
	t.Helper()
	NeedLVM(t)
	fi, err := os.Stat(img)
	if err != nil {
		t.Fatal(err)
	}
	args := []string{"--find", "--show", "--offset", strconv.Itoa(lvmPartitionStart),
		"--sizelimit", strconv.FormatInt(fi.Size()-lvmPartitionStart-1<<20, 10)}
	if readOnly {
		args = append(args, "--read-only")
	}
	dev := strings.TrimSpace(Run(t, "losetup", append(args, img)...))
	if !strings.HasPrefix(dev, "/dev/loop") {
		t.Fatalf("losetup gave %q", dev)
	}
	defer Run(t, "losetup", "--detach", dev)

	sysDir := t.TempDir() // an empty LVM_SYSTEM_DIR: no host lvm.conf
	config := fmt.Sprintf(`devices{filter=["a|^%[1]s$|","r|.*|"] global_filter=["a|^%[1]s$|","r|.*|"] `+
		`use_devicesfile=0 obtain_device_list_from_udev=0 hints="none"} `+
		`activation{udev_sync=0 udev_rules=0 monitoring=0} backup{backup=0 archive=0} `+
		`global{locking_dir="%[2]s"}`, dev, sysDir)
	lvm := func(args ...string) string {
		t.Helper()
		cmd := exec.Command(Tool("lvm"), append(args, "--driverloaded", "n", "--config", config)...)
		cmd.Env = append(os.Environ(), "LVM_SYSTEM_DIR="+sysDir, "LVM_SUPPRESS_FD_WARNINGS=1", "DM_DISABLE_UDEV=1")
		var stderr strings.Builder
		cmd.Stderr = &stderr
		out, err := cmd.Output()
		if err != nil {
			t.Fatalf("lvm %s: %v\n%s%s", strings.Join(args, " "), err, out, stderr.String())
		}
		return string(out)
	}
	f(lvm, dev)
}
