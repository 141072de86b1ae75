package libvirt_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"libvirt.org/go/libvirt"
	"libvirt.org/go/libvirtxml"

	applibvirt "github.com/guestinject/guestinject/appliance/libvirt"
	"github.com/guestinject/guestinject/imagecheck"
	"github.com/guestinject/guestinject/internal/testimage"
	"github.com/guestinject/guestinject/vfs"
)

// guestDomain defines a persistent, shut-off domain on qemu:///system
// with the disks given as (path, declared format) and undefines it when
// the test ends.
func guestDomain(t *testing.T, disks ...[2]string) (name string, dom *libvirt.Domain) {
	t.Helper()
	conn, err := libvirt.NewConnect("qemu:///system")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	var b [6]byte
	rand.Read(b[:])
	name = "guestinject-test-" + hex.EncodeToString(b[:])
	def := libvirtxml.Domain{
		Type:   "qemu",
		Name:   name,
		Memory: &libvirtxml.DomainMemory{Value: 64, Unit: "MiB"},
		OS:     &libvirtxml.DomainOS{Type: &libvirtxml.DomainOSType{Arch: "x86_64", Machine: "pc", Type: "hvm"}},
		Devices: &libvirtxml.DomainDeviceList{
			// Install media are not the guest's disks: skipped.
			Disks: []libvirtxml.DomainDisk{{Device: "cdrom", Driver: &libvirtxml.DomainDiskDriver{Name: "qemu", Type: "raw"},
				Target: &libvirtxml.DomainDiskTarget{Dev: "sda", Bus: "sata"}, ReadOnly: &libvirtxml.DomainDiskReadOnly{}}},
		},
	}
	for i, d := range disks {
		def.Devices.Disks = append(def.Devices.Disks, libvirtxml.DomainDisk{
			Device: "disk",
			Driver: &libvirtxml.DomainDiskDriver{Name: "qemu", Type: d[1]},
			Source: &libvirtxml.DomainDiskSource{File: &libvirtxml.DomainDiskSourceFile{File: d[0]}},
			Target: &libvirtxml.DomainDiskTarget{Dev: "vd" + string(rune('a'+i)), Bus: "virtio"},
		})
	}
	domXML, err := def.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	dom, err = conn.DomainDefineXML(domXML)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if active, _ := dom.IsActive(); active {
			dom.Destroy()
		}
		dom.Undefine()
		dom.Free()
	})
	return name, dom
}

// TestOpenDomain injects into a domain whose root filesystem is on a
// qcow2 disk and which has a second, raw disk, through the domain API,
// and reads the result back with debugfs.
func TestOpenDomain(t *testing.T) {
	needLibvirt(t)
	dir := imageDir(t)
	rootRaw := filepath.Join(t.TempDir(), "root.raw")
	ext4Image(t, rootRaw, map[string]string{"etc/hostname": "old\n", "root/": ""})
	root := filepath.Join(dir, "root.qcow2")
	testimage.Qcow2(t, rootRaw, root)
	data := filepath.Join(dir, "data.raw")
	testimage.Sparse(t, data, 16<<20)
	dataHash := testimage.FileHash(t, data)
	name, _ := guestDomain(t, [2]string{root, "qcow2"}, [2]string{data, "raw"})

	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	s, err := applibvirt.OpenDomain(ctx, "qemu:///system", name)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if len(s.Disks) != 2 || s.Disks[0].Target != "vda" || s.Disks[0].Format != "qcow2" || s.Disks[1].Target != "vdb" || s.Disks[1].Format != "raw" {
		t.Errorf("Disks = %+v, want vda qcow2 and vdb raw", s.Disks)
	}
	if err := s.WriteFile(ctx, "/etc/hostname", strings.NewReader("injected\n"), vfs.WriteOptions{Perm: 0o644, UID: -1, GID: -1}); err != nil {
		t.Fatal(err)
	}
	if err := s.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	back := filepath.Join(t.TempDir(), "back.raw")
	testimage.Run(t, "qemu-img", "convert", "-q", "-f", "qcow2", "-O", "raw", root, back)
	if got := debugfs(t, back, "cat /etc/hostname"); got != "injected\n" {
		t.Errorf("debugfs cat /etc/hostname = %q", got)
	}
	if testimage.FileHash(t, data) != dataHash {
		t.Error("the raw data disk changed")
	}
}

