// Package initramfs builds the appliance's initial RAM filesystem: a newc
// cpio archive (uncompressed: the kernel unpacks it fastest that way) with
// the agent as /init, /dev/console, the kernel modules the appliance needs
// and a list of them at guestabi.ModuleListPath, in the format
// guestabi.FormatModuleList writes and the agent parses. Where things are
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
// Build chooses the kernel (Config.Kernel, $GUESTINJECT_KERNEL, or the
// newest /boot/vmlinuz-* whose /lib/modules/<version>/modules.dep exists;
// the version is read from the bzImage header) and caches the archive in a
// per-user directory under a name derived from the kernel version, the
// module files and the agent binary. Builds hold an flock on the cache, and
// files are written to a temporary name and renamed into place, so
// concurrent processes are safe and readers never see a partial archive.
//
// When the host has the LVM tools (lvm in /usr/sbin, /sbin or $PATH), the
// archive also holds lvm at guestabi.LVMBinary, the shared libraries of its
// DT_NEEDED closure in guestabi.LVMLibDir (found in the standard library
// directories by reading ELF headers, never by running ldd) and its
// dynamic loader at the path the binary names, plus guestabi.DMGroup, the
// device-mapper modules, which the agent loads only when it meets an LVM
// physical volume. Their content is part of the cache key. Without the
// tools the archive has neither, and the agent says so of an LVM guest.
//
// The agent is Config.Agent, $GUESTINJECT_AGENT, or built with the go
// command from the module's source (see the appliance package
// documentation for what that requires).
package initramfs
