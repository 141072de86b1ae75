package appliance

import (
	"os"
	"os/exec"

	"github.com/guestinject/guestinject/internal/accel"
)

// Accelerator is how the appliance's VMs run guest code: AccelAuto (the
// default), AccelKVM or AccelTCG. See "Choosing the accelerator" in the
// package documentation.
type Accelerator = accel.Mode

const (
	// AccelAuto uses KVM once a boot has proven it runs the appliance
	// kernel on this host, and TCG otherwise.
	AccelAuto = accel.Auto
	// AccelKVM insists on KVM: Open fails fast with a *KVMError when KVM
	// cannot run the appliance.
	AccelKVM = accel.KVM
	// AccelTCG always emulates.
	AccelTCG = accel.TCG
)

// AcceleratorEnv is the environment variable that chooses the
// accelerator ("auto", "kvm" or "tcg") when WithAccelerator does not.
const AcceleratorEnv = accel.EnvVar

// ParseAccelerator reads "auto", "kvm" or "tcg"; "" is AccelAuto.
func ParseAccelerator(s string) (Accelerator, error) { return accel.ParseMode(s) }

// ErrKVMUnusable is matched by errors.Is for every *KVMError.
var ErrKVMUnusable = accel.ErrKVMUnusable

// KVMError says why KVM cannot run the appliance: which check failed, or
// what QEMU reported when a boot under KVM failed, with the console tail.
type KVMError = accel.UnusableError

// WithAccelerator chooses the accelerator (default: $GUESTINJECT_ACCEL,
// else AccelAuto).
func WithAccelerator(a Accelerator) Option { return func(o *options) { o.accel = a } }

// AcceleratorChoice is the accelerator a session runs under and why.
type AcceleratorChoice struct {
	// Name is "kvm" or "tcg".
	Name string
	// Reason says why, in one sentence.
	Reason string
	// Probed says this session proved (or disproved) KVM with a boot of
	// its own; later sessions reuse the cached verdict.
	Probed bool
}

// Accelerator says which accelerator the session's VM runs under and why.
func (s *Session) Accelerator() AcceleratorChoice { return s.accel }

// emulatorPath is the QEMU binary a launcher runs, for the verdict's key.
func emulatorPath(l Launcher) string {
	bin := "qemu-system-x86_64"
	if q, ok := l.(QEMU); ok && q.Binary != "" {
		bin = q.Binary
	}
	if p, err := exec.LookPath(bin); err == nil {
		return p
	}
	return bin
}

// accelUser is who a launch's QEMU runs as, for the device check: the
// dynamic user of the direct launcher, with /dev/kvm's group, when root
// starts it; this process otherwise.
func accelUser(o *options) *accel.User {
	if _, direct := o.launcher.(QEMU); !direct {
		return nil
	}
	switch {
	case o.runAs != nil:
		return &accel.User{UID: o.runAs.UID, GID: o.runAs.GID, Groups: kvmGroups()}
	case os.Geteuid() == 0:
		return &accel.User{UID: DynamicUIDBase, GID: DynamicUIDBase, Groups: kvmGroups()}
	}
	return nil
}
