package libvirt_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"libvirt.org/go/libvirt"
	"libvirt.org/go/libvirtxml"

	applibvirt "github.com/guestinject/guestinject/appliance/libvirt"
	"github.com/guestinject/guestinject/imagecheck"
	"github.com/guestinject/guestinject/inject"
	"github.com/guestinject/guestinject/internal/testsupport/libvirttest"
	"github.com/guestinject/guestinject/internal/testsupport/testimage"
	"github.com/guestinject/guestinject/internal/testsupport/testimage/novaguest"
	"github.com/guestinject/guestinject/vfs"
)

// contentHash hashes what a guest reads from img: the file for raw, its
// contents converted to raw for qcow2.
func contentHash(t *testing.T, img, format string) string {
	t.Helper()
	if format == "raw" {
		return testimage.FileHash(t, img)
	}
	raw := filepath.Join(t.TempDir(), "content.raw")
	testimage.Run(t, "qemu-img", "convert", "-q", "-f", format, "-O", "raw", img, raw)
	return testimage.FileHash(t, raw)
}

// dataDisk writes a 16 MiB raw data disk that holds no filesystem (an
// application's own volume), so the guest root stays unambiguous.
func dataDisk(t *testing.T, img string) {
	t.Helper()
	testimage.Sparse(t, img, 16<<20)
	f, err := os.OpenFile(img, os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.WriteAt([]byte(strings.Repeat("application records\n", 200)), 1<<20); err != nil {
		t.Fatal(err)
	}
}

// TestOpenDomain defines a domain from XML whose first disk holds a
// Debian-like guest and whose second holds application data, one qcow2
// and one raw, opens it with OpenDomain, applies a whole Nova-style
// inject.Spec, commits, and reads every change back with debugfs; the
// data disk must be left as it was.
func TestOpenDomain(t *testing.T) {
	needLibvirt(t)
	for _, c := range []struct{ rootFormat, dataFormat string }{{"qcow2", "raw"}, {"raw", "qcow2"}} {
		t.Run("root-"+c.rootFormat, func(t *testing.T) {
			dir := imageDir(t)
			rootRaw := filepath.Join(dir, "root.raw")
			novaguest.Image(t, rootRaw, 128)
			dataRaw := filepath.Join(dir, "data.raw")
			dataDisk(t, dataRaw)
			root, data := rootRaw, dataRaw
			if c.rootFormat == "qcow2" {
				root = filepath.Join(dir, "root.qcow2")
				testimage.Qcow2(t, rootRaw, root)
			}
			if c.dataFormat == "qcow2" {
				data = filepath.Join(dir, "data.qcow2")
				testimage.Qcow2(t, dataRaw, data)
			}
			dataBefore := contentHash(t, data, c.dataFormat)
			name, _ := libvirttest.DefineDomain(t, libvirttest.Disk{Path: root, Format: c.rootFormat}, libvirttest.Disk{Path: data, Format: c.dataFormat})

			ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
			defer cancel()
			s, err := applibvirt.OpenDomain(ctx, libvirttest.URI, name)
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			if len(s.Disks) != 2 || s.Disks[0].Target != "vda" || string(s.Disks[0].Format) != c.rootFormat || s.Disks[0].Path != root ||
				s.Disks[1].Target != "vdb" || string(s.Disks[1].Format) != c.dataFormat || s.Disks[1].Path != data {
				t.Errorf("Disks = %+v, want vda %s %s and vdb %s %s", s.Disks, c.rootFormat, root, c.dataFormat, data)
			}
			rep, err := inject.Apply(ctx, s, novaguest.Spec())
			if err != nil {
				t.Fatalf("%v\n%s", err, s.Console())
			}
			if len(rep.Changes) < 10 {
				t.Errorf("report lists %d changes: %+v", len(rep.Changes), rep.Changes)
			}
			if err := s.Commit(ctx); err != nil {
				t.Fatal(err)
			}
			if c.rootFormat == "qcow2" {
				novaguest.CheckQcow2(t, root)
			} else {
				novaguest.Check(t, root)
			}
			if contentHash(t, data, c.dataFormat) != dataBefore {
				t.Error("the data disk changed")
			}
		})
	}
}

// TestOpenDomainRefusesActive refuses a Commit after the domain started
// during the session, and OpenDomain on the running domain.
func TestOpenDomainRefusesActive(t *testing.T) {
	needLibvirt(t)
	img := filepath.Join(imageDir(t), "root.raw")
	ext4Image(t, img, map[string]string{"etc/hostname": "old\n"})
	name, dom := libvirttest.DefineDomain(t, libvirttest.Disk{Path: img, Format: "raw"})
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()

	s, err := applibvirt.OpenDomain(ctx, libvirttest.URI, name)
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

	if _, err := applibvirt.OpenDomain(ctx, libvirttest.URI, name); !errors.Is(err, applibvirt.ErrDomainActive) {
		t.Fatalf("OpenDomain on a running domain = %v, want ErrDomainActive", err)
	}
}

// startWithoutDisks redefines dom without its disks, starts it and
// checks that it runs.
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
	if err := redefined.Create(); err != nil {
		t.Fatal(err)
	}
	if state, _, err := redefined.GetState(); err != nil || state != libvirt.DOMAIN_RUNNING {
		t.Fatalf("domain state after start = %v, %v; want running", state, err)
	}
}

// TestOpenDomainChecksDeclaredFormat: the domain's declared format is
// trusted, and checked against the content: a qcow2 image declared raw,
// and a raw image declared qcow2, are rejected before any VM starts, and
// left as they were.
func TestOpenDomainChecksDeclaredFormat(t *testing.T) {
	needLibvirt(t)
	dir := imageDir(t)
	raw := filepath.Join(dir, "root.raw")
	ext4Image(t, raw, map[string]string{"etc/hostname": "old\n"})
	qcow2 := filepath.Join(dir, "root.qcow2")
	testimage.Qcow2(t, raw, qcow2)
	for _, c := range []struct{ img, declared string }{{qcow2, "raw"}, {raw, "qcow2"}} {
		t.Run(filepath.Ext(c.img)[1:]+"-declared-"+c.declared, func(t *testing.T) {
			before := testimage.FileHash(t, c.img)
			name, _ := libvirttest.DefineDomain(t, libvirttest.Disk{Path: c.img, Format: c.declared})
			_, err := applibvirt.OpenDomain(context.Background(), libvirttest.URI, name)
			var derr *applibvirt.DomainError
			if !errors.Is(err, imagecheck.ErrRejected) || !errors.As(err, &derr) || derr.Domain != name {
				t.Fatalf("OpenDomain = %v, want a DomainError wrapping an imagecheck rejection", err)
			}
			if testimage.FileHash(t, c.img) != before {
				t.Error("image changed")
			}
		})
	}
}
