package libvirt

import (
	"fmt"
	"slices"
	"strings"

	"libvirt.org/go/libvirtxml"

	"github.com/guestinject/guestinject/appliance"
	"github.com/guestinject/guestinject/imagecheck"
	"github.com/guestinject/guestinject/internal/guestabi"
)

// hostFacts is what a launch needs to know about the hypervisor behind a
// connection, read from its capabilities.
type hostFacts struct {
	domainType string   // "kvm" when the session's accelerator is KVM, else "qemu" (TCG)
	secModels  []string // active security drivers, e.g. "dac", "selinux"
	// qemuUID and qemuGID are the user and group QEMU runs as (the DAC
	// base label), or -1 when the connection does not say.
	qemuUID, qemuGID int
	// cpuMaximum says the hypervisor offers <cpu mode='maximum'> (libvirt
	// 7.1 and later): QEMU's "max" model under TCG, the host's CPU under
	// KVM.
	cpuMaximum bool
}

// parseCaps reads the facts from a capabilities document for a domain
// under accelerator ("kvm" or "tcg", as appliance.MachineSpec says). The
// domain type follows the accelerator, never the capabilities alone: a
// host may offer "kvm" domains that cannot run the appliance kernel.
func parseCaps(capsXML, accelerator string) (hostFacts, error) {
	var caps libvirtxml.Caps
	if err := caps.Unmarshal(capsXML); err != nil {
		return hostFacts{}, fmt.Errorf("parsing capabilities: %w", err)
	}
	f := hostFacts{domainType: "qemu", qemuUID: -1, qemuGID: -1}
	if accelerator == "kvm" {
		offered := false
		for _, g := range caps.Guests {
			if g.OSType != "hvm" || g.Arch.Name != "x86_64" {
				continue
			}
			for _, d := range g.Arch.Domains {
				offered = offered || d.Type == "kvm"
			}
		}
		if !offered {
			return hostFacts{}, &appliance.KVMError{Reason: "libvirt offers no kvm domain for x86_64"}
		}
		f.domainType = "kvm"
	}
	for _, m := range caps.Host.SecModel {
		if m.Name == "" || m.Name == "none" {
			continue
		}
		f.secModels = append(f.secModels, m.Name)
		if m.Name != "dac" {
			continue
		}
		for _, l := range m.Labels {
			if l.Type != f.domainType {
				continue
			}
			var uid, gid int
			// The DAC base label is "+UID:+GID".
			if _, err := fmt.Sscanf(strings.TrimSpace(l.Value), "+%d:+%d", &uid, &gid); err == nil {
				f.qemuUID, f.qemuGID = uid, gid
			}
		}
	}
	return f, nil
}

// parseDomainCaps adds to f what the domain capabilities document for
// the appliance's machine type says.
func (f *hostFacts) parseDomainCaps(domCapsXML string) error {
	var caps libvirtxml.DomainCaps
	if err := caps.Unmarshal(domCapsXML); err != nil {
		return fmt.Errorf("parsing domain capabilities: %w", err)
	}
	if caps.CPU != nil {
		for _, m := range caps.CPU.Modes {
			if m.Name == "maximum" && m.Supported == "yes" {
				f.cpuMaximum = true
			}
		}
	}
	return nil
}

// bootFiles are the paths the domain boots from: the spec's own, or
// private copies of them, and the firmware ("" for libvirt's default).
type bootFiles struct {
	kernel, initramfs, consoleLog, firmware string
	payload                                 string // "" for none
}

// machineType is the appliance's machine: on q35 the guest sets up PCI
// interrupts without evaluating ACPI interrupt links, which under TCG
// costs a fraction of a second per device on pc.
const machineType = "q35"

// firstSlot is the first slot on the PCIe root bus the appliance's
// devices take; 0 is the host bridge and 1 is where a display would go.
const firstSlot = 2

// cpu chooses the guest CPU. Its RDRAND matters most: with it the guest
// kernel seeds its random pool at boot, without it the first getrandom
// blocks for about a second under TCG. "maximum" is QEMU's "max" model
// (every feature TCG emulates, RDRAND included); older libvirt gets the
// default model with RDRAND required.
func cpu(host hostFacts) *libvirtxml.DomainCPU {
	if host.cpuMaximum {
		return &libvirtxml.DomainCPU{Mode: "maximum"}
	}
	return &libvirtxml.DomainCPU{
		Mode: "custom", Match: "exact",
		Model:    &libvirtxml.DomainCPUModel{Value: "qemu64", Fallback: "forbid"},
		Features: []libvirtxml.DomainCPUFeature{{Policy: "require", Name: "rdrand"}},
	}
}

