package mount

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"time"

	"golang.org/x/sys/unix"

	"github.com/guestinject/guestinject/imagecheck"
	"github.com/guestinject/guestinject/vfs"
)

// teardownTimeout bounds a teardown that runs after the caller's context
// has ended (on an error or cancellation while opening, and in Close).
const teardownTimeout = 30 * time.Second

// Session is a guest filesystem from an image mounted on the host, a
// vfs.Session. Its vfs methods are those of a DirFS on the mount point, so
// every guest path is resolved inside the guest root. Writes land in a
// private qcow2 overlay over the image: Commit merges it, Close and
// crashes discard it, and the image is unchanged until Commit's merge.
// End it with Commit or Close.
type Session struct {
	*DirFS

	image    vfs.Disk
	abs      string
	volume   Volume
	log      *slog.Logger
	qemuImg  string
	overlay  string // "" without an overlay
	info     *imagecheck.Info
	imgFile  *os.File
	dir      *sessionDir
	daemon   *storageDaemon
	loop     *loopDevice
	mounted  string // mount point while mounted
	mu       sync.Mutex
	ended    bool
	released bool
}

var (
	_ vfs.Session   = (*Session)(nil)
	_ vfs.XattrFS   = (*Session)(nil)
	_ vfs.SymlinkFS = (*Session)(nil)
	_ vfs.RenameFS  = (*Session)(nil)
	_ vfs.TimesFS   = (*Session)(nil)
)

// OpenTrusted attaches image, finds its filesystem and mounts it on the
// host for injection. Its name is its condition: the caller trusts the
// image, because the host kernel parses its partition table and
// filesystem, and a crafted filesystem can attack that kernel. Use the
// appliance package for images you do not control.
//
// The image's content is checked against its declared format with
// imagecheck first. It is then exported as a raw file over FUSE by
// qemu-storage-daemon, with a private qcow2 overlay taking every write
// unless Image.ReadOnly, and that file is bound to a loop device
// (LOOP_CONFIGURE with autoclear; a read-only raw image is bound
// directly). The volume to mount is the one WithRoot names (a partition,
// label or UUID), or else the only Linux filesystem on the image;
// its type, read from its superblock, must be ext2, ext3, ext4, xfs,
// btrfs or vfat, and it is mounted with that type and nodev, nosuid and
// noexec on a private mount point. OpenTrusted first cleans up after
// crashed sessions in its state directory (see Cleanup). On any error,
// and when ctx ends, everything attached so far is released.
func OpenTrusted(ctx context.Context, image vfs.Disk, opts ...OpenOption) (*Session, error) {
	return open(ctx, image, false, opts)
}

// InPlace is a guest filesystem from a raw image mounted on the host with
// every write going straight into the image. Nothing can be discarded, so
// it is not a vfs.Session: it has no Commit, and Close keeps every change.
// A crash or a kill in the middle leaves the image with whatever the
// kernel had written back, some changes and not others, and a filesystem
// that wants its journal replayed on the next mount (ext3/4, xfs) or
// checking (vfat).
type InPlace struct {
	*DirFS
	s *Session
}

// OpenTrustedInPlace mounts the raw image on the host as OpenTrusted does,
// for an image the caller trusts, but binds the image itself to the loop
// device: no storage daemon, no overlay, no merge, and no way back.
func OpenTrustedInPlace(ctx context.Context, image vfs.Disk, opts ...OpenOption) (*InPlace, error) {
	s, err := open(ctx, image, true, opts)
	if err != nil {
		return nil, err
	}
	return &InPlace{DirFS: s.DirFS, s: s}, nil
}

// Volume returns the volume the session mounted.
func (p *InPlace) Volume() Volume { return p.s.volume }

// ImageInfo returns what the open's check of the image found.
func (p *InPlace) ImageInfo() []*imagecheck.Info { return p.s.ImageInfo() }

// Close keeps every change: it flushes the filesystem, unmounts it,
// detaches the loop device and syncs the image. An error means the
// changes may not all have reached the image, or something is still in
// use (ErrTeardown); Close can be called again. Calls after Close fail
// with vfs.ErrClosed.
func (p *InPlace) Close() error {
	p.s.mu.Lock()
	ended := p.s.ended
	p.s.mu.Unlock()
	if ended {
		return p.s.Close()
	}
	ctx, cancel := context.WithTimeout(context.Background(), teardownTimeout)
	defer cancel()
	if err := p.s.Commit(ctx); err != nil {
		var pe *fs.PathError
		if errors.As(err, &pe) {
			pe.Op = "close"
		}
		return err
	}
	return nil
}

