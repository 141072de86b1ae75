package guest

import (
	"context"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/guestinject/guestinject/vfs"
)

// The warm-up disk: a GPT disk of WarmupDiskSize bytes with one ext4
// partition, stored as its non-zero extents, each a file of warmupDir
// named by its byte offset on the disk (the whole image, mostly zeros,
// would cost the agent its inflation at every boot). Rebuild it with
// go test ./internal/agent/guest -run TestWarmupDisk -update-warmup.
const (
	WarmupDiskSize = 16 << 20
	warmupDir      = "warmup"
)

//go:embed warmup
var warmupDisk embed.FS

// WarmUp runs a session's setup once on the warm-up disk, on a loop
// device over a sparse copy in dir (a tmpfs): it lists and probes the
// volumes, chooses and mounts the root and its fstab, reads what
// inspection reads and a file, writes one, and unmounts. Under emulation
// the first run of each kernel and agent path costs its translation into
// host code; a pooled VM pays that here, before it tells the host it is
// ready, instead of inside the session that takes it. The disk is the
// agent's own, never a guest's: the VM still sees exactly one image.
// Everything is undone on return, also on error; the copy is removed.
func WarmUp(ctx context.Context, dir string, mods Modules) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	img, err := os.CreateTemp(dir, "warmup-*.img")
	if err != nil {
		return err
	}
	defer os.Remove(img.Name())
	defer img.Close()
	if err := writeWarmupDisk(img); err != nil {
		return err
	}
	dev, loop, err := attachLoop(img)
	if err != nil {
		return err
	}
	defer loop.Close()
	vols, err := diskVolumes(filepath.Join("/sys/block", filepath.Base(dev)), "/dev", 0, false)
	if err != nil {
		return err
	}
	probeVolumes(vols)
	g := Setup(ctx, vols, nil, mods)
	if g.Err != nil {
		return g.Err
	}
	_ = g.Inspection()
	_, rerr := vfs.ReadFile(ctx, g.FS, "/etc/hostname", 1<<10)
	werr := g.FS.WriteFile(ctx, "/etc/hostname", strings.NewReader("warm\n"), vfs.WriteOptions{Perm: 0o644})
	cerr := g.FS.Close()
	uerr := g.Unmount()
	if uerr != nil {
		// A session's root must never be stacked on this one.
		if err := unix.Unmount(RootMount, unix.MNT_DETACH); err != nil {
			uerr = fmt.Errorf("%w; detaching: %w", uerr, err)
		}
	}
	return errors.Join(rerr, werr, cerr, uerr)
}

// writeWarmupDisk writes the warm-up disk into the empty file f, its
// zeros as holes.
func writeWarmupDisk(f *os.File) error {
	extents, err := warmupDisk.ReadDir(warmupDir)
	if err != nil {
		return err
	}
	for _, e := range extents {
		off, err := strconv.ParseInt(e.Name(), 10, 64)
		if err != nil || off < 0 {
			return &fs.PathError{Op: "warm-up", Path: e.Name(), Err: errors.New("not a byte offset")}
		}
		data, err := warmupDisk.ReadFile(warmupDir + "/" + e.Name())
		if err != nil {
			return err
		}
		if off+int64(len(data)) > WarmupDiskSize {
			return &fs.PathError{Op: "warm-up", Path: e.Name(), Err: errors.New("extent beyond the disk")}
		}
		if _, err := f.WriteAt(data, off); err != nil {
			return err
		}
	}
	return f.Truncate(WarmupDiskSize)
}

// attachLoop binds a free loop device to f, scanning its partitions, and
// returns the device node and an open descriptor of it: the binding goes
// when that is closed and nothing has the device or a partition mounted
// (autoclear).
func attachLoop(f *os.File) (string, *os.File, error) {
	ctl, err := os.OpenFile("/dev/loop-control", os.O_RDWR|unix.O_CLOEXEC, 0)
	if errors.Is(err, fs.ErrNotExist) {
		return "", nil, fmt.Errorf("the appliance kernel has no loop device: %w", err)
	}
	if err != nil {
		return "", nil, err
	}
	defer ctl.Close()
	n, err := unix.IoctlRetInt(int(ctl.Fd()), unix.LOOP_CTL_GET_FREE)
	if err != nil {
		return "", nil, &fs.PathError{Op: "LOOP_CTL_GET_FREE", Path: ctl.Name(), Err: err}
	}
	dev := "/dev/loop" + strconv.Itoa(n)
	loop, err := os.OpenFile(dev, os.O_RDWR|unix.O_CLOEXEC, 0)
	if err != nil {
		return "", nil, err
	}
	cfg := unix.LoopConfig{Fd: uint32(f.Fd()), Info: unix.LoopInfo64{Flags: unix.LO_FLAGS_AUTOCLEAR | unix.LO_FLAGS_PARTSCAN}}
	if err := unix.IoctlLoopConfigure(int(loop.Fd()), &cfg); err != nil {
		loop.Close()
		return "", nil, &fs.PathError{Op: "LOOP_CONFIGURE", Path: dev, Err: err}
	}
	return dev, loop, nil
}
