// Package guest is what the agent does inside the appliance VM before it
// serves the guest filesystem: mount the kernel's pseudo filesystems, load
// kernel modules from the initramfs, find the virtio-serial port by name,
// find the disks and their partitions through sysfs, identify each
// filesystem by its superblock (internal/blkid) and the partition table
// (internal/parttable, for PARTUUID and PARTLABEL), choose the guest root
// (by name, or by content: os-release and fstab), mount it with an
// explicit type, nodev and nosuid, mount what its /etc/fstab names on
// mount points resolved inside it (internal/inroot), report all of it for
// the host, and finally unmount and power the VM off.
//
// There is no udev: device nodes come from devtmpfs and everything else is
// read from sysfs. The functions that only read take the sysfs and /dev
// directories as arguments, so they can be tested against fake trees.
package guest
