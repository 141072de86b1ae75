package appliance

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"time"

	"github.com/guestinject/guestinject/internal/accel"
	"github.com/guestinject/guestinject/internal/qmp"
	"github.com/guestinject/guestinject/internal/wire"
)

// bootAccelerated decides the accelerator, boots the VM under it and sets
// s.client once the agent has said hello. A proving boot under KVM that
// fails is recorded, and the same session boots again under TCG on fresh
// overlays.
func (s *Session) bootAccelerated(ctx context.Context, o options, kernel string, spec MachineSpec) (AcceleratorChoice, error) {
	mode := o.accel
	if mode == "" {
		var err error
		if mode, err = accel.ModeFromEnv(); err != nil {
			return AcceleratorChoice{}, fmt.Errorf("appliance: %w", err)
		}
	}
	in := accel.Inputs{Host: o.accelHost, CacheDir: o.cacheDir, Kernel: kernel, QEMU: emulatorPath(o.launcher), User: accelUser(&o)}
	dec, err := accel.Decide(mode, in)
	if err != nil {
		return AcceleratorChoice{}, fmt.Errorf("appliance: %w", err)
	}
	if dec.NeedsProof {
		// Sessions that start together wait for one proof.
		unlock, err := dec.Lock(ctx)
		if err != nil {
			return AcceleratorChoice{}, fmt.Errorf("appliance: %w", err)
		}
		defer unlock()
		if dec, err = accel.Decide(mode, in); err != nil {
			return AcceleratorChoice{}, fmt.Errorf("appliance: %w", err)
		}
	}
	choice := AcceleratorChoice{Name: dec.Accel, Reason: dec.Reason, Probed: dec.NeedsProof}
	s.log.Debug("appliance: accelerator", "name", choice.Name, "reason", choice.Reason, "probe", choice.Probed)
	spec.Accelerator = dec.Accel
	if !dec.NeedsProof {
		err := s.boot(ctx, o.launcher, spec, 0)
		if mode == AccelKVM {
			var ke *KVMError
			if errors.As(err, &ke) {
				return choice, fmt.Errorf("appliance: boot: %w", err)
			}
		}
		if err != nil {
			return choice, &BootError{Err: err, Console: s.console.String()}
		}
		return choice, nil
	}

	start := time.Now()
	err = s.boot(ctx, o.launcher, spec, cmp.Or(o.probeTimeout, accel.ProbeTimeout))
	var ke *KVMError
	if err == nil || !errors.As(err, &ke) {
		if err != nil {
			// Not KVM's fault (the caller's context, a launch error):
			// nothing is proven either way.
			return choice, &BootError{Err: err, Console: s.console.String()}
		}
		if rerr := dec.Record(nil); rerr != nil {
			s.log.Warn("appliance: keeping the accelerator verdict", "err", rerr)
		}
		choice.Reason = "KVM passed the host checks and booted the appliance"
		return choice, nil
	}
	if rerr := dec.Record(ke); rerr != nil {
		s.log.Warn("appliance: keeping the accelerator verdict", "err", rerr)
	}
	s.log.Warn("appliance: KVM cannot run the appliance, using TCG", "reason", ke.Reason, "probe", time.Since(start))
	if err := s.resetForRetry(spec); err != nil {
		return choice, err
	}
	spec.Console = s.console
	spec.Accelerator = "tcg"
	choice = AcceleratorChoice{Name: "tcg", Reason: "a boot under KVM failed: " + ke.Reason, Probed: true}
	if err := s.boot(ctx, o.launcher, spec, 0); err != nil {
		return choice, &BootError{Err: err, Console: s.console.String()}
	}
	return choice, nil
}

