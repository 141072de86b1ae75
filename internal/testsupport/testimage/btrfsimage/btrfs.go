// Package btrfsimage builds btrfs guest images with subvolumes for tests,
// without mounting anything on the host, and reads them back.
package btrfsimage

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/guestinject/guestinject/internal/guestabi"
	"github.com/guestinject/guestinject/internal/initramfs"
	"github.com/guestinject/guestinject/internal/testsupport/testimage"
	"github.com/guestinject/guestinject/internal/testsupport/testvm"
)

// Subvolume is a btrfs subvolume of an image built by Build:
// its name at the top level and the directory copied into it.
type Subvolume struct {
	Name, Tree string
}

// btrfsInit is the package of the VM's /init that makes the subvolumes.
const btrfsInit = initramfs.ModulePath + "/internal/testsupport/testimage/btrfsinit"

var (
	btrfsInitOnce sync.Once
	btrfsInitPath string
	btrfsInitErr  error
)

// Need is Need for what Build and ReadFile take.
func Need(t testing.TB) {
	t.Helper()
	testimage.NeedTools(t, "mkfs.btrfs", "btrfs", "qemu-system-x86_64")
}

// Build builds at img a whole-disk btrfs of sizeMiB with
// filesystem UUID uuid whose top level holds one subvolume per entry of
// subvols, in order (the first gets id 256, the next 257, ...), each a
// copy of its tree with modes and owners. mkfs.btrfs copies the trees in
// with --rootdir; the subvolumes are made by a throwaway VM booting the
// host's kernel with btrfsinit as /init, since mkfs.btrfs --subvol is
// too recent to rely on and the image is never mounted on the host.
func Build(t testing.TB, img, uuid string, sizeMiB int64, subvols ...Subvolume) {
	t.Helper()
	Need(t)
	stage := filepath.Join(t.TempDir(), "stage")
	var names []string
	for _, sv := range subvols {
		to := filepath.Join(stage, ".trees", sv.Name)
		if err := os.MkdirAll(filepath.Dir(to), 0o755); err != nil {
			t.Fatal(err)
		}
		testimage.Run(t, "cp", "-a", sv.Tree, to)
		names = append(names, sv.Name)
	}
	testimage.Sparse(t, img, sizeMiB<<20)
	testimage.Run(t, "mkfs.btrfs", "-q", "-f", "-U", uuid, "--rootdir", stage, img)

	btrfsInitOnce.Do(func() {
		dir, err := os.MkdirTemp("", "guestinject-btrfsinit-")
		if err != nil {
			btrfsInitErr = err
			return
		}
		btrfsInitPath = filepath.Join(dir, "init")
		cmd := exec.Command("go", "build", "-trimpath", "-o", btrfsInitPath, btrfsInit)
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
		if out, err := cmd.CombinedOutput(); err != nil {
			btrfsInitErr = &buildError{out: string(out), err: err}
		}
	})
	if btrfsInitErr != nil {
		t.Fatalf("building %s: %v", btrfsInit, btrfsInitErr)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	app, err := initramfs.Build(ctx, initramfs.Config{Agent: btrfsInitPath, WithoutLVM: true})
	if err != nil {
		t.Fatal(err)
	}
	kernel := app.Kernel
	if app.KernelELF != "" {
		kernel = app.KernelELF
	}
	qemu := testimage.Tool("qemu-system-x86_64")
	cmd := exec.CommandContext(ctx, qemu,
		"-nodefaults", "-no-user-config", "-display", "none", "-machine", "q35,accel="+testvm.Accelerator(t, app.Kernel, qemu), "-cpu", "max",
		"-m", "512", "-no-reboot", "-nic", "none",
		"-kernel", kernel, "-initrd", app.Initramfs,
		"-append", "console=ttyS0 panic=-1 quiet "+"btrfsinit.subvols="+strings.Join(names, ","),
		"-serial", "stdio",
		// The image first, so it is /dev/vda; the btrfs modules are on
		// the payload disk.
		"-drive", "file="+img+",format=raw,if=none,id=img,cache=unsafe",
		"-device", "virtio-blk-pci,drive=img",
		"-drive", "file="+app.Payload+",format=raw,if=none,id=payload,readonly=on",
		"-device", "virtio-blk-pci,drive=payload,serial="+guestabi.PayloadSerial)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil || !strings.Contains(out.String(), "btrfsinit: ok") {
		t.Fatalf("making subvolumes %s in %s: %v\n%s", strings.Join(names, ","), img, err, out.String())
	}
}

type buildError struct {
	out string
	err error
}

func (e *buildError) Error() string { return e.err.Error() + "\n" + e.out }

// ReadFile reads the file name (a path from the top level, such as
// "/@home/alice/.profile") of the whole-disk btrfs img with
// `btrfs restore`, which reads the image without mounting it, subvolumes
// included.
func ReadFile(t testing.TB, img, name string) string {
	t.Helper()
	out := t.TempDir()
	rel := strings.TrimPrefix(name, "/")
	// restore's --path-regex must match every parent directory.
	var re strings.Builder
	re.WriteString("^/(|")
	parts := strings.Split(rel, "/")
	for i, p := range parts {
		if i > 0 {
			re.WriteString("(|/")
		}
		re.WriteString(regexp.QuoteMeta(p))
	}
	re.WriteString(strings.Repeat(")", len(parts)) + "$")
	testimage.Run(t, "btrfs", "restore", "-s", "--path-regex", re.String(), img, out)
	b, err := os.ReadFile(filepath.Join(out, rel))
	if err != nil {
		t.Fatalf("btrfs restore of %s: %v", name, err)
	}
	return string(b)
}
