package appliance

import (
	"time"

	"github.com/guestinject/guestinject/internal/accel"
)

// WithAccelHost makes the KVM checks look at h instead of this host.
func WithAccelHost(h accel.Host) Option { return func(o *options) { o.accelHost = h } }

// WithProbeTimeout bounds a proving boot under KVM by d instead of
// accel.ProbeTimeout.
func WithProbeTimeout(d time.Duration) Option { return func(o *options) { o.probeTimeout = d } }

// WithoutLVMTools boots an initramfs built without the LVM tools, as on a
// host without lvm2.
func WithoutLVMTools() Option { return func(o *options) { o.withoutLVM = true } }
