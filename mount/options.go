package mount

import (
	"log/slog"

	"github.com/guestinject/guestinject/imagecheck"
)

// Image is a guest disk image for Open.
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

// Formats Open attaches.
const (
	Raw   = "raw"
	QCOW2 = "qcow2"
)

// OpenOption configures Open.
type OpenOption interface{ applyOpen(*openOptions) }

type openOptionFunc func(*openOptions)

func (f openOptionFunc) applyOpen(o *openOptions) { f(o) }

type openOptions struct {
	trusted  bool
	overlay  bool
	selector selector
	policy   *imagecheck.Policy
	stateDir string
	storageD string
	qemuImg  string
	log      *slog.Logger
	dirOpts  []DirOption
}

// AcceptHostKernelRisk states that the caller trusts the image: Open
// makes the host kernel parse its partition table and filesystem, and a
// crafted filesystem can attack the kernel that parses it. Without this
// option Open refuses with ErrNotTrusted. Use the appliance package for
// images you do not control.
func AcceptHostKernelRisk() OpenOption {
	return openOptionFunc(func(o *openOptions) { o.trusted = true })
}

// WithOverlay sends every write to a private qcow2 overlay over the image,
// exported through qemu-storage-daemon, and merges it into the image only
// at Commit: a crash, an error or Close leaves the image unchanged. qcow2
// images always go through an overlay; this option extends that to raw
// images, at the price of the storage daemon and a merge.
func WithOverlay() OpenOption {
	return openOptionFunc(func(o *openOptions) { o.overlay = true })
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
