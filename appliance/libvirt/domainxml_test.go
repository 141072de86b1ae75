package libvirt

import (
	"errors"
	"strings"
	"testing"

	"libvirt.org/go/libvirtxml"

	"github.com/guestinject/guestinject/appliance"
	"github.com/guestinject/guestinject/internal/guestabi"
)

const testCaps = `<capabilities><host><secmodel><model>none</model><doi>0</doi></secmodel>
<secmodel><model>dac</model><doi>0</doi><baselabel type='kvm'>+64055:+108</baselabel><baselabel type='qemu'>+64055:+64055</baselabel></secmodel></host>
<guest><os_type>hvm</os_type><arch name='x86_64'><domain type='qemu'/></arch></guest></capabilities>`

func TestParseCaps(t *testing.T) {
	h, err := parseCaps(testCaps, "tcg")
	if err != nil {
		t.Fatal(err)
	}
	if h.domainType != "qemu" || h.qemuUID != 64055 || h.qemuGID != 64055 || len(h.secModels) != 1 || h.secModels[0] != "dac" {
		t.Errorf("parseCaps = %+v", h)
	}
	if _, err := parseCaps(testCaps, "kvm"); !errors.Is(err, appliance.ErrKVMUnusable) {
		t.Errorf("kvm asked for, not offered: parseCaps error = %v, want ErrKVMUnusable", err)
	}
	withKVM := strings.Replace(testCaps, "<domain type='qemu'/>", "<domain type='qemu'/><domain type='kvm'/>", 1)
	kvm, err := parseCaps(withKVM, "kvm")
	if err != nil {
		t.Fatal(err)
	}
	if kvm.domainType != "kvm" || kvm.qemuGID != 108 {
		t.Errorf("with kvm: parseCaps = %+v", kvm)
	}
	// Offered but not chosen (a host whose KVM failed its proof): TCG.
	tcg, err := parseCaps(withKVM, "tcg")
	if err != nil {
		t.Fatal(err)
	}
	if tcg.domainType != "qemu" || tcg.qemuGID != 64055 {
		t.Errorf("kvm offered, tcg chosen: parseCaps = %+v", tcg)
	}
}

// TestBuildDomain checks the parts of the domain that confinement and
// "nothing is probed" rest on, by reading the XML back.
func TestBuildDomain(t *testing.T) {
	spec := appliance.MachineSpec{
		Kernel: "/k", Initramfs: "/i", Cmdline: "console=ttyS0", MemoryMiB: 256,
		AgentSocket: "/d/agent.sock", PortName: "org.example.port", Dir: "/d",
		Disks: []appliance.MachineDisk{
			{Overlay: "/d/overlay0.qcow2", Base: "/img/a.raw", BaseFormat: "raw", Serial: "s0"},
			{Overlay: "/d/overlay1.qcow2", Base: "/img/b.qcow2", BaseFormat: "qcow2", Serial: "s1"},
		},
	}
	host := hostFacts{domainType: "qemu", secModels: []string{"selinux", "dac"}, qemuUID: 1, qemuGID: 2, cpuMaximum: true}
	def, err := buildDomain("n", spec, bootFiles{kernel: "/d/vmlinuz", initramfs: "/d/initramfs", consoleLog: "/d/console.log", firmware: "/fw/qboot.rom",
		payload: "/d/payload"}, host)
	if err != nil {
		t.Fatal(err)
	}
	out, err := def.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	var got libvirtxml.Domain
	if err := got.Unmarshal(out); err != nil {
		t.Fatal(err)
	}
	if got.OnPoweroff != "destroy" || got.OnCrash != "destroy" || got.OnReboot != "destroy" {
		t.Errorf("lifecycle actions = %s/%s/%s, want destroy", got.OnPoweroff, got.OnReboot, got.OnCrash)
	}
	if got.OS.Kernel != "/d/vmlinuz" || got.OS.Initrd != "/d/initramfs" || got.OS.Cmdline != "console=ttyS0" {
		t.Errorf("boot = %+v", got.OS)
	}
	// The boot-time settings of the direct launcher.
	if got.OS.Type.Machine != "q35" {
		t.Errorf("machine = %q, want q35", got.OS.Type.Machine)
	}
	if got.CPU == nil || got.CPU.Mode != "maximum" {
		t.Errorf("cpu = %+v, want mode maximum", got.CPU)
	}
	if l := got.OS.Loader; l == nil || l.Path != "/fw/qboot.rom" || l.Type != "rom" || l.Readonly != "yes" {
		t.Errorf("loader = %+v, want the qboot ROM, read-only", l)
	}
	if len(got.SecLabel) != 2 || got.SecLabel[0].Type != "dynamic" || got.SecLabel[0].Model != "selinux" || got.SecLabel[1].Model != "dac" {
		t.Errorf("seclabels = %+v, want dynamic selinux and dac", got.SecLabel)
	}
	ch := got.Devices.Channels
	if len(ch) != 1 || ch[0].Source.UNIX == nil || ch[0].Source.UNIX.Mode != "connect" || ch[0].Source.UNIX.Path != "/d/agent.sock" || ch[0].Target.VirtIO.Name != "org.example.port" {
		t.Errorf("channel = %+v", ch)
	}
	if s := got.Devices.Serials; len(s) != 1 || s[0].Source.File == nil || s[0].Source.File.Path != "/d/console.log" {
		t.Errorf("serial = %+v", s)
	}
	disks := got.Devices.Disks
	if len(disks) != 3 {
		t.Fatalf("%d disks, want two guest disks and the payload", len(disks))
	}
	payload := disks[2]
	disks = disks[:2]
	if payload.Driver.Type != "raw" || payload.Source.File.File != "/d/payload" || payload.ReadOnly == nil ||
		payload.Serial != guestabi.PayloadSerial || payload.BackingStore != nil {
		t.Errorf("payload disk = %+v, want the payload raw, read-only, with serial %s", payload, guestabi.PayloadSerial)
	}
	// Every PCI device sits on the root bus, at a slot of its own.
	slots := map[uint]string{}
	onRootBus := func(what string, a *libvirtxml.DomainAddress) {
		t.Helper()
		if a == nil || a.PCI == nil || a.PCI.Bus == nil || *a.PCI.Bus != 0 || a.PCI.Slot == nil {
			t.Errorf("%s: address %+v, want one on the PCIe root bus", what, a)
			return
		}
		if other, dup := slots[*a.PCI.Slot]; dup || *a.PCI.Slot == 0 || *a.PCI.Slot >= 0x1f {
			t.Errorf("%s: slot %#x (taken by %q or reserved)", what, *a.PCI.Slot, other)
		}
		slots[*a.PCI.Slot] = what
	}
	for _, c := range got.Devices.Controllers {
		if c.Type == "virtio-serial" {
			onRootBus("virtio-serial", c.Address)
		}
	}
	if len(slots) != 1 {
		t.Errorf("controllers = %+v, want one virtio-serial controller", got.Devices.Controllers)
	}
	onRootBus("payload", payload.Address)
	for i, d := range disks {
		md := spec.Disks[i]
		if d.Driver.Type != "qcow2" || d.Source.File.File != md.Overlay || d.Serial != md.Serial || d.ReadOnly != nil {
			t.Errorf("disk %d overlay = %+v", i, d)
		}
		if d.Driver.Cache != "unsafe" {
			t.Errorf("disk %d: cache %q, want unsafe (the overlay is scratch until Commit)", i, d.Driver.Cache)
		}
		onRootBus(d.Target.Dev, d.Address)
		b := d.BackingStore
		if b == nil || b.Format.Type != string(md.BaseFormat) || b.Source.File.File != md.Base {
			t.Fatalf("disk %d backing = %+v", i, b)
		}
		if l := b.Source.File.SecLabel; len(l) != 1 || l[0].Model != "dac" || l[0].Relabel != "no" {
			t.Errorf("disk %d: image seclabel = %+v, want DAC relabel=no", i, l)
		}
	}
	if disks[0].BackingStore.BackingStore != nil {
		t.Error("raw image has a backing store")
	}
	// An empty <backingStore/> reads back with an empty source.
	if end := disks[1].BackingStore.BackingStore; end == nil || (end.Source != nil && end.Source.File != nil) || end.Format != nil {
		t.Errorf("qcow2 image chain does not end explicitly: %+v", end)
	}
	if _, err := buildDomain("n", appliance.MachineSpec{Disks: []appliance.MachineDisk{{BaseFormat: "vmdk"}}}, bootFiles{}, host); err == nil {
		t.Error("vmdk image accepted")
	}
}

