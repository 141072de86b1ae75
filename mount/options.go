package mount

import (
	"log/slog"

	"github.com/guestinject/guestinject/imagecheck"
	"github.com/guestinject/guestinject/vfs"
)

// OpenOption configures OpenTrusted and OpenTrustedInPlace.
type OpenOption interface{ applyOpen(*openOptions) }

type openOptionFunc func(*openOptions)

func (f openOptionFunc) applyOpen(o *openOptions) { f(o) }

type openOptions struct {
	root     *vfs.Root
	policy   *imagecheck.Policy
	stateDir string
	storageD string
	qemuImg  string
	log      *slog.Logger
	dirOpts  []DirOption
}

// WithRoot mounts the filesystem r names instead of the only Linux
// filesystem on the image: a partition (Volume with Disk 0 and a
// partition number counting from 1), a label or a UUID (as blkid(8)
// prints it; compared without regard to case). A Root the host mount
// cannot select (see CheckRoot) makes the open fail.
func WithRoot(r vfs.Root) OpenOption {
	return openOptionFunc(func(o *openOptions) { o.root = &r })
}

// WithPolicy checks the image with p instead of imagecheck.DefaultPolicy.
func WithPolicy(p imagecheck.Policy) OpenOption {
	return openOptionFunc(func(o *openOptions) { o.policy = &p })
}

// WithStateDir keeps session directories (mount points, exports, overlays)
// in dir instead of os.TempDir(). Sessions of every process sharing a
// state directory sweep each other's remains after a crash, so give
// processes that should do so the same one.
func WithStateDir(dir string) OpenOption {
	return openOptionFunc(func(o *openOptions) { o.stateDir = dir })
}

// WithQEMU names the qemu-storage-daemon and qemu-img executables used for
// qcow2 images and overlays (defaults: found in $PATH).
func WithQEMU(storageDaemon, qemuImg string) OpenOption {
	return openOptionFunc(func(o *openOptions) { o.storageD, o.qemuImg = storageDaemon, qemuImg })
}
