package appliance

import (
	"log/slog"
	"time"

	"github.com/guestinject/guestinject/imagecheck"
)

// Defaults, sized for TCG on a small machine.
const (
	DefaultMemoryMiB   = 256
	DefaultBootTimeout = 60 * time.Second
)

type options struct {
	kernel, agent, cacheDir string
	launcher                Launcher
	log                     *slog.Logger
	memoryMiB               int
	bootTimeout             time.Duration
	qemuImg                 string
	policy                  imagecheck.Policy
}

// Option configures Open.
type Option func(*options)

// WithKernel boots the kernel image path (its modules must be installed
// under /lib/modules/<version>). The default is $GUESTINJECT_KERNEL, then
// the newest /boot/vmlinuz-* with modules.
func WithKernel(path string) Option { return func(o *options) { o.kernel = path } }

// WithAgent uses a prebuilt static agent binary instead of building it
// from the module's source; see the package documentation.
func WithAgent(path string) Option { return func(o *options) { o.agent = path } }

// WithCacheDir keeps built agents and initramfs archives in dir instead of
// os.UserCacheDir()/guestinject.
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