// TestBuildDomainFallbacks: without <cpu mode='maximum'> the CPU still
// has RDRAND, and without a firmware the loader is libvirt's default.
func TestBuildDomainFallbacks(t *testing.T) {
	host := hostFacts{domainType: "qemu", qemuUID: -1, qemuGID: -1}
	def, err := buildDomain("n", appliance.MachineSpec{MemoryMiB: 256}, bootFiles{kernel: "/k"}, host)
	if err != nil {
		t.Fatal(err)
	}
	c := def.CPU
	if c == nil || c.Mode != "custom" || len(c.Features) != 1 || c.Features[0].Name != "rdrand" || c.Features[0].Policy != "require" {
		t.Errorf("cpu = %+v, want a custom model requiring rdrand", c)
	}
	if def.OS.Loader != nil {
		t.Errorf("loader = %+v, want none", def.OS.Loader)
	}
}

func TestParseDomainCaps(t *testing.T) {
	for caps, want := range map[string]bool{
		`<domainCapabilities><cpu><mode name='host-passthrough' supported='no'/><mode name='maximum' supported='yes'/></cpu></domainCapabilities>`: true,
		`<domainCapabilities><cpu><mode name='maximum' supported='no'/></cpu></domainCapabilities>`:                                                false,
		`<domainCapabilities><cpu><mode name='host-model' supported='yes'/></cpu></domainCapabilities>`:                                            false,
	} {
		var h hostFacts
		if err := h.parseDomainCaps(caps); err != nil {
			t.Fatal(err)
		}
		if h.cpuMaximum != want {
			t.Errorf("cpuMaximum = %v for %s", h.cpuMaximum, caps)
		}
	}
}

// TestStageBootFilesPrefersELF: the PVH kernel boots when the session
// has one.
func TestStageBootFilesPrefersELF(t *testing.T) {
	dir := t.TempDir()
	host := hostFacts{qemuUID: -1, qemuGID: -1}
	for _, c := range []struct{ elf, want string }{{"/c/vmlinux", "/c/vmlinux"}, {"", "/c/vmlinuz"}} {
		boot, err := stageBootFiles(appliance.MachineSpec{Kernel: "/c/vmlinuz", KernelELF: c.elf, Initramfs: "/c/initramfs", Dir: dir}, host)
		if err != nil {
			t.Fatal(err)
		}
		if boot.kernel != c.want {
			t.Errorf("KernelELF %q: kernel = %q, want %q", c.elf, boot.kernel, c.want)
		}
	}
}
