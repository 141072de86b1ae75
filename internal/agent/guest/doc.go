// Package guest is what the agent does inside the appliance VM before it
// serves the guest filesystem: mount the kernel's pseudo filesystems, load
// kernel modules (the core ones from the initramfs, every other group
// copied from the payload disk into the root the first time it is needed:
// payload.go, Modules.Load and Fetch), find the virtio-serial port by
// name, find the disks and their partitions through sysfs (the payload
// disk, told by its serial, is never one of them), identify each
// filesystem by its superblock (internal/blkid) and the partition table
// (internal/parttable, for PARTUUID and PARTLABEL), activate LVM volume
// groups with the lvm binary the payload may carry (lvm.go: a config of
// its own, metadata read-only, only the guest devices found scanned) so logical
// volumes join the volumes, choose the guest root (by name, or by
// content: os-release and fstab, looking into the conventional btrfs root
// subvolumes too, see RootSubvolumes), mount it with an explicit type,
// nodev and nosuid, mount what its /etc/fstab names on mount points
// resolved inside it (internal/inroot) with options of the agent's
// choosing (vfat also noexec; a validated btrfs subvol= or subvolid= is
// the only guest option passed on), report all of it for the host (an
// LVM failure, such as missing tools, as an issue and on each physical
// volume), and finally unmount and power the VM off.
//
// It also runs the guest's own commands against the mounted root (Runner,
// command.go and helper.go): after checking the guest's /bin/sh (CheckELF),
// the agent re-executes itself as a helper that is process 1 of new PID,
// mount, IPC, UTS and network namespaces, in a cgroup bounding its
// processes; the helper mounts the command's /proc, /sys, /dev, /run and
// /tmp on mount points resolved inside the root, chroots and becomes the
// shell. The PID namespace is what ends every process at the time limit:
// the cgroup bounds how many there are, but a root command could leave it.
//
// A pooled VM, which boots before its disks exist, can first warm up
// (WarmUp, warmup.go): it runs that setup once on a small disk of the
// agent's own, embedded as its non-zero extents in warmup/ and attached
// through a loop device over a sparse copy in the root's tmpfs — a GPT
// disk with one ext4 filesystem with a journal and 4 KiB blocks, as most
// guest images have — mounting it, reading, writing a file and unmounting,
// then lets it go. Under emulation the first run of each kernel and agent
// path costs its translation into host code, which QEMU keeps for the
// VM's life; the warm-up pays it before the VM is ready, so the session
// that takes the VM does not.
//
// What the agent must agree on with the host — the port's name, the
// kernel parameters, disk serials, root names, the module list, the
// payload's format, problem codes and text limits — is in internal/guestabi.
//
// There is no udev: device nodes come from devtmpfs and everything else is
// read from sysfs. The functions that only read take the sysfs and /dev
// directories as arguments, so they can be tested against fake trees.
package guest
