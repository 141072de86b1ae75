package appliance

import (
	"context"
	"io"
	"os"
	"strconv"

	"github.com/guestinject/guestinject/imagecheck"
)

// Launcher starts appliance VMs. The direct QEMU launcher is the default;
// others (libvirt) implement the same interface.
type Launcher interface {
	// Launch starts the VM described by spec and returns once it runs.
	// The VM must not outlive the Machine: the caller always ends with
	// Kill or a Wait that returned.
	Launch(ctx context.Context, spec MachineSpec) (Machine, error)
}

// Machine is a running appliance VM.
type Machine interface {
	// Wait returns when the VM has exited, with nil for a clean power
	// off, or with ctx's error when ctx is done first.
	Wait(ctx context.Context) error
	// Kill stops the VM at once and returns when it is gone.
	Kill() error
}

// MachineSpec is everything a launcher needs. Paths are absolute.
type MachineSpec struct {
	Kernel, Initramfs, Cmdline string
	// KernelELF, when set, is an uncompressed copy of Kernel that boots
	// through its PVH entry point, much faster under TCG; a launcher may
	// boot it instead of Kernel.
	KernelELF string
	// Payload is the read-only raw disk image of what the agent loads
	// only on demand (kernel modules beyond the core ones, the LVM
	// tools), built with the initramfs and useless without it. The VM
	// gets it at boot as a virtio disk with serial guestabi.PayloadSerial,
	// read-only everywhere, and never as one of Disks nor in a hot-plug
	// slot. "" attaches none, and the agent then fails when it needs
	// something from it; a launcher that cannot attach it fails.
	Payload   string
	MemoryMiB int
	// Accelerator is "kvm" or "tcg" ("" means "tcg"), decided by Open
	// (see WithAccelerator): a launcher uses exactly this one and never
	// falls back by itself.
	Accelerator string
	Disks       []MachineDisk
	// AgentSocket is a unix socket the host listens on; the VM's
	// virtio-serial port PortName must connect to it.
	AgentSocket string
	PortName    string
	// Console receives the VM's serial console. It must be drained
	// continuously: a console that stalls can stall the guest.
	Console io.Writer
	// Dir is the session's private directory (mode 0700), which holds
	// the overlays and AgentSocket. A launcher may keep files of its own
	// in it, and may open it to the user its VM runs as; it is removed
	// after the VM is gone.
	Dir string
	// RunAs, when set, is the user the VM's processes run as (see
	// WithRunAs); launchers that confine the VM themselves, as libvirt
	// does, may ignore it.
	RunAs *User
	// Monitor, when set, is QEMU's end of a socket pair that must
	// become the VM's QMP monitor: the session stops QEMU through it once
	// the guest has unmounted its filesystems, and a pooled VM's disks
	// are hot-plugged through it. HotplugSlots, which needs Monitor, is
	// the number of empty PCIe root ports, named HotplugBus(i), that
	// disks are hot-plugged into (see Pool). A launcher that cannot do
	// what is asked fails.
	Monitor      *os.File
	HotplugSlots int
	// PackageProxy, when set, is QEMU's end of a socket pair: the VM gets
	// a virtio-net device on a restricted user network whose only
	// reachable address, guestabi.ProxyAddr:guestabi.ProxyPort, forwards
	// to it (see WithPackageNetwork). A launcher that cannot do this
	// fails.
	PackageProxy *os.File
}

// HotplugBus is the id of the i-th PCIe root port of a VM booted with
// MachineSpec.HotplugSlots.
func HotplugBus(i int) string { return "hotplug" + strconv.Itoa(i) }

// MachineDisk is one disk: a qcow2 overlay that receives every write, on
// top of the image, which the VM opens read-only with its declared format.
// Nothing about either file is probed.
type MachineDisk struct {
	Overlay    string // qcow2
	Base       string
	BaseFormat imagecheck.Format // imagecheck.Raw or imagecheck.QCOW2
	Serial     string            // tells the agent which disk this is
}
