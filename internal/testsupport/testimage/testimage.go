// Package testimage builds guest disk images for tests with the standard
// tools (mkfs.ext4 -d, mkfs.xfs, mkfs.vfat, sfdisk, qemu-img), without
// mounting anything, and reports missing tools the way CI expects.
package testimage

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// E2EEnv is the environment variable that turns a missing prerequisite
// into a test failure instead of a skip.
const E2EEnv = "GUESTINJECT_E2E"

// Need skips t when a prerequisite is missing, or fails it when
// GUESTINJECT_E2E=1 says the machine must have everything. missing lists
// what is absent; an empty list does nothing.
func Need(t testing.TB, missing ...string) {
	t.Helper()
	if len(missing) == 0 {
		return
	}
	if os.Getenv(E2EEnv) == "1" {
		t.Fatalf("missing %s (%s=1)", strings.Join(missing, ", "), E2EEnv)
	}
	t.Skipf("missing %s; set %s=1 to make this a failure", strings.Join(missing, ", "), E2EEnv)
}

// NeedTools is Need for the tools named, looked up in $PATH and the sbin
// directories.
func NeedTools(t testing.TB, tools ...string) {
	t.Helper()
	var missing []string
	for _, tool := range tools {
		if Tool(tool) == "" {
			missing = append(missing, tool)
		}
	}
	Need(t, missing...)
}

// NeedTool is Need for one tool, and returns its path.
func NeedTool(t testing.TB, name string) string {
	t.Helper()
	p := Tool(name)
	if p == "" {
		Need(t, name)
	}
	return p
}

// Tool returns the path of an executable found in $PATH, /usr/sbin or
// /sbin, or "" when there is none.
func Tool(name string) string {
	if p, err := exec.LookPath(name); err == nil {
		return p
	}
	for _, dir := range []string{"/usr/sbin", "/sbin"} {
		p := filepath.Join(dir, name)
		if info, err := os.Stat(p); err == nil && info.Mode().IsRegular() {
			return p
		}
	}
	return ""
}

// Run runs a tool and returns its standard output, failing t with the
// tool's standard error when it fails.
func Run(t testing.TB, name string, args ...string) string {
	t.Helper()
	return RunIn(t, "", name, args...)
}

// RunIn is Run with stdin as the tool's standard input.
func RunIn(t testing.TB, stdin, name string, args ...string) string {
	t.Helper()
	path := Tool(name)
	if path == "" {
		t.Fatalf("%s: not installed", name)
	}
	cmd := exec.Command(path, args...)
	cmd.Stdin = strings.NewReader(stdin)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s%s", name, strings.Join(args, " "), err, out, stderr.String())
	}
	return string(out)
}

// Ext4 builds a raw ext4 image of sizeMiB at img holding the tree in dir.
func Ext4(t testing.TB, img, dir string, sizeMiB int64) {
	t.Helper()
	Run(t, "mkfs.ext4", "-q", "-F", "-d", dir, img, strconv.FormatInt(sizeMiB, 10)+"M")
}

// Ext4Exact is Ext4 without lost+found, so the image's root holds exactly
// the tree in dir.
func Ext4Exact(t testing.TB, img, dir string, sizeMiB int64) {
	t.Helper()
	Ext4(t, img, dir, sizeMiB)
	Run(t, "debugfs", "-w", "-R", "rmdir /lost+found", img)
}

// Sparse creates img as a sparse file of size bytes.
func Sparse(t testing.TB, img string, size int64) {
	t.Helper()
	f, err := os.Create(img)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := f.Truncate(size); err != nil {
		t.Fatal(err)
	}
}

// The layout of a GPT image: the byte offsets of the Linux partition and
// of the EFI system partition, and the volume ID (the UUID, as blkid
// and fstab spell it) of the latter's FAT filesystem.
const (
	GPTOffset      = 10240 * 512
	GPTEFIOffset   = 2048 * 512
	GPTEFIVolumeID = "ABCD-1234"
)

// GPT builds a 64 MiB GPT disk at img: partition 1 an EFI system
// partition with vfat labelled "EFI" (volume ID GPTEFIVolumeID, at
// GPTEFIOffset), partition 2 a Linux partition with ext4 labelled "root"
// built from tree, at GPTOffset.
func GPT(t testing.TB, img, tree string) {
	t.Helper()
	Sparse(t, img, 64<<20)
	layout := "label: gpt\n" +
		"start=2048, size=8192, type=C12A7328-F81F-11D2-BA4B-00A0C93EC93B\n" +
		"start=10240, size=118784, type=0FC63DAF-8483-4772-8E79-3D69D7C47709\n"
	RunIn(t, layout, "sfdisk", "-q", img)
	Run(t, "mkfs.vfat", "-n", "EFI", "-i", strings.ReplaceAll(GPTEFIVolumeID, "-", ""), "--offset", "2048", img, "4096")
	Run(t, "mkfs.ext4", "-q", "-F", "-L", "root", "-d", tree, "-E", fmt.Sprintf("offset=%d", GPTOffset), img, "59392k")
}