// TestOpenDomainRefusesActive refuses a running (here paused) domain, and
// a Commit after the domain started during the session.
func TestOpenDomainRefusesActive(t *testing.T) {
	needLibvirt(t)
	img := filepath.Join(imageDir(t), "root.raw")
	ext4Image(t, img, map[string]string{"etc/hostname": "old\n"})
	name, dom := guestDomain(t, [2]string{img, "raw"})
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()

	s, err := applibvirt.OpenDomain(ctx, "qemu:///system", name)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if err := s.WriteFile(ctx, "/etc/hostname", strings.NewReader("never\n"), vfs.WriteOptions{Perm: 0o644, UID: -1, GID: -1}); err != nil {
		t.Fatal(err)
	}
	// Start the domain meanwhile. QEMU's image locks would stop it from
	// opening the image the appliance holds, so it starts without disks.
	startWithoutDisks(t, dom)
	err = s.Commit(ctx)
	var derr *applibvirt.DomainError
	if !errors.Is(err, applibvirt.ErrDomainActive) || !errors.As(err, &derr) || derr.Domain != name {
		t.Fatalf("Commit with the domain started = %v, want a DomainError wrapping ErrDomainActive", err)
	}
	if got := debugfs(t, img, "cat /etc/hostname"); got != "old\n" {
		t.Errorf("image changed: /etc/hostname = %q", got)
	}

	if _, err := applibvirt.OpenDomain(ctx, "qemu:///system", name); !errors.Is(err, applibvirt.ErrDomainActive) {
		t.Fatalf("OpenDomain on a running domain = %v, want ErrDomainActive", err)
	}
}

// startWithoutDisks redefines dom without its disks and starts it paused.
func startWithoutDisks(t *testing.T, dom *libvirt.Domain) {
	t.Helper()
	domXML, err := dom.GetXMLDesc(libvirt.DOMAIN_XML_INACTIVE)
	if err != nil {
		t.Fatal(err)
	}
	var def libvirtxml.Domain
	if err := def.Unmarshal(domXML); err != nil {
		t.Fatal(err)
	}
	def.Devices.Disks = nil
	if domXML, err = def.Marshal(); err != nil {
		t.Fatal(err)
	}
	conn, err := dom.DomainGetConnect()
	if err != nil {
		t.Fatal(err)
	}
	redefined, err := conn.DomainDefineXML(domXML)
	if err != nil {
		t.Fatal(err)
	}
	defer redefined.Free()
	if err := redefined.CreateWithFlags(libvirt.DOMAIN_START_PAUSED); err != nil {
		t.Fatal(err)
	}
}

// TestOpenDomainChecksDeclaredFormat: the domain's declared format is
// trusted, and checked against the content: a qcow2 image declared raw
// is rejected before any VM starts.
func TestOpenDomainChecksDeclaredFormat(t *testing.T) {
	needLibvirt(t)
	dir := imageDir(t)
	rootRaw := filepath.Join(t.TempDir(), "root.raw")
	ext4Image(t, rootRaw, map[string]string{"etc/hostname": "old\n"})
	img := filepath.Join(dir, "root.qcow2")
	testimage.Qcow2(t, rootRaw, img)
	name, _ := guestDomain(t, [2]string{img, "raw"})
	_, err := applibvirt.OpenDomain(context.Background(), "qemu:///system", name)
	if !errors.Is(err, imagecheck.ErrRejected) {
		t.Fatalf("OpenDomain on a qcow2 declared raw = %v, want an imagecheck rejection", err)
	}
}