// pciAddress places a device on the PCIe root bus as an integrated
// device, as the direct launcher does: libvirt would otherwise give each
// one a root port of its own, more devices for the guest to probe.
func pciAddress(slot uint) *libvirtxml.DomainAddress {
	zero := uint(0)
	return &libvirtxml.DomainAddress{PCI: &libvirtxml.DomainAddressPCI{Domain: &zero, Bus: &zero, Slot: &slot, Function: &zero}}
}

// buildDomain describes the appliance VM for spec as a transient domain.
// Every disk is a qcow2 overlay over its image with both formats and the
// whole chain spelled out, so libvirt and QEMU read no format or backing
// name from any header; the image is a backing node, which QEMU opens
// read-only.
func buildDomain(name string, spec appliance.MachineSpec, boot bootFiles, host hostFacts) (*libvirtxml.Domain, error) {
	if len(spec.Disks) > maxDisks {
		return nil, fmt.Errorf("%d disks: at most %d", len(spec.Disks), maxDisks)
	}
	port0 := uint(0)
	var loader *libvirtxml.DomainLoader
	if boot.firmware != "" {
		loader = &libvirtxml.DomainLoader{Path: boot.firmware, Readonly: "yes", Type: "rom"}
	}
	d := &libvirtxml.Domain{
		Type:        host.domainType,
		Name:        name,
		Description: "guestinject appliance (transient, single use)",
		Memory:      &libvirtxml.DomainMemory{Value: uint(spec.MemoryMiB), Unit: "MiB"},
		VCPU:        &libvirtxml.DomainVCPU{Value: 1},
		CPU:         cpu(host),
		OS: &libvirtxml.DomainOS{
			Type:    &libvirtxml.DomainOSType{Arch: "x86_64", Machine: machineType, Type: "hvm"},
			Loader:  loader,
			Kernel:  boot.kernel,
			Initrd:  boot.initramfs,
			Cmdline: spec.Cmdline,
		},
		// The agent powers off through ACPI.
		Features: &libvirtxml.DomainFeatureList{ACPI: &libvirtxml.DomainFeature{}},
		Clock:    &libvirtxml.DomainClock{Offset: "utc"},
		// The VM ends for good on power off, on a guest panic (the kernel
		// is told to reboot at once) and on a QEMU crash.
		OnPoweroff: "destroy",
		OnReboot:   "destroy",
		OnCrash:    "destroy",
		Devices: &libvirtxml.DomainDeviceList{
			Controllers: []libvirtxml.DomainController{
				{Type: "usb", Model: "none"},
				{Type: "virtio-serial", Index: &port0, Address: pciAddress(firstSlot)},
			},
			Serials: []libvirtxml.DomainSerial{{
				Source: &libvirtxml.DomainChardevSource{File: &libvirtxml.DomainChardevSourceFile{Path: boot.consoleLog, Append: "off"}},
				Target: &libvirtxml.DomainSerialTarget{Type: "isa-serial", Port: &port0},
			}},
			Channels: []libvirtxml.DomainChannel{{
				// QEMU connects to the socket the host listens on. The
				// host removes the socket once connected, so libvirt must
				// not relabel it (restoring a missing file fails the
				// whole restore); stageBootFiles opens it to QEMU's group.
				Source: &libvirtxml.DomainChardevSource{UNIX: &libvirtxml.DomainChardevSourceUNIX{
					Mode: "connect", Path: spec.AgentSocket,
					SecLabel: noRelabel(host.secModels),
				}},
				Target: &libvirtxml.DomainChannelTarget{VirtIO: &libvirtxml.DomainChannelTargetVirtIO{Name: spec.PortName}},
			}},
			MemBalloon: &libvirtxml.DomainMemBalloon{Model: "none"},
		},
		SecLabel: secLabels(host.secModels),
	}
	for i, md := range spec.Disks {
		disk, err := overlayDisk(i, md, host)
		if err != nil {
			return nil, err
		}
		d.Devices.Disks = append(d.Devices.Disks, disk)
	}
	if boot.payload != "" {
		d.Devices.Disks = append(d.Devices.Disks, payloadDisk(boot.payload))
	}
	return d, nil
}