// boot launches one VM and waits for its agent's hello. Under KVM, a
// failure that is KVM's — QEMU's report of it on the console, a VM that
// stops or exits before the hello, no hello within kvmDeadline (when not
// 0) — is a *KVMError.
func (s *Session) boot(ctx context.Context, l Launcher, spec MachineSpec, kvmDeadline time.Duration) error {
	underKVM := spec.Accelerator == "kvm"
	bootCtx := ctx
	if kvmDeadline > 0 {
		var cancel context.CancelFunc
		bootCtx, cancel = context.WithTimeout(ctx, kvmDeadline)
		defer cancel()
	}
	// The socket file goes with the session directory.
	ln, err := listenUnix(spec.AgentSocket)
	if err != nil {
		return fmt.Errorf("appliance: %w", err)
	}
	defer ln.Close()

	var monitor *net.UnixConn
	if _, direct := l.(QEMU); direct || spec.HotplugSlots > 0 {
		// The VM's monitor is the far end of a socket pair: a pooled
		// VM's disks come through it, and every session stops QEMU
		// through it once the guest has unmounted (Commit).
		var qemuEnd *os.File
		if monitor, qemuEnd, err = qmp.Pair(); err != nil {
			return fmt.Errorf("appliance: %w", err)
		}
		defer qemuEnd.Close()
		defer func() {
			if s.monitor == nil {
				monitor.Close()
			}
		}()
		spec.Monitor = qemuEnd
	}
	s.exited = make(chan struct{})
	m, err := l.Launch(bootCtx, spec)
	if err != nil {
		close(s.exited)
		return err
	}
	s.machine = m
	exited := s.exited
	go func() {
		s.exitErr = m.Wait(context.Background())
		close(exited)
	}()
	kvmErr := func(err error) error {
		if !underKVM || ctx.Err() != nil {
			return err
		}
		reason := ""
		switch {
		case s.console.failure() != "":
			reason = "QEMU reported: " + s.console.failure()
		case bootCtx.Err() != nil:
			reason = fmt.Sprintf("the agent did not answer within %v", kvmDeadline)
		default:
			select {
			case <-exited:
				reason = fmt.Sprintf("the VM exited before its agent answered (%v)", s.exitErr)
			default:
				return err
			}
		}
		// QEMU goes on printing its register dump after the failure
		// line: let it finish, then end the VM, which is dead to us.
		s.console.settle(200*time.Millisecond, 2*time.Second)
		s.killVM()
		return &KVMError{Reason: reason, Console: lastLines(s.console.String(), 15)}
	}

	conn, err := s.accept(bootCtx, ln)
	if err != nil {
		return kvmErr(err)
	}
	ln.Close() // exactly one connection
	s.log.Debug("appliance: agent connected")

	// The client does not take a context; a VM that exits, KVM's failure
	// or a context that ends must still unblock the hello. Once the hello
	// is over the connection is the session's: bootCtx ends when Open
	// returns, and nothing may close the connection then.
	helloCtx, endHello := context.WithCancel(bootCtx)
	defer endHello()
	kvmFailed := s.console.kvmFailed // a retry replaces the console
	go func() {
		select {
		case <-kvmFailed:
		case <-exited:
		case <-helloCtx.Done():
		}
		endHello()
	}()
	stop := context.AfterFunc(helloCtx, func() { conn.Close() })
	client, err := wire.NewClient(bootCtx, conn)
	if !stop() && err == nil {
		// The hello was answered as the connection was being closed.
		client.Close()
		err = fmt.Errorf("agent connection closed at the hello: %w", cmp.Or(bootCtx.Err(), errors.New("the VM exited or KVM failed")))
	}
	if err != nil {
		return kvmErr(err)
	}
	s.client = client
	if monitor != nil {
		// QEMU has greeted on the monitor since it started; the
		// negotiation waits for nothing in the guest.
		mon, err := qmp.Connect(bootCtx, monitor)
		if err != nil {
			return fmt.Errorf("appliance: QEMU's monitor: %w", err)
		}
		s.monitor = mon
	}
	if spec.HotplugSlots > 0 {
		s.pooled = &pooledVM{bootedAt: time.Now()}
	}
	return nil
}

// resetForRetry kills a VM that failed its proving boot and gives the
// session fresh overlays and a fresh console for the next one: the failed
// VM may have written to the overlays, and its console's failure line
// must not end the next boot.
func (s *Session) resetForRetry(spec MachineSpec) error {
	s.killVM()
	s.machine = nil
	s.console = newConsoleTail(consoleMax, s.console.log)
	for _, d := range s.disks {
		if err := os.Remove(d.overlay); err != nil && !errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("appliance: %w", err)
		}
		if err := createOverlay(d.overlay, d.size); err != nil {
			return err
		}
	}
	return os.Remove(spec.AgentSocket)
}
