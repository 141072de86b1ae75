package libvirt_test

import (
	"errors"
	"testing"

	applibvirt "github.com/guestinject/guestinject/appliance/libvirt"
)

func TestDomainDisks(t *testing.T) {
	const xml = `<domain type='kvm'><name>g</name><devices>
<disk type='file' device='disk'><driver name='qemu' type='qcow2'/><source file='/img/root.qcow2'/><target dev='vda' bus='virtio'/></disk>
<disk type='file' device='cdrom'><driver name='qemu' type='raw'/><source file='/img/install.iso'/><target dev='sda' bus='sata'/><readonly/></disk>
<disk type='file' device='disk'><driver name='qemu' type='raw'/><source file='/img/data.raw'/><backingStore/><target dev='vdb' bus='virtio'/><readonly/></disk>
</devices></domain>`
	disks, err := applibvirt.DomainDisks(xml)
	if err != nil {
		t.Fatal(err)
	}
	want := []applibvirt.DomainDisk{{Target: "vda"}, {Target: "vdb"}}
	want[0].Path, want[0].Format = "/img/root.qcow2", "qcow2"
	want[1].Path, want[1].Format, want[1].ReadOnly = "/img/data.raw", "raw", true
	if len(disks) != len(want) {
		t.Fatalf("DomainDisks = %+v, want %+v", disks, want)
	}
	for i := range want {
		if disks[i] != want[i] {
			t.Errorf("disk %d = %+v, want %+v", i, disks[i], want[i])
		}
	}
}

func TestDomainDisksRefuses(t *testing.T) {
	for name, disk := range map[string]string{
		"block":     `<disk type='block' device='disk'><driver name='qemu' type='raw'/><source dev='/dev/sdz'/><target dev='vda'/></disk>`,
		"network":   `<disk type='network' device='disk'><driver name='qemu' type='raw'/><source protocol='nbd' name='x'><host name='h'/></source><target dev='vda'/></disk>`,
		"no format": `<disk type='file' device='disk'><source file='/img/a'/><target dev='vda'/></disk>`,
		"vmdk":      `<disk type='file' device='disk'><driver name='qemu' type='vmdk'/><source file='/img/a'/><target dev='vda'/></disk>`,
		"backing":   `<disk type='file' device='disk'><driver name='qemu' type='qcow2'/><source file='/img/a'/><backingStore type='file'><format type='raw'/><source file='/etc/shadow'/></backingStore><target dev='vda'/></disk>`,
		"data file": `<disk type='file' device='disk'><driver name='qemu' type='qcow2'/><source file='/img/a'><dataStore type='file'><format type='raw'/><source file='/img/d'/></dataStore></source><target dev='vda'/></disk>`,
	} {
		t.Run(name, func(t *testing.T) {
			_, err := applibvirt.DomainDisks(`<domain type='kvm'><name>g</name><devices>` + disk + `</devices></domain>`)
			var derr *applibvirt.DomainError
			if !errors.Is(err, applibvirt.ErrUnsupportedDisk) || !errors.As(err, &derr) || derr.Domain != "g" || derr.Disk != "vda" {
				t.Errorf("DomainDisks = %v, want a DomainError for g/vda wrapping ErrUnsupportedDisk", err)
			}
		})
	}
	if _, err := applibvirt.DomainDisks(`<domain type='kvm'><name>g</name><devices/></domain>`); err == nil {
		t.Error("a domain without disks accepted")
	}
}
