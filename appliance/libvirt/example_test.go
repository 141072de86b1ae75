package libvirt_test

import (
	"context"
	"errors"
	"fmt"
	"log"
	"strings"

	"github.com/guestinject/guestinject/appliance"
	applibvirt "github.com/guestinject/guestinject/appliance/libvirt"
	"github.com/guestinject/guestinject/vfs"
)

// Boot the appliance under libvirt, confined like the host's guests.
func ExampleLauncher() {
	ctx := context.Background()
	s, err := appliance.Open(ctx, []vfs.Disk{{Path: "/var/lib/libvirt/images/guest.qcow2", Format: "qcow2"}},
		appliance.WithLauncher(applibvirt.Launcher{URI: "qemu:///system"}))
	if err != nil {
		log.Fatal(err)
	}
	defer s.Close()
	if err := s.WriteFile(ctx, "/etc/hostname", strings.NewReader("web1\n"), vfs.WriteOptions{Perm: 0o644, UID: 0, GID: 0}); err != nil {
		log.Fatal(err)
	}
	if err := s.Commit(ctx); err != nil {
		log.Fatal(err)
	}
}

// Inject into every disk of a shut-off libvirt domain.
func ExampleOpenDomain() {
	ctx := context.Background()
	s, err := applibvirt.OpenDomain(ctx, "qemu:///system", "web1")
	if errors.Is(err, applibvirt.ErrDomainActive) {
		log.Fatal("shut the domain down first")
	}
	if err != nil {
		log.Fatal(err)
	}
	defer s.Close()
	for _, d := range s.Disks {
		fmt.Println(d.Target, d.Format, d.Path)
	}
	if err := s.MkdirAll(ctx, "/root/.ssh", 0o700); err != nil {
		log.Fatal(err)
	}
	key := strings.NewReader("ssh-ed25519 AAAAC3Nza... admin@example\n")
	if err := s.WriteFile(ctx, "/root/.ssh/authorized_keys", key, vfs.WriteOptions{Perm: 0o600, UID: 0, GID: 0, Policy: vfs.Append}); err != nil {
		log.Fatal(err)
	}
	if err := s.Commit(ctx); err != nil {
		log.Fatal(err)
	}
}

// Read a domain's disks and their declared formats without opening them.
func ExampleDomainDisks() {
	disks, err := applibvirt.DomainDisks(`<domain type='kvm'><name>web1</name><devices>
  <disk type='file' device='disk'><driver name='qemu' type='qcow2'/><source file='/var/lib/libvirt/images/web1.qcow2'/><target dev='vda' bus='virtio'/></disk>
  <disk type='file' device='cdrom'><driver name='qemu' type='raw'/><source file='/srv/seed.iso'/><target dev='sda' bus='sata'/><readonly/></disk>
  <disk type='file' device='disk'><driver name='qemu' type='raw'/><source file='/var/lib/libvirt/images/web1-data.raw'/><target dev='vdb' bus='virtio'/></disk>
</devices></domain>`)
	if err != nil {
		log.Fatal(err)
	}
	for _, d := range disks {
		fmt.Println(d.Target, d.Format, d.Path, d.ReadOnly)
	}
	// Output:
	// vda qcow2 /var/lib/libvirt/images/web1.qcow2 false
	// vdb raw /var/lib/libvirt/images/web1-data.raw false
}
