package libvirt

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"libvirt.org/go/libvirt"
	"libvirt.org/go/libvirtxml"

	"github.com/guestinject/guestinject/appliance"
	"github.com/guestinject/guestinject/imagecheck"
	"github.com/guestinject/guestinject/vfs"
)

// ErrDomainActive means the domain is running (or paused): its disks are
// in use and must not be changed underneath it.
var ErrDomainActive = errors.New("domain is active")

// ErrUnsupportedDisk means a domain disk cannot be opened safely: it is
// not a plain file, declares no format, or declares a backing chain.
var ErrUnsupportedDisk = errors.New("unsupported domain disk")

// DomainError is a refusal concerning a libvirt domain, or one of its
// disks when Disk is set.
type DomainError struct {
	Domain string
	Disk   string // target device, e.g. "vda"
	Err    error
}

func (e *DomainError) Error() string {
	if e.Disk != "" {
		return fmt.Sprintf("appliance/libvirt: domain %s: disk %s: %v", e.Domain, e.Disk, e.Err)
	}
	return fmt.Sprintf("appliance/libvirt: domain %s: %v", e.Domain, e.Err)
}

func (e *DomainError) Unwrap() error { return e.Err }

// DomainDisk is a disk of a libvirt domain, as a vfs.Disk for
// appliance.Open.
type DomainDisk struct {
	vfs.Disk
	Target string // the guest's device name, e.g. "vda"
}

// DomainDisks returns the disks of the domain described by domainXML, in
// the domain's order, each with the format its <driver type> declares —
// the trusted source of the format; nothing is probed. CD-ROMs and
// floppies are skipped: they hold install or config media, not the guest
// system. A disk marked <readonly/> or <shareable/> is opened read-only.
// A disk that is not a plain file (block, network, volume), declares no
// format, or declares a backing chain is refused with ErrUnsupportedDisk:
// leaving it out could hide the guest's root or a filesystem it mounts.
func DomainDisks(domainXML string) ([]DomainDisk, error) {
	var def libvirtxml.Domain
	if err := def.Unmarshal(domainXML); err != nil {
		return nil, fmt.Errorf("appliance/libvirt: parsing domain XML: %w", err)
	}
	if def.Devices == nil {
		return nil, &DomainError{Domain: def.Name, Err: errors.New("no disks")}
	}
	var disks []DomainDisk
	for _, d := range def.Devices.Disks {
		if d.Device == "cdrom" || d.Device == "floppy" {
			continue
		}
		target := ""
		if d.Target != nil {
			target = d.Target.Dev
		}
		refuse := func(why string) error {
			return &DomainError{Domain: def.Name, Disk: target, Err: fmt.Errorf("%w: %s", ErrUnsupportedDisk, why)}
		}
		switch {
		case d.Source == nil || d.Source.File == nil || d.Source.File.File == "":
			return nil, refuse("not a file-backed disk")
		case d.Driver == nil || d.Driver.Type == "":
			return nil, refuse("no declared format (<driver type>)")
		case d.Driver.Type != "raw" && d.Driver.Type != "qcow2":
			return nil, refuse(fmt.Sprintf("format %q (want raw or qcow2)", d.Driver.Type))
		case d.BackingStore != nil && (d.BackingStore.Format != nil || namesFile(d.BackingStore.Source)):
			return nil, refuse("declares a backing chain")
		case d.Source.DataStore != nil:
			return nil, refuse("declares an external data file")
		case d.Source.Slices != nil:
			return nil, refuse("declares a slice of its file")
		case d.Encryption != nil || d.Source.Encryption != nil:
			return nil, refuse("encrypted")
		}
		disks = append(disks, DomainDisk{
			Disk: vfs.Disk{
				Path:     d.Source.File.File,
				Format:   imagecheck.Format(d.Driver.Type),
				ReadOnly: d.ReadOnly != nil || d.Shareable != nil,
			},
			Target: target,
		})
	}
	if len(disks) == 0 {
		return nil, &DomainError{Domain: def.Name, Err: errors.New("no disks")}
	}
	return disks, nil
}

