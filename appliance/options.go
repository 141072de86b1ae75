package appliance

import (
	"errors"
	"log/slog"
	"time"

	"github.com/guestinject/guestinject/imagecheck"
	"github.com/guestinject/guestinject/internal/accel"
	"github.com/guestinject/guestinject/vfs"
)

// Defaults, sized for TCG on a small machine.
const (
	DefaultMemoryMiB   = 256
	DefaultBootTimeout = 60 * time.Second
	// DefaultOperationTimeout bounds each Session call whose context has
	// no deadline (a read of an open file counts as one call).
	DefaultOperationTimeout = 2 * time.Minute
	// DefaultCommitTimeout bounds a Commit whose context has no deadline:
	// the agent's sync and unmount, the power off and the merge.
	DefaultCommitTimeout = 10 * time.Minute
)

type options struct {
	kernel, agent, cacheDir string
	launcher                Launcher
	log                     *slog.Logger
	memoryMiB               int
	bootTimeout             time.Duration
	operationTimeout        time.Duration
	commitTimeout           time.Duration
	runAs                   *User
	qemuImg                 string
	policy                  imagecheck.Policy
	root                    *vfs.Root
	withoutLVM              bool // build the payload without the LVM tools (tests)
	accel                   Accelerator
	accelHost               accel.Host    // where the KVM checks look (tests)
	probeTimeout            time.Duration // of a proving boot; 0 is accel.ProbeTimeout
	overlayLimit            int64
	poolMaxDisks            int           // disks a pooled VM can take (NewPool)
	poolMaxIdle             time.Duration // how long a pooled VM waits for them (NewPool)
	extraCmdline            string        // appended to a pooled VM's kernel command line (tests)
	onEnd                   func()        // the session's, from the Pool that boots it cold
	packageNetwork          *PackageNetwork
}

// Option configures Open.
type Option func(*options)

// WithKernel boots the kernel image path (its modules must be installed
// under /lib/modules/<version>, or under ../lib/modules/<version> beside
// it). The default is $GUESTINJECT_KERNEL, then the appliance's own kernel
// in the cache (`make kernel`), then the newest /boot/vmlinuz-* with
// modules; see "Kernel and agent" in the package documentation.
func WithKernel(path string) Option { return func(o *options) { o.kernel = path } }

// WithAgent uses a prebuilt static agent binary instead of building it
// from the module's source; see the package documentation.
func WithAgent(path string) Option { return func(o *options) { o.agent = path } }

// WithCacheDir keeps built agents, initramfs archives and payload disks
// in dir instead of os.UserCacheDir()/guestinject.
func WithCacheDir(dir string) Option { return func(o *options) { o.cacheDir = dir } }

// WithLauncher starts the VM with l instead of running QEMU directly.
func WithLauncher(l Launcher) Option { return func(o *options) { o.launcher = l } }

// WithLogger logs the session's steps and, at debug level, the VM console
// and the agent's setup timings.
func WithLogger(l *slog.Logger) Option { return func(o *options) { o.log = l } }

// WithMemory sets the VM's memory in MiB (default DefaultMemoryMiB).
func WithMemory(mib int) Option { return func(o *options) { o.memoryMiB = mib } }

// WithBootTimeout bounds the time from launch to the agent's first answer
// (default DefaultBootTimeout); the context of Open bounds it too.
func WithBootTimeout(d time.Duration) Option { return func(o *options) { o.bootTimeout = d } }

// WithPolicy checks every image against p instead of
// imagecheck.DefaultPolicy() (raw and qcow2 up to 1 TiB). The appliance
// itself opens only raw and qcow2 images.
func WithPolicy(p imagecheck.Policy) Option { return func(o *options) { o.policy = p } }

// WithOperationTimeout bounds each Session call whose context has no
// deadline (default DefaultOperationTimeout). A call that runs out of it
// means the VM stopped answering: the session is torn down at once — the
// VM killed, the overlays deleted, the images unchanged — and the call
// returns a *TimeoutError. A caller's own deadline is honoured instead,
// through the protocol's cancellation, and leaves the session usable.
func WithOperationTimeout(d time.Duration) Option {
	return func(o *options) { o.operationTimeout = d }
}

// WithCommitTimeout bounds a Commit whose context has no deadline
// (default DefaultCommitTimeout), with the same effect as
// WithOperationTimeout.
func WithCommitTimeout(d time.Duration) Option { return func(o *options) { o.commitTimeout = d } }

// WithRunAs makes the direct QEMU launcher start QEMU as uid and gid (with
// no supplementary groups but /dev/kvm's) instead of a dynamic user of its
// own (see DynamicUIDBase). Only root can start a process as another
// user. Give every concurrent session its own uid: processes of one uid
// can signal and trace each other. The libvirt launcher confines its VMs
// itself and ignores it.
func WithRunAs(uid, gid uint32) Option {
	return func(o *options) { o.runAs = &User{UID: uid, GID: gid} }
}

// WithOverlayLimit bounds the disk space each writable disk's overlay may
// take on the host, in bytes of the file's allocation (qcow2 metadata
// included): what the VM writes, which a guest command decides. The host
// watches the overlays while a command runs and checks them again before
// Commit merges anything; an overlay over the bound ends the session with
// an *OverlayLimitError and the images unchanged. 0, the default, sets no
// bound beyond the disks' virtual sizes.
func WithOverlayLimit(bytes int64) Option { return func(o *options) { o.overlayLimit = bytes } }

// PackageNetwork is the opt-in network a session's guest commands use to
// fetch packages (see WithPackageNetwork).
type PackageNetwork struct {
	// Mirrors are the http:// URLs of the package mirrors the guest may
	// fetch from; only their hosts and ports are reachable, through the
	// host's proxy. At least one is needed; a mirror on the host's
	// loopback is reachable only when listed here.
	Mirrors []string
}

// ErrPackageNetwork is wrapped by the errors of a package network that
// cannot be had: no mirrors, a pool, a launcher other than QEMU.
var ErrPackageNetwork = errors.New("package network unavailable")

// WithPackageNetwork gives the session's VM a network device on QEMU's
// user network in restricted mode (no outbound connection of its own),
// where one address, guestabi.ProxyAddr port 80, reaches an HTTP proxy in
// this process that forwards GET and HEAD requests to n.Mirrors and
// refuses everything else. Guest commands then run in the VM's network
// namespace with http_proxy set to it. Off by default: it exposes QEMU's
// user-mode network stack (libslirp) and the proxy to the hostile guest,
// and lets it send requests of its choosing to the mirrors. The QEMU
// launcher only; Open fails with other launchers and NewPool refuses it.
func WithPackageNetwork(n PackageNetwork) Option {
	return func(o *options) {
		n.Mirrors = append([]string(nil), n.Mirrors...)
		o.packageNetwork = &n
	}
}
