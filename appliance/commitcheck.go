package appliance

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"strings"
	"syscall"

	"golang.org/x/sys/unix"

	"github.com/guestinject/guestinject/imagecheck"
	"github.com/guestinject/guestinject/internal/ownerdir"
	"github.com/guestinject/guestinject/internal/qemuimg"
)

// sessionPrefix starts the name of every session directory; the owner's
// pid and start time follow (see internal/ownerdir), so that the next
// Open can remove what a process that died left behind.
const sessionPrefix = "guestinject-appliance-"

// sweepSessions removes the session directories in dir of processes that
// died without ending their sessions (their VMs died with them). Only
// directories this user owns and no one else can write are touched (a
// launcher may open one to its VM's group, as libvirt's does).
func sweepSessions(ctx context.Context, dir string, log *slog.Logger) error {
	return ownerdir.Stale(ctx, dir, sessionPrefix, func(ctx context.Context, path string) error {
		fi, err := os.Lstat(path)
		if err != nil {
			return nil
		}
		st, ok := fi.Sys().(*syscall.Stat_t)
		if !fi.IsDir() || !ok || int(st.Uid) != os.Geteuid() || fi.Mode().Perm()&0o022 != 0 {
			return nil
		}
		log.Info("appliance: removing the directory of a dead session", "dir", path)
		return os.RemoveAll(path)
	})
}

// ErrOverlayRefused means Commit found an overlay that is not what the
// session created — the VM controls its bytes — and merged nothing.
var ErrOverlayRefused = errors.New("overlay refused")

// overlaySlack bounds how much an overlay file may exceed its virtual
// size: qcow2 metadata (L2 tables and refcounts, about 1/4096 of the
// data with 64 KiB clusters) and a margin.
func overlaySlack(size int64) int64 { return size/64 + 64<<20 }

// checkOverlay opens the overlay of d and checks that it is still a plain
// qcow2 image of the disk's virtual size — no backing file or data file
// named in it, no encryption, no snapshots, no corruption — and of a
// bounded size. The returned file is what the merge must use, so the
// checked file is the merged one.
func checkOverlay(ctx context.Context, d sessionDisk, policy imagecheck.Policy) (*os.File, error) {
	refuse := func(err error) error {
		return &fs.PathError{Op: "commit", Path: d.abs, Err: fmt.Errorf("%w: %s: %w", ErrOverlayRefused, d.overlay, err)}
	}
	f, err := os.OpenFile(d.overlay, os.O_RDONLY|unix.O_NOFOLLOW, 0)
	if err != nil {
		return nil, refuse(err)
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, refuse(err)
	}
	if !fi.Mode().IsRegular() {
		f.Close()
		return nil, refuse(errors.New("not a regular file"))
	}
	// The overlay must pass the caller's policy for everything but its
	// format, which is always qcow2, and its size, which is the disk's.
	policy.AllowedFormats = []imagecheck.Format{imagecheck.QCOW2}
	policy.MaxVirtualSize = d.size
	policy.AllowEncryption = false
	info, err := imagecheck.Check(ctx, f, fi.Size(), imagecheck.QCOW2, policy)
	switch {
	case err != nil:
	case info.VirtualSize != d.size:
		err = fmt.Errorf("virtual size %d, created as %d", info.VirtualSize, d.size)
	case info.BackingFile != "" || info.DataFile != "":
		err = errors.New("names another file")
	case info.Encrypted:
		err = errors.New("encrypted")
	case info.Snapshots != 0:
		err = fmt.Errorf("%d snapshots", info.Snapshots)
	case info.Corrupt:
		err = errors.New("marked corrupt")
	case fi.Size() > d.size+overlaySlack(d.size):
		err = fmt.Errorf("%d bytes for a virtual size of %d", fi.Size(), d.size)
	}
	if err != nil {
		f.Close()
		return nil, refuse(err)
	}
	return f, nil
}

// merge runs qemu-img commit on the checked overlay, inherited as
// /proc/self/fd/3, under the resource limits imagecheck's cross-check
// applies to qemu-img, with CPU time added for the data to copy.
func (s *Session) merge(ctx context.Context, d sessionDisk, overlay *os.File) error {
	fi, err := overlay.Stat()
	if err != nil {
		return err
	}
	lim := imagecheck.DefaultQEMULimits()
	cpu := int64(lim.CPUSeconds) + fi.Size()>>28 // a second per 256 MiB
	cmd, err := qemuimg.Command(ctx, s.qemuImg, qemuimg.Limits{AddressSpace: lim.AddressSpace, CPUSeconds: cpu},
		[]*os.File{overlay}, "commit", "-q", "-d", commitSpec(d, qemuimg.FD(0)))
	if err != nil {
		return err
	}
	var stderr strings.Builder
	cmd.Stderr = &stderr
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("qemu-img commit: %w: %s", err, strings.TrimSpace(stderr.String()))
	}
	return nil
}