func open(ctx context.Context, image vfs.Disk, inPlace bool, opts []OpenOption) (_ *Session, err error) {
	o := openOptions{storageD: "qemu-storage-daemon", qemuImg: "qemu-img"}
	for _, opt := range opts {
		opt.applyOpen(&o)
	}
	log := o.log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	pathErr := func(err error) error { return &fs.PathError{Op: "mount", Path: image.Path, Err: err} }
	if err := image.Format.Declared(); err != nil {
		return nil, pathErr(fmt.Errorf("%w: %w", vfs.ErrUnsupportedFormat, err))
	}
	if image.Format != imagecheck.Raw && image.Format != imagecheck.QCOW2 {
		return nil, pathErr(fmt.Errorf("%w: %q (declare %q or %q)", vfs.ErrUnsupportedFormat, image.Format, imagecheck.Raw, imagecheck.QCOW2))
	}
	if inPlace && image.Format != imagecheck.Raw {
		return nil, pathErr(fmt.Errorf("%w: %q cannot be written in place (only %q can; OpenTrusted writes %q through an overlay)", vfs.ErrUnsupportedFormat, image.Format, imagecheck.Raw, image.Format))
	}
	var sel selector
	if o.root != nil {
		if sel, err = selectorFor(*o.root); err != nil {
			return nil, pathErr(fmt.Errorf("WithRoot: %w", err))
		}
	}
	abs, err := filepath.Abs(image.Path)
	if err != nil {
		return nil, pathErr(err)
	}
	// The descriptor checked below has no name; the caller's spelling and
	// the absolute name the daemon and qemu-img are given must both be
	// names QEMU opens as this file.
	for _, name := range []string{image.Path, abs} {
		if err := imagecheck.CheckName(name, image.Format); err != nil {
			if rej := (*imagecheck.RejectionError)(nil); errors.As(err, &rej) && name == image.Path {
				rej.Path = "" // the PathError names it
			}
			return nil, pathErr(err)
		}
	}
	if err := ctx.Err(); err != nil {
		return nil, pathErr(err)
	}
	s := &Session{image: image, abs: abs, log: log, qemuImg: o.qemuImg}
	defer func() {
		if err != nil {
			tctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), teardownTimeout)
			defer cancel()
			if terr := s.release(tctx); terr != nil {
				err = errors.Join(err, terr)
			} else if terr := s.removeDir(); terr != nil {
				err = errors.Join(err, terr)
			}
			s.closeImage()
		}
	}()

	flags := os.O_RDWR
	if image.ReadOnly {
		flags = os.O_RDONLY
	}
	if s.imgFile, err = os.OpenFile(abs, flags, 0); err != nil {
		return nil, err
	}
	fi, err := s.imgFile.Stat()
	if err != nil {
		return nil, err
	}
	if !fi.Mode().IsRegular() {
		return nil, pathErr(errors.New("not a regular file"))
	}
	policy := imagecheck.DefaultPolicy()
	if o.policy != nil {
		policy = *o.policy
	}
	// The same descriptor is checked and then attached (or reopened by the
	// daemon under the same name), so the content checked is the content
	// served unless the caller swaps files under its own path.
	info, err := imagecheck.Check(ctx, s.imgFile, fi.Size(), image.Format, policy)
	if err != nil {
		return nil, pathErr(err)
	}
	s.info = info

	if err := sweep(ctx, o.stateDir, log); err != nil {
		log.Warn("mount: cleaning up after dead sessions", "err", err)
	}
	stateDir := o.stateDir
	if stateDir == "" {
		stateDir = os.TempDir()
	}
	if s.dir, err = newSessionDir(stateDir); err != nil {
		return nil, pathErr(err)
	}
	log.Debug("mount: session directory", "dir", s.dir.path)

	backing := s.imgFile
	if image.Format == imagecheck.QCOW2 || (!inPlace && !image.ReadOnly) {
		if !image.ReadOnly {
			s.overlay = s.dir.file(overlayName)
			if err := qemuImgCreateOverlay(ctx, o.qemuImg, s.overlay, abs, image.Format, info.VirtualSize); err != nil {
				return nil, pathErr(err)
			}
		}
		spec := exportSpec{image: abs, format: image.Format, overlay: s.overlay, readOnly: image.ReadOnly, export: s.dir.file(exportName)}
		if s.daemon, err = startStorageDaemon(ctx, o.storageD, spec, s.dir.file(daemonPidName)); err != nil {
			return nil, pathErr(err)
		}
		log.Debug("mount: exported", "export", spec.export, "overlay", s.overlay)
		if backing, err = os.OpenFile(spec.export, flags, 0); err != nil {
			return nil, pathErr(err)
		}
		defer backing.Close() // the loop device holds its own reference
	}
	bfi, err := backing.Stat()
	if err != nil {
		return nil, pathErr(err)
	}
	vols, err := scanVolumes(backing, bfi.Size())
	if err != nil {
		return nil, pathErr(err)
	}
	if s.volume, err = sel.choose(vols); err != nil {
		return nil, pathErr(err)
	}
	if s.loop, err = attachLoop(ctx, backing, s.volume.offset, s.volume.size, image.ReadOnly); err != nil {
		return nil, pathErr(err)
	}
	log.Debug("mount: attached", "device", "/dev/"+s.loop.name, "volume", s.volume.String())
	if err := ctx.Err(); err != nil {
		return nil, pathErr(err)
	}
	target := s.dir.file(mountPointName)
	// noatime: reading a file must not write its access time into the
	// image.
	mflags := uintptr(unix.MS_NODEV | unix.MS_NOSUID | unix.MS_NOEXEC | unix.MS_NOATIME)
	if image.ReadOnly {
		mflags |= unix.MS_RDONLY
	}
	fstype := allowedTypes[s.volume.fs]
	device := "/dev/" + s.loop.name
	if err := unix.Mount(device, target, fstype, mflags, ""); err != nil {
		return nil, pathErr(fmt.Errorf("mounting %s (%s) as %s: %w", s.volume, device, fstype, err))
	}
	s.mounted = target
	log.Debug("mount: mounted", "volume", s.volume.String(), "type", fstype, "at", target)
	if s.DirFS, err = OpenDir(target, o.dirOpts...); err != nil {
		return nil, pathErr(err)
	}
	return s, nil
}

