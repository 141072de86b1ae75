package mount

import (
	"log/slog"

	"github.com/guestinject/guestinject/imagecheck"
)

// Image is a guest disk image for OpenTrusted and OpenTrustedInPlace.
type Image struct {
	// Path is the image file.
	Path string
	// Format is the declared format, "raw" or "qcow2". It is never
	// probed; imagecheck verifies that the content agrees.
	Format string
	// ReadOnly attaches the image read-only and mounts the filesystem
	// read-only: nothing, not even the filesystem's journal, is written.
	ReadOnly bool
}

// Formats the host mount attaches.
const (
	Raw   = "raw"
	QCOW2 = "qcow2"
)

// OpenOption configures OpenTrusted and OpenTrustedInPlace.
type OpenOption interface{ applyOpen(*openOptions) }

type openOptionFunc func(*openOptions)

func (f openOptionFunc) applyOpen(o *openOptions) { f(o) }

type openOptions struct {
	selector selector
	policy   *imagecheck.Policy
	stateDir string
	storageD string
	qemuImg  string
	log      *slog.Logger
	dirOpts  []DirOption
}

// Partition mounts partition n (counting from 1) of a partitioned image.
func Partition(n int) OpenOption {
	return openOptionFunc(func(o *openOptions) { o.selector = selector{partition: n} })
}

// FilesystemLabel mounts the volume whose filesystem label is label.
func FilesystemLabel(label string) OpenOption {
	return openOptionFunc(func(o *openOptions) { o.selector = selector{label: label} })
}

// FilesystemUUID mounts the volume whose filesystem UUID is uuid (as
// blkid(8) prints it; compared without regard to case).
func FilesystemUUID(uuid string) OpenOption {
	return openOptionFunc(func(o *openOptions) { o.selector = selector{uuid: uuid} })
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