// namesFile reports whether src names anything to open; an empty
// <backingStore/> (the chain ends here) has an empty source.
func namesFile(src *libvirtxml.DomainDiskSource) bool {
	return src != nil && (src.File != nil || src.Block != nil || src.Dir != nil || src.Network != nil ||
		src.Volume != nil || src.NVME != nil || src.VHostUser != nil || src.VHostVDPA != nil)
}

// DomainSession is an appliance session on the disks of a shut-off
// libvirt domain.
type DomainSession struct {
	*appliance.Session
	// Disks are the domain's disks, in the session's order.
	Disks []DomainDisk

	conn      *libvirt.Connect
	closeConn sync.Once
	domain    string
}

// OpenDomain opens every disk of the shut-off domain named domain, on the
// libvirt at uri ("" means DefaultURI()), in one appliance session. The
// formats come from the domain's XML (see DomainDisks), and appliance.Open
// checks each image against its format with imagecheck under the
// session's policy (appliance.WithPolicy) before anything parses it.
// The appliance is launched through the same libvirt unless opts choose
// another launcher.
//
// A running or paused domain is refused with ErrDomainActive. Libvirt has
// no lock that keeps a domain from starting meanwhile, so Commit checks
// again and refuses to write into the images of a domain that started
// during the session.
func OpenDomain(ctx context.Context, uri, domain string, opts ...appliance.Option) (_ *DomainSession, err error) {
	if uri == "" {
		uri = DefaultURI()
	}
	conn, err := libvirt.NewConnect(uri)
	if err != nil {
		return nil, fmt.Errorf("appliance/libvirt: connecting to %s: %w", uri, err)
	}
	defer func() {
		if err != nil {
			conn.Close()
		}
	}()
	dom, err := conn.LookupDomainByName(domain)
	if err != nil {
		return nil, &DomainError{Domain: domain, Err: err}
	}
	defer dom.Free()
	if err := checkInactive(dom, domain); err != nil {
		return nil, err
	}
	domXML, err := dom.GetXMLDesc(libvirt.DOMAIN_XML_INACTIVE)
	if err != nil {
		return nil, &DomainError{Domain: domain, Err: err}
	}
	disks, err := DomainDisks(domXML)
	if err != nil {
		return nil, err
	}
	plain := make([]vfs.Disk, len(disks))
	for i, d := range disks {
		plain[i] = d.Disk
	}
	// The caller's options come last, so a launcher among them wins.
	opts = append([]appliance.Option{appliance.WithLauncher(Launcher{URI: uri})}, opts...)
	s, err := appliance.Open(ctx, plain, opts...)
	if err != nil {
		return nil, &DomainError{Domain: domain, Err: err}
	}
	return &DomainSession{Session: s, Disks: disks, conn: conn, domain: domain}, nil
}

// checkInactive returns a *DomainError wrapping ErrDomainActive when dom
// runs.
func checkInactive(dom *libvirt.Domain, domain string) error {
	active, err := dom.IsActive()
	if err != nil {
		return &DomainError{Domain: domain, Err: err}
	}
	if active {
		return &DomainError{Domain: domain, Err: ErrDomainActive}
	}
	return nil
}

// Commit writes the session's changes into the domain's images, as
// appliance.Session.Commit does, after checking that the domain is still
// shut off; if it is not, the changes are discarded and the error wraps
// ErrDomainActive.
func (s *DomainSession) Commit(ctx context.Context) error {
	dom, err := s.conn.LookupDomainByName(s.domain)
	if err == nil {
		err = checkInactive(dom, s.domain)
		dom.Free()
	} else {
		err = &DomainError{Domain: s.domain, Err: err}
	}
	if err != nil {
		s.Session.Close()
		return err
	}
	return s.Session.Commit(ctx)
}

// Close ends the session (discarding changes not committed) and releases
// the libvirt connection.
func (s *DomainSession) Close() error {
	err := s.Session.Close()
	s.closeConn.Do(func() { s.conn.Close() })
	return err
}
