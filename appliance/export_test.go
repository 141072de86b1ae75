package appliance

import (
	"context"
	"errors"
	"time"

	"github.com/guestinject/guestinject/internal/accel"
	"github.com/guestinject/guestinject/internal/qmp"
)

// WithAccelHost makes the KVM checks look at h instead of this host.
func WithAccelHost(h accel.Host) Option { return func(o *options) { o.accelHost = h } }

// WithProbeTimeout bounds a proving boot under KVM by d instead of
// accel.ProbeTimeout.
func WithProbeTimeout(d time.Duration) Option { return func(o *options) { o.probeTimeout = d } }

// WithoutLVMTools boots an appliance whose payload disk has no LVM
// tools, as on a host without lvm2.
func WithoutLVMTools() Option { return func(o *options) { o.withoutLVM = true } }

// SetAfterPlug makes every VM p hands out call f right after disk i's
// device_add, with the VM's monitor: benchmarks time the guest from there.
func SetAfterPlug(p *Pool, f func(ctx context.Context, mon *qmp.Monitor, i int)) { p.afterPlug = f }

// SetAfterExit makes s call f with its overlays' paths once its VM has
// exited during Commit, before they are checked: a test rewrites them
// there as a compromised VM could have.
func SetAfterExit(s *Session, f func(overlays []string)) { s.afterExit = f }

// SetReplaceDelay sets how long the replacement of a taken VM waits for
// its session to end.
func SetReplaceDelay(p *Pool, d time.Duration) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.replaceDelay = d
}

// PoolBooting is how many VMs p is booting.
func PoolBooting(p *Pool) int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.booting
}

// VMPid is the process id of the session's QEMU, 0 when it has none.
func VMPid(s *Session) int {
	if m, ok := s.machine.(*qemuMachine); ok {
		return m.cmd.Process.Pid
	}
	return 0
}

// BlockNodes lists the block nodes of a pooled session's VM, as QEMU
// reports them: what the VM has been handed.
func BlockNodes(ctx context.Context, s *Session) ([]string, error) {
	if s.pooled == nil {
		return nil, errors.New("not a pooled session")
	}
	var nodes []struct {
		NodeName string `json:"node-name"`
	}
	if err := s.monitor.Execute(ctx, "query-named-block-nodes", map[string]any{"flat": true}, &nodes); err != nil {
		return nil, err
	}
	var names []string
	for _, n := range nodes {
		names = append(names, n.NodeName)
	}
	return names, nil
}

// AttachAgain asks a pooled session's VM to take disks a second time.
func AttachAgain(ctx context.Context, s *Session) error {
	return s.attach(ctx, s.disks)
}

// WithPoolCmdline appends params to the kernel command line of a pool's
// VMs.
func WithPoolCmdline(params string) Option { return func(o *options) { o.extraCmdline = params } }

// InjectNMI sends the guest an NMI through the session's monitor.
func InjectNMI(ctx context.Context, s *Session) error {
	if s.monitor == nil {
		return errors.New("no monitor")
	}
	return s.monitor.Execute(ctx, "inject-nmi", nil, nil)
}

// LastLines is lastLines, for console tails in test failures.
var LastLines = lastLines

// HasMonitor reports whether the session holds QEMU's monitor.
func HasMonitor(s *Session) bool { return s.monitor != nil }

// ReadyVMPids lists the QEMU process ids of the VMs p holds ready.
func ReadyVMPids(p *Pool) []int {
	p.mu.Lock()
	defer p.mu.Unlock()
	var pids []int
	for _, s := range p.ready {
		pids = append(pids, VMPid(s))
	}
	return pids
}

// KernelCmdline is the kernel command line every appliance boots.
const KernelCmdline = applianceCmdline
