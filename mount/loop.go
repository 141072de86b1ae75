package mount

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// loopDevice is a loop device bound to a file with LOOP_CONFIGURE and
// LO_FLAGS_AUTOCLEAR: the kernel unbinds it when the last opener closes,
// so a crashed process leaves it bound only while a mount holds it.
type loopDevice struct {
	name string // "loop3"
	file *os.File
}

// attachLoopRetries bounds the race with other processes for a free
// device between LOOP_CTL_GET_FREE and LOOP_CONFIGURE.
const attachLoopRetries = 32

// attachLoop binds a free loop device to the bytes [offset, offset+size)
// of backing; size 0 means to the end.
func attachLoop(ctx context.Context, backing *os.File, offset, size int64, readOnly bool) (*loopDevice, error) {
	ctl, err := os.OpenFile("/dev/loop-control", os.O_RDWR, 0)
	if err != nil {
		return nil, err
	}
	defer ctl.Close()
	// No LO_FLAGS_PARTSCAN: the partition table was read by this package
	// and the device spans just the chosen volume, so the kernel's
	// partition parsers are neither needed nor exposed to the image.
	flags := uint32(unix.LO_FLAGS_AUTOCLEAR)
	if readOnly {
		flags |= unix.LO_FLAGS_READ_ONLY
	}
	cfg := unix.LoopConfig{Fd: uint32(backing.Fd()), Info: unix.LoopInfo64{Flags: flags, Offset: uint64(offset), Sizelimit: uint64(size)}}
	copy(cfg.Info.File_name[:len(cfg.Info.File_name)-1], backing.Name())
	var lastErr error
	for range attachLoopRetries {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		n, err := unix.IoctlRetInt(int(ctl.Fd()), unix.LOOP_CTL_GET_FREE)
		if err != nil {
			return nil, &os.PathError{Op: "LOOP_CTL_GET_FREE", Path: ctl.Name(), Err: err}
		}
		name := "loop" + strconv.Itoa(n)
		dev, err := openBlockNode(ctx, "/dev/"+name, filepath.Join("/sys/block", name, "dev"))
		if err != nil {
			return nil, err
		}
		err = unix.IoctlLoopConfigure(int(dev.Fd()), &cfg)
		if err == nil {
			return &loopDevice{name: name, file: dev}, nil
		}
		dev.Close()
		lastErr = &os.PathError{Op: "LOOP_CONFIGURE", Path: dev.Name(), Err: err}
		if err != unix.EBUSY {
			return nil, lastErr
		}
		// Another process bound it first; ask for the next free one.
	}
	return nil, lastErr
}

// openBlockNode opens the device node path, waiting briefly for devtmpfs
// to create it, and checks that it is the device sysfs names.
func openBlockNode(ctx context.Context, path, sysDev string) (*os.File, error) {
	want, err := readDevNumber(sysDev)
	if err != nil {
		return nil, err
	}
	deadline := time.Now().Add(2 * time.Second)
	for {
		f, err := os.OpenFile(path, os.O_RDWR|unix.O_NOFOLLOW, 0)
		if err == nil {
			var st unix.Stat_t
			if err := unix.Fstat(int(f.Fd()), &st); err != nil || st.Mode&unix.S_IFMT != unix.S_IFBLK || st.Rdev != want {
				f.Close()
				return nil, fmt.Errorf("%s is not the block device %d:%d", path, unix.Major(want), unix.Minor(want))
			}
			return f, nil
		}
		if !errors.Is(err, os.ErrNotExist) || time.Now().After(deadline) {
			return nil, err
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(5 * time.Millisecond):
		}
	}
}

// readDevNumber reads a sysfs "dev" file ("major:minor").
func readDevNumber(path string) (uint64, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0, err
	}
	ma, mi, ok := strings.Cut(strings.TrimSpace(string(b)), ":")
	major, err1 := strconv.ParseUint(ma, 10, 32)
	minor, err2 := strconv.ParseUint(mi, 10, 32)
	if !ok || err1 != nil || err2 != nil {
		return 0, fmt.Errorf("%s: malformed device number %q", path, b)
	}
	return unix.Mkdev(uint32(major), uint32(minor)), nil
}

// detach unbinds the device and waits until the kernel has let go of the
// backing file (with autoclear the unbinding completes on last close).
func (l *loopDevice) detach(ctx context.Context) error {
	if l == nil || l.file == nil {
		return nil
	}
	// ENXIO: autoclear already unbound it.
	if err := unix.IoctlSetInt(int(l.file.Fd()), unix.LOOP_CLR_FD, 0); err != nil && err != unix.ENXIO {
		l.file.Close()
		l.file = nil
		return &os.PathError{Op: "LOOP_CLR_FD", Path: "/dev/" + l.name, Err: err}
	}
	l.file.Close()
	l.file = nil
	return waitLoopFree(ctx, l.name)
}

func waitLoopFree(ctx context.Context, name string) error {
	backing := filepath.Join("/sys/block", name, "loop", "backing_file")
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	for {
		if _, err := os.Stat(backing); errors.Is(err, os.ErrNotExist) {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%w: /dev/%s still bound: %w", ErrTeardown, name, ctx.Err())
		case <-time.After(2 * time.Millisecond):
		}
	}
}

// detachLoopsBackedBy unbinds every loop device whose backing file lies in
// dir (a crashed session's export), in case a lazy unmount elsewhere kept
// it bound.
func detachLoopsBackedBy(dir string) {
	files, _ := filepath.Glob("/sys/block/loop*/loop/backing_file")
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil || !strings.HasPrefix(strings.TrimSpace(string(b)), dir+"/") {
			continue
		}
		name := filepath.Base(filepath.Dir(filepath.Dir(f)))
		dev, err := os.OpenFile("/dev/"+name, os.O_RDONLY|unix.O_NOFOLLOW, 0)
		if err != nil {
			continue
		}
		unix.IoctlSetInt(int(dev.Fd()), unix.LOOP_CLR_FD, 0)
		dev.Close()
	}
}
