// Package guest is what the agent does inside the appliance VM before it
// serves the guest filesystem: mount the kernel's pseudo filesystems, load
// kernel modules from the initramfs, find the virtio-serial port by name,
// find the disks and their partitions through sysfs, identify each
// filesystem by its superblock (internal/blkid), choose the guest root and
// mount it with an explicit type, nodev and nosuid, and finally power the
// VM off.
//
// There is no udev: device nodes come from devtmpfs and everything else is
// read from sysfs. The functions that only read take the sysfs and /dev
// directories as arguments, so they can be tested against fake trees.
package guest
