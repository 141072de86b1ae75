// Package initramfs builds the appliance's initial RAM filesystem and
// its payload disk. The initramfs is a newc cpio archive (uncompressed:
// the kernel unpacks it fastest that way) with the agent as /init,
// /dev/console, the core kernel modules, the list of every module the
// appliance may load at guestabi.ModuleListPath (in the format
// guestabi.FormatModuleList writes and the agent parses) and the payload
// manifest at guestabi.PayloadManifestPath.
//
// Everything loaded only on demand — the modules of every group but the
// core one, and the LVM tools — is on the payload disk instead, which
// launchers attach read-only with serial guestabi.PayloadSerial: under
// TCG, unpacking the 25 MB archive that held them cost every boot 0.2 to
// 0.35 s, for some 20 MB that most sessions never use and that every
// pooled VM kept in its memory. The agent copies a group from the payload
// into its root the first time it needs it (see guestabi for the format).
//
// The payload is a newc archive too, read by the agent from the raw
// device, rather than a filesystem the guest kernel mounts: the host
// writes it with the same few lines of code that write the initramfs and
// needs no tool (an ext4 image, though the kernel has ext4 built in,
// would make mkfs.ext4 a runtime dependency of every program using the
// library), and the agent reads only headers and the files of the group
// it needs, with bounds on sizes, counts and names (guestabi's
// ReadPayloadIndex, fuzzed). A group's files cost guest memory only once
// it is loaded. The payload is cached next to the initramfs under the same
// content-derived name (payload-<version>-<key>.img), written first and
// under the same lock, so an initramfs in the cache always has its
// payload; the manifest names the build, and the agent refuses a payload
// whose manifest differs from its initramfs's. Where things are
// in the archive is part of the contract with the agent and so lives in
// internal/guestabi; the agent links nothing of this package.
//
// Modules come in groups: guestabi.CoreGroup (virtio PCI, block and
// console) loads at boot; the others are named after a filesystem type
// and load only when a superblock asks for one, since some (btrfs) are
// slow to load; the vfat group carries the NLS tables of the options the
// agent mounts FAT with (code page 437, iocharset ascii).
// Within a group the list is in load order, dependencies first, computed
// here from the kernel's modules.dep; built-in modules are left out.
// Compressed modules are copied as they are and loaded with
// MODULE_INIT_COMPRESSED_FILE. Config.ExtraModules adds groups of the
// caller's for test VMs with an /init of their own (the hot-plug bus
// harness's SCSI stack); the agent loads none of them.
//
// Build chooses the kernel (Config.Kernel, $GUESTINJECT_KERNEL, the
// appliance's own kernel that scripts/build-kernel.sh installs under the
// cache's OwnKernelDir, or the newest /boot/vmlinuz-* whose
// /lib/modules/<version>/modules.dep exists; the version is read from the
// bzImage header; a kernel in a tree laid out like a root filesystem has
// its modules in ../lib/modules/<version>) and caches the archive in a
// per-user directory under a name derived from the kernel version, the
// module files and the agent binary. Builds hold an flock on the cache, and
// files are written to a temporary name and renamed into place, so
// concurrent processes are safe and readers never see a partial archive.
//
// When the host has the LVM tools (lvm in /usr/sbin, /sbin or $PATH), the
// payload also holds, as group guestabi.LVMGroup, lvm for
// guestabi.LVMBinary, the shared libraries of its DT_NEEDED closure in guestabi.LVMLibDir (found in the standard library
// directories by reading ELF headers, never by running ldd) and its
// dynamic loader at the path the binary names, plus guestabi.DMGroup, the
// device-mapper modules, which the agent loads only when it meets an LVM
// physical volume. Their content is part of the cache key. Without the
// tools (or with Config.WithoutLVM) the payload has neither, and the
// agent says so of an LVM guest.
//
// The agent is Config.Agent, $GUESTINJECT_AGENT, or built with the go
// command from the module's source (see the appliance package
// documentation for what that requires).
package initramfs
