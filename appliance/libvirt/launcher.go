package libvirt

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"sync"
	"time"

	"libvirt.org/go/libvirt"

	"github.com/guestinject/guestinject/appliance"
	"github.com/guestinject/guestinject/internal/firmware"
)

// DefaultURI returns the connection URI a Launcher with no URI uses:
// qemu:///system for root, qemu:///session for anyone else.
func DefaultURI() string {
	if os.Geteuid() == 0 {
		return "qemu:///system"
	}
	return "qemu:///session"
}

// ErrDestroyed is what Wait returns for a VM ended by Kill.
var ErrDestroyed = errors.New("appliance/libvirt: domain destroyed")

// Launcher starts appliance VMs as transient libvirt domains, so they get
// the confinement libvirt gives every guest on the host (its QEMU user,
// sVirt labels, cgroups) and show up in its tooling while they run.
// Each VM has a connection of its own and is started with autodestroy:
// if this process dies or the connection drops, libvirtd destroys it.
//
// The domain boots the way the direct launcher (appliance.QEMU) boots,
// for the same reasons under TCG: a q35 machine, the "maximum" CPU model
// (its RDRAND seeds the guest's random pool at once), qboot as firmware
// when QEMU ships it, and the uncompressed PVH kernel when the session
// has one (appliance.MachineSpec.KernelELF).
type Launcher struct {
	// URI is the libvirt connection URI; "" means DefaultURI().
	URI string
	// Firmware is the BIOS image, given to the domain as a read-only
	// <loader type='rom'>: "" means QEMU's qboot.rom when it is
	// installed, else libvirt's default (SeaBIOS), and "default" always
	// libvirt's default.
	Firmware string
}

var _ appliance.Launcher = Launcher{}

// pollInterval is how often a running domain's state is read. Reading it
// costs a local RPC; a coarser interval only delays noticing the exit.
const pollInterval = 25 * time.Millisecond

// Launch implements appliance.Launcher. spec.Dir is required: the console
// log is written there.
func (l Launcher) Launch(ctx context.Context, spec appliance.MachineSpec) (_ appliance.Machine, err error) {
	if spec.Dir == "" {
		return nil, errors.New("appliance/libvirt: MachineSpec.Dir is empty")
	}
	if spec.Monitor != nil || spec.HotplugSlots > 0 {
		return nil, fmt.Errorf("appliance/libvirt: %w", appliance.ErrPoolLauncher)
	}
	if spec.PackageProxy != nil {
		return nil, fmt.Errorf("appliance/libvirt: %w: it needs the QEMU launcher", appliance.ErrPackageNetwork)
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	uri := l.URI
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
	capsXML, err := conn.GetCapabilities()
	if err != nil {
		return nil, fmt.Errorf("appliance/libvirt: %w", err)
	}
	host, err := parseCaps(capsXML, spec.Accelerator)
	if err != nil {
		return nil, fmt.Errorf("appliance/libvirt: %w", err)
	}
	domCapsXML, err := conn.GetDomainCapabilities("", "x86_64", machineType, host.domainType, 0)
	if err != nil {
		return nil, fmt.Errorf("appliance/libvirt: %w", err)
	}
	if err := host.parseDomainCaps(domCapsXML); err != nil {
		return nil, fmt.Errorf("appliance/libvirt: %w", err)
	}
	boot, err := stageBootFiles(spec, host)
	if err != nil {
		return nil, err
	}
	boot.firmware = firmware.Path(l.Firmware)
	name, err := domainName()
	if err != nil {
		return nil, err
	}
	def, err := buildDomain(name, spec, boot, host)
	if err != nil {
		return nil, fmt.Errorf("appliance/libvirt: %w", err)
	}
	domXML, err := def.Marshal()
	if err != nil {
		return nil, fmt.Errorf("appliance/libvirt: %w", err)
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	dom, err := conn.DomainCreateXML(domXML, libvirt.DOMAIN_START_AUTODESTROY)
	if err != nil {
		return nil, fmt.Errorf("appliance/libvirt: starting domain: %w", err)
	}
	m := &machine{conn: conn, dom: dom, name: name, done: make(chan struct{})}
	go m.watch(boot.consoleLog, spec.Console)
	if err := ctx.Err(); err != nil {
		m.Kill()
		return nil, err
	}
	return m, nil
}

// domainName is unique per VM, and says whose VM it is in virsh list.
func domainName() (string, error) {
	var b [8]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", fmt.Errorf("appliance/libvirt: %w", err)
	}
	return "guestinject-" + hex.EncodeToString(b[:]), nil
}

// machine is a running transient domain. Its watcher owns the connection
// and closes it once the domain is gone.
type machine struct {
	name string
	done chan struct{}
	err  error // why the VM ended, set before done closes

	mu        sync.Mutex // guards conn, dom and destroyed
	conn      *libvirt.Connect
	dom       *libvirt.Domain
	destroyed bool
}

// watch follows the domain until it is gone, copying its console log to
// console meanwhile, then releases the connection.
func (m *machine) watch(consoleLog string, console io.Writer) {
	tail := newLogTail(consoleLog, console)
	var lastState libvirt.DomainState
	var failures int
	for {
		tail.drain()
		m.mu.Lock()
		state, reason, err := m.dom.GetState()
		if err == nil && state == libvirt.DOMAIN_PAUSED && !m.destroyed {
			// Nothing here pauses the appliance: QEMU stopped it, as it
			// does when KVM fails to run the guest. It would wait forever.
			m.err = fmt.Errorf("appliance/libvirt: domain %s paused by the hypervisor (reason %d), as KVM failures stop a VM", m.name, reason)
			m.destroyed = true
			_ = m.dom.Destroy()
		}
		m.mu.Unlock()
		if err != nil {
			var lverr libvirt.Error
			if errors.As(err, &lverr) && lverr.Code == libvirt.ERR_NO_DOMAIN {
				break // a transient domain vanishes once it stops
			}
			if failures++; failures >= 3 {
				m.err = fmt.Errorf("appliance/libvirt: lost track of domain %s: %w", m.name, err)
				break
			}
		} else {
			failures = 0
			lastState = state
			if state == libvirt.DOMAIN_SHUTOFF {
				break
			}
		}
		time.Sleep(pollInterval)
	}
	tail.drain()
	tail.close()

	m.mu.Lock()
	if m.err == nil {
		switch {
		case m.destroyed:
			m.err = ErrDestroyed
		case lastState == libvirt.DOMAIN_CRASHED:
			m.err = fmt.Errorf("appliance/libvirt: domain %s crashed", m.name)
		}
	}
	m.dom.Free()
	// Closing the connection also ends the domain, through autodestroy,
	// if it is somehow still there.
	m.conn.Close()
	m.dom, m.conn = nil, nil
	m.mu.Unlock()
	close(m.done)
}

// Wait implements appliance.Machine.
func (m *machine) Wait(ctx context.Context) error {
	select {
	case <-m.done:
		return m.err
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Kill implements appliance.Machine.
func (m *machine) Kill() error {
	m.mu.Lock()
	if m.dom != nil && !m.destroyed {
		m.destroyed = true
		// An error means the domain is already gone or going; the
		// watcher sees it either way.
		_ = m.dom.Destroy()
	}
	m.mu.Unlock()
	<-m.done
	return nil
}