// FATFile reads the file name (an absolute path) from the FAT
// filesystem at byte offset off of img with mtools, which read the image
// without mounting it.
func FATFile(t testing.TB, img string, off int64, name string) string {
	t.Helper()
	return Run(t, "mtype", "-i", fmt.Sprintf("%s@@%d", img, off), "::"+name)
}

// Qcow2 converts the raw image src into a qcow2 image at dst.
func Qcow2(t testing.TB, src, dst string) {
	t.Helper()
	Run(t, "qemu-img", "convert", "-q", "-f", "raw", "-O", "qcow2", src, dst)
}

// FileHash returns the SHA-256 of the file at path, in hex.
func FileHash(t testing.TB, path string) string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(h.Sum(nil))
}

// WriteTree creates files (path -> content) under dir; a path ending in
// "/" is a directory.
func WriteTree(t testing.TB, dir string, files map[string]string) {
	t.Helper()
	for p, content := range files {
		full := filepath.Join(dir, p)
		if strings.HasSuffix(p, "/") {
			if err := os.MkdirAll(full, 0o755); err != nil {
				t.Fatal(err)
			}
			continue
		}
		if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(full, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// Part is a partition of a disk built by GPTDisk.
type Part struct {
	SizeMiB int64
	Name    string // GPT partition name (PARTLABEL)
	GUID    string // GPT unique partition GUID (PARTUUID); random when ""
	// Tree, when not "", is copied into an ext4 filesystem made in the
	// partition with the label and UUID below; otherwise the partition
	// is left empty.
	Tree        string
	Label, UUID string
}

// GPTDisk builds a GPT disk at img with parts laid out one after the
// other from sector 2048, each Linux-typed, and returns the byte offset
// of each partition (for debugfs "img?offset=N").
func GPTDisk(t testing.TB, img string, parts ...Part) []int64 {
	t.Helper()
	var total int64 = 2 // MiB: the table and the backup
	for _, p := range parts {
		total += p.SizeMiB
	}
	Sparse(t, img, total<<20)
	layout := "label: gpt\n"
	offsets := make([]int64, len(parts))
	start := int64(2048)
	for i, p := range parts {
		offsets[i] = start * 512
		sectors := p.SizeMiB << 11
		layout += fmt.Sprintf("start=%d, size=%d, type=0FC63DAF-8483-4772-8E79-3D69D7C47709", start, sectors)
		if p.Name != "" {
			layout += fmt.Sprintf(", name=%q", p.Name)
		}
		if p.GUID != "" {
			layout += ", uuid=" + p.GUID
		}
		layout += "\n"
		start += sectors
	}
	RunIn(t, layout, "sfdisk", "-q", img)
	for i, p := range parts {
		if p.Tree == "" {
			continue
		}
		args := []string{"-q", "-F", "-d", p.Tree, "-E", fmt.Sprintf("offset=%d", offsets[i])}
		if p.Label != "" {
			args = append(args, "-L", p.Label)
		}
		if p.UUID != "" {
			args = append(args, "-U", p.UUID)
		}
		Run(t, "mkfs.ext4", append(args, img, strconv.FormatInt(p.SizeMiB<<10, 10)+"k")...)
	}
	return offsets
}

// TwoRoots builds at img a GPT disk holding two complete Linux roots, so
// that nothing tells which is the guest's: partition 1 an ext4 labelled
// "root-a" and partition 2 one labelled "root-b", each with an
// os-release (ID=a, PRETTY_NAME="System A"; b, "System B"), an fstab
// naming itself as / and a file /which holding "a\n" or "b\n".
func TwoRoots(t testing.TB, img string) {
	t.Helper()
	dir := t.TempDir()
	var parts []Part
	for _, n := range []string{"a", "b"} {
		tree := filepath.Join(dir, n)
		WriteTree(t, tree, map[string]string{
			"etc/os-release": fmt.Sprintf("ID=%s\nPRETTY_NAME=\"System %s\"\n", n, strings.ToUpper(n)),
			"etc/fstab":      fmt.Sprintf("LABEL=root-%s / ext4 defaults 0 1\n", n),
			"which":          n + "\n",
		})
		parts = append(parts, Part{SizeMiB: 12, Tree: tree, Label: "root-" + n})
	}
	GPTDisk(t, img, parts...)
}
