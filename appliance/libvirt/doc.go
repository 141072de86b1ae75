// Package libvirt launches guestinject appliances through libvirt, and
// opens the disks of libvirt domains. It is the module's only cgo package
// (libvirt.org/go/libvirt, linked against libvirt.so; build it with the
// libvirt development headers and pkg-config); no other library package
// of the module imports it, so programs that do not use it need neither.
// The examples/libvirtdomain program does.
//
// # The launcher
//
// Launcher implements appliance.Launcher: pass it with
// appliance.WithLauncher to boot a session's VM as a transient libvirt
// domain instead of running QEMU directly. The domain is described with
// libvirtxml structs:
//
//   - direct kernel boot of the appliance kernel and initramfs, set up
//     for boot time under TCG as the direct launcher (appliance.QEMU) is:
//     a q35 machine with every device on the PCIe root bus, the
//     "maximum" CPU model (its RDRAND seeds the guest's random pool at
//     once; a libvirt without it gets qemu64 with RDRAND required), qboot
//     as a read-only <loader type='rom'> when QEMU ships it, and the
//     uncompressed PVH kernel (MachineSpec.KernelELF) when there is one;
//   - the agent's virtio-serial port as a unix channel in connect mode,
//     to the socket the host listens on (the host accepts exactly one
//     connection);
//   - each disk a qcow2 overlay whose backing chain is spelled out in
//     <backingStore> elements with explicit formats, ending in an empty
//     <backingStore/> for a qcow2 image, so neither libvirt nor QEMU reads
//     a format or a backing name from any header; the image is a backing
//     node, which QEMU opens read-only; the overlay, scratch until Commit,
//     ignores the guest's flushes (cache='unsafe');
//   - the payload disk (appliance.MachineSpec.Payload) as a raw <disk>
//     with <readonly/> and serial guestabi.PayloadSerial, after the
//     guest disks (at most 25 of them);
//   - a dynamic security label for every security driver the host runs
//     (SELinux or AppArmor sVirt, and DAC: QEMU runs as libvirt's QEMU
//     user, not as the caller);
//   - on_poweroff, on_reboot and on_crash destroy, and autodestroy: each
//     VM has a connection of its own, and libvirtd destroys the domain if
//     that connection closes, also when this process dies;
//   - the serial console written to a file in the session's private
//     directory, copied continuously to the session's console tail.
//
// The default URI is qemu:///system for root and qemu:///session for
// others. qemu:///session runs QEMU as the caller, so nothing needs
// opening up. Under qemu:///system QEMU runs as another user (the DAC
// base label in the host capabilities, libvirt-qemu on Debian), and
// libvirt's dynamic ownership hands each file the VM opens to that user
// for the VM's lifetime, but never a directory. So the launcher makes the
// session's private directory searchable, not listable, by QEMU's group
// (0710), opens the agent socket to that group (0660; libvirt is told not
// to relabel it, since the host removes it once connected), and copies
// the kernel, initramfs and payload disk into the private directory,
// because the cache they come from may sit in a home directory QEMU cannot enter. Libvirt
// never gives a read-only image back after relabelling it, so the
// caller's images are marked relabel="no" for DAC and are not touched:
// QEMU's user must be able to read them and search their directories,
// which Launch checks before boot (ErrNotAccessible names what is in the
// way). Under SELinux or AppArmor, libvirt labels the images read-only
// for the VM as it does for any guest's backing images.
//
// # Domains as input
//
// OpenDomain opens the disks of a defined, shut-off domain in one
// appliance session: DomainDisks takes the domain's file-backed disks and
// the formats their <driver type> declares — the trusted source of the
// format, never probed — and appliance.Open checks each image against its
// format with imagecheck before anything parses it. A running or paused
// domain is refused with ErrDomainActive, and Commit checks again.
//
// # No pool
//
// appliance.NewPool refuses this launcher, and Launch refuses a spec with
// hot-plug slots, with appliance.ErrPoolLauncher: hot-plugging through
// libvirt (attach-device on the running transient domain) would have
// libvirtd open the images by path, where the direct launcher passes
// QEMU descriptors it opened itself, and the domain's QMP monitor belongs
// to libvirtd. Orchestrators on libvirt pay a boot per session.
package libvirt
