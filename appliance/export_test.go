package appliance

// WithoutLVMTools boots an initramfs built without the LVM tools, as on a
// host without lvm2.
func WithoutLVMTools() Option { return func(o *options) { o.withoutLVM = true } }