// maxDisks bounds the guest disks: one target name (vda to vdy) and one
// root bus slot each after the virtio-serial controller, vdz and the
// slot after the last guest disk's being the payload's.
const maxDisks = 25

// payloadDisk is the payload image (appliance.MachineSpec.Payload): raw,
// read-only, with the serial that tells the agent it is no guest disk,
// on the root bus slot after every guest disk's.
func payloadDisk(file string) libvirtxml.DomainDisk {
	return libvirtxml.DomainDisk{
		Device:   "disk",
		Driver:   &libvirtxml.DomainDiskDriver{Name: "qemu", Type: "raw"},
		Source:   &libvirtxml.DomainDiskSource{File: &libvirtxml.DomainDiskSourceFile{File: file}},
		ReadOnly: &libvirtxml.DomainDiskReadOnly{},
		Target:   &libvirtxml.DomainDiskTarget{Dev: "vdz", Bus: "virtio"},
		Serial:   guestabi.PayloadSerial,
		Address:  pciAddress(firstSlot + 1 + maxDisks),
	}
}

// secLabels asks every active security driver for a fresh label of its
// own: a per-VM SELinux/AppArmor context, and for DAC the configured QEMU
// user, with libvirt relabelling each file the VM uses.
func secLabels(models []string) []libvirtxml.DomainSecLabel {
	var labels []libvirtxml.DomainSecLabel
	for _, m := range models {
		labels = append(labels, libvirtxml.DomainSecLabel{Type: "dynamic", Model: m, Relabel: "yes"})
	}
	return labels
}

// noRelabel tells every active security driver to leave a file as it is.
func noRelabel(models []string) []libvirtxml.DomainDeviceSecLabel {
	var labels []libvirtxml.DomainDeviceSecLabel
	for _, m := range models {
		labels = append(labels, libvirtxml.DomainDeviceSecLabel{Model: m, Relabel: "no"})
	}
	return labels
}

func overlayDisk(i int, md appliance.MachineDisk, host hostFacts) (libvirtxml.DomainDisk, error) {
	source := &libvirtxml.DomainDiskSourceFile{File: md.Base}
	if slices.Contains(host.secModels, "dac") {
		// Libvirt never gives a read-only image back after handing it
		// to QEMU's user (other VMs may share it), so it must not take
		// the caller's image in the first place: QEMU reads it with the
		// permissions it has, which checkReadable verifies.
		source.SecLabel = []libvirtxml.DomainDeviceSecLabel{{Model: "dac", Relabel: "no"}}
	}
	base := &libvirtxml.DomainDiskBackingStore{
		Format: &libvirtxml.DomainDiskFormat{Type: string(md.BaseFormat)},
		Source: &libvirtxml.DomainDiskSource{File: source},
	}
	switch md.BaseFormat {
	case imagecheck.Raw:
	case imagecheck.QCOW2:
		// An empty backingStore says the chain ends here: a backing
		// file named in the image's header is never opened.
		base.BackingStore = &libvirtxml.DomainDiskBackingStore{}
	default:
		return libvirtxml.DomainDisk{}, fmt.Errorf("cannot attach format %q", md.BaseFormat)
	}
	// The overlay is scratch until Commit merges it after the VM has
	// exited, so the guest's flushes need not reach the host disk
	// (cache unsafe).
	return libvirtxml.DomainDisk{
		Device:       "disk",
		Driver:       &libvirtxml.DomainDiskDriver{Name: "qemu", Type: "qcow2", Cache: "unsafe"},
		Source:       &libvirtxml.DomainDiskSource{File: &libvirtxml.DomainDiskSourceFile{File: md.Overlay}},
		BackingStore: base,
		Target:       &libvirtxml.DomainDiskTarget{Dev: "vd" + string(rune('a'+i)), Bus: "virtio"},
		Serial:       md.Serial,
		Address:      pciAddress(firstSlot + 1 + uint(i)),
	}, nil
}
