// Package initramfs builds the appliance's initial RAM filesystem: a newc
// cpio archive (uncompressed: the kernel unpacks it fastest that way) with
// the agent as /init, /dev/console, the kernel modules the appliance needs
// and a list of them (ModuleListPath).
//
// Modules come in groups: CoreGroup (virtio PCI, block and console) loads
// at boot; the others are named after a filesystem type and load only
// when a superblock asks for one, since some (btrfs) are slow to load.
// Within a group the list is in load order, dependencies first, computed
// here from the kernel's modules.dep; built-in modules are left out.
// Compressed modules are copied as they are and loaded with
// MODULE_INIT_COMPRESSED_FILE.
//
// Build chooses the kernel (Config.Kernel, $GUESTINJECT_KERNEL, or the
// newest /boot/vmlinuz-* whose /lib/modules/<version>/modules.dep exists;
// the version is read from the bzImage header) and caches the archive in a
// per-user directory under a name derived from the kernel version, the
// module files and the agent binary. Builds hold an flock on the cache, and
// files are written to a temporary name and renamed into place, so
// concurrent processes are safe and readers never see a partial archive.
//
// The agent is Config.Agent, $GUESTINJECT_AGENT, or built with the go
// command from the module's source (see the appliance package
// documentation for what that requires).
package initramfs