// Volume returns the volume the session mounted.
func (s *Session) Volume() Volume { return s.volume }

// ImageInfo returns what the open's check of the image found, as a list
// of one, like the appliance's: the check runs once, before anything else
// reads the image, so callers need not check again.
func (s *Session) ImageInfo() []*imagecheck.Info { return []*imagecheck.Info{s.info} }

// Commit ends the session keeping its changes: it flushes the filesystem,
// unmounts it, detaches the loop device, stops the storage daemon and
// merges the overlay into the image. If anything fails before the merge,
// the changes are discarded and the image is as it was. Calls after
// Commit or Close fail with vfs.ErrClosed.
func (s *Session) Commit(ctx context.Context) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ended {
		return &fs.PathError{Op: "commit", Path: s.image.Path, Err: vfs.ErrClosed}
	}
	s.ended = true
	if err := s.syncFS(); err != nil {
		s.teardown(ctx)
		return &fs.PathError{Op: "commit", Path: s.image.Path, Err: err}
	}
	if err := s.release(ctx); err != nil {
		return &fs.PathError{Op: "commit", Path: s.image.Path, Err: err}
	}
	var err error
	switch {
	case s.overlay != "":
		err = qemuImgCommit(ctx, s.qemuImg, s.abs, s.image.Format, s.overlay)
	case !s.image.ReadOnly:
		// The loop device wrote through the page cache.
		err = s.imgFile.Sync()
	}
	err = errors.Join(err, s.removeDir())
	if err != nil {
		return &fs.PathError{Op: "commit", Path: s.image.Path, Err: err}
	}
	s.closeImage()
	s.log.Debug("mount: committed", "image", s.abs)
	return nil
}

// Close ends the session and discards every change: it unmounts the
// filesystem, detaches the loop device, stops the storage daemon and
// removes the session directory with the overlay, so the image is
// unchanged. After a successful Commit, Close does nothing; after a
// failed one it releases what Commit could not. An error means something
// is still in use (ErrTeardown: a file open in the mount, for instance);
// Close can be called again, and Cleanup in a later process finishes the
// job if the process dies first.
func (s *Session) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.ended = true
	if s.released && s.dir == nil {
		return nil
	}
	defer s.closeImage()
	ctx, cancel := context.WithTimeout(context.Background(), teardownTimeout)
	defer cancel()
	if err := s.teardown(ctx); err != nil {
		return &fs.PathError{Op: "close", Path: s.image.Path, Err: err}
	}
	return nil
}

func (s *Session) teardown(ctx context.Context) error {
	if err := s.release(ctx); err != nil {
		return err
	}
	return s.removeDir()
}

// syncFS flushes the mounted filesystem to the device.
func (s *Session) syncFS() error {
	if s.mounted == "" {
		return nil
	}
	f, err := os.OpenFile(s.mounted, os.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW, 0)
	if err != nil {
		return err
	}
	defer f.Close()
	if err := unix.Syncfs(int(f.Fd())); err != nil {
		return &os.PathError{Op: "syncfs", Path: s.mounted, Err: err}
	}
	return nil
}

// release undoes the attach in reverse order: unmount, loop device,
// storage daemon. It stops at an unmount it cannot do, because everything
// else is still in use by that mount.
func (s *Session) release(ctx context.Context) error {
	if s.released {
		return nil
	}
	if s.DirFS != nil {
		s.DirFS.Close()
	}
	if s.mounted != "" {
		if err := unmount(ctx, s.mounted); err != nil {
			return fmt.Errorf("%w: %w", ErrTeardown, err)
		}
		s.log.Debug("mount: unmounted", "at", s.mounted)
		s.mounted = ""
	}
	var errs []error
	if s.loop != nil {
		errs = append(errs, s.loop.detach(ctx))
		s.loop = nil
	}
	if s.daemon != nil {
		errs = append(errs, s.daemon.stop(ctx))
		s.daemon = nil
	}
	if err := errors.Join(errs...); err != nil {
		return err
	}
	s.released = true
	return nil
}

func (s *Session) removeDir() error {
	if s.dir == nil {
		return nil
	}
	err := s.dir.remove()
	s.dir = nil
	return err
}

func (s *Session) closeImage() {
	if s.imgFile != nil {
		s.imgFile.Close()
		s.imgFile = nil
	}
}
