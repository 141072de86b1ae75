package appliance

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"time"

	"golang.org/x/sys/unix"

	"github.com/guestinject/guestinject/imagecheck"
	"github.com/guestinject/guestinject/internal/guestabi"
	"github.com/guestinject/guestinject/internal/qmp"
	"github.com/guestinject/guestinject/vfs"
)

// ErrPoolLauncher means a pool was asked of a launcher that cannot
// hot-plug disks. Only the direct QEMU launcher can: libvirt's
// attach-device would name the images by path for libvirtd to open, and
// its QMP monitor belongs to libvirtd.
var ErrPoolLauncher = errors.New("only the direct QEMU launcher boots VMs for a pool")

// ErrPoolClosed is returned by Open on a closed Pool.
var ErrPoolClosed = errors.New("appliance: pool closed")

// Pool defaults.
const (
	// DefaultPoolMaxDisks is how many disks a pooled VM can take
	// (WithPoolMaxDisks); a session with more boots cold.
	DefaultPoolMaxDisks = 4
	// DefaultPoolMaxIdle is how long a pooled VM waits for its disks
	// (WithPoolMaxIdle) before its agent powers it off and the pool
	// boots another.
	DefaultPoolMaxIdle = time.Hour
)

// poolIdleMargin is how long before its agent gives up a pooled VM is no
// longer handed out.
const poolIdleMargin = 30 * time.Second

// poolReplaceDelay bounds how long the replacement of a VM taken by a
// session waits for that session to end. On a host with few cores a boot
// under emulation takes a whole core, and starting it while the session
// it replaces runs slowed a pooled injection by a fifth on two cores; a
// session that runs longer than this gets its replacement anyway.
const poolReplaceDelay = time.Second

// WithPoolMaxDisks sets how many disks a pooled VM can take, one empty
// PCIe root port each (default DefaultPoolMaxDisks). Only NewPool reads
// it.
func WithPoolMaxDisks(n int) Option { return func(o *options) { o.poolMaxDisks = n } }

// WithPoolMaxIdle bounds how long a pooled VM waits for its disks
// (default DefaultPoolMaxIdle): its agent powers it off after that, and
// the pool hands out no VM within half a minute of it. Only NewPool reads
// it.
func WithPoolMaxIdle(d time.Duration) Option { return func(o *options) { o.poolMaxIdle = d } }

// Pool keeps appliance VMs booted to the point where their agent waits
// for disks, so that opening a session costs a hot-plug instead of a
// boot. Each VM serves one session and is destroyed with it: a VM that
// has seen one image never sees another. Its methods are safe for
// concurrent use.
type Pool struct {
	opts []Option
	o    options
	size int
	log  *slog.Logger

	ctx    context.Context // ends with Close; bounds the boots
	cancel context.CancelFunc
	wg     sync.WaitGroup

	mu      sync.Mutex
	ready   []*Session
	booting int
	// owed counts the VMs taken whose replacement has not started: it
	// starts when the session ends or poolReplaceDelay after the take.
	owed int
	// running counts the sessions Open returned, on a pooled VM or a VM
	// of their own, that have not ended: a VM booted while none runs
	// warms up (guestabi.WarmUpParam), one booted while they use the
	// CPU does not.
	running int
	closed  bool
	// replaceDelay is poolReplaceDelay, but for tests.
	replaceDelay time.Duration
	changed      chan struct{} // closed and replaced when ready or booting change
	lastErr      error         // of the last boot that failed

	afterPlug func(ctx context.Context, mon *qmp.Monitor, i int) // handed to each VM taken; nil
}

// NewPool starts size VMs booting in the background, each with the
// options opts (the kernel, memory, launcher, user and accelerator of
// Open, and WithPoolMaxDisks, WithPoolMaxIdle), and returns once the
// initramfs is built; ctx bounds that build. The caller bounds memory by
// size times WithMemory. Each VM boots on its own: its own QEMU process,
// kernel random state and address layout, no memory shared with another.
// The launcher must be the direct QEMU launcher (ErrPoolLauncher).
func NewPool(ctx context.Context, size int, opts ...Option) (*Pool, error) {
	if size < 1 {
		return nil, fmt.Errorf("appliance: pool size %d", size)
	}
	o := defaultOptions()
	for _, opt := range opts {
		opt(&o)
	}
	if o.launcher == nil {
		o.launcher = QEMU{}
	}
	if o.packageNetwork != nil {
		return nil, fmt.Errorf("appliance: %w: a pool's VMs have none (WithPackageNetwork is for Open)", ErrPackageNetwork)
	}
	if q, ok := o.launcher.(QEMU); !ok || (q.Machine != "" && q.Machine != "q35") {
		return nil, fmt.Errorf("appliance: %w", ErrPoolLauncher)
	}
	if o.poolMaxDisks < 1 || o.poolMaxDisks > guestabi.MaxHotplugDisks {
		return nil, fmt.Errorf("appliance: pool of VMs for %d disks (want 1..%d)", o.poolMaxDisks, guestabi.MaxHotplugDisks)
	}
	if o.poolMaxIdle < 2*poolIdleMargin {
		return nil, fmt.Errorf("appliance: pool idle time %v is below %v", o.poolMaxIdle, 2*poolIdleMargin)
	}
	if _, _, err := buildAppliance(ctx, o); err != nil {
		return nil, err
	}
	pctx, cancel := context.WithCancel(context.Background())
	p := &Pool{opts: opts, o: o, size: size, log: o.logger(), ctx: pctx, cancel: cancel, changed: make(chan struct{}),
		replaceDelay: poolReplaceDelay}
	p.mu.Lock()
	p.refillLocked()
	p.mu.Unlock()
	return p, nil
}

// Ready returns how many VMs wait for a session.
func (p *Pool) Ready() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.ready)
}

// Wait returns once every VM of the pool is ready, or with the error of
// a boot that failed meanwhile, or ctx's.
func (p *Pool) Wait(ctx context.Context) error {
	for {
		p.mu.Lock()
		n, booting, ch, err, closed := len(p.ready), p.booting, p.changed, p.lastErr, p.closed
		p.mu.Unlock()
		switch {
		case closed:
			return ErrPoolClosed
		case n >= p.size:
			return nil
		case booting == 0 && err != nil:
			return err
		case booting == 0:
			// A caller who waits wants the replacements now.
			p.mu.Lock()
			p.owed = 0
			p.refillLocked()
			p.mu.Unlock()
			continue
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// Open opens a session on disks as the package's Open does, with the
// pool's options followed by opts, on a ready VM of the pool: its disks
// are hot-plugged, and its agent inspects them and serves as after a
// boot. The Session is the same, with the same Commit and Close; after
// either, the VM is gone. The pool boots a replacement in the background
// once the session ends, or a second after Open took the VM if it runs
// longer, so that the replacement's boot does not slow the session on a
// host with few cores (Wait starts it at once). When no VM is ready, or the session needs what a pooled
// VM cannot give (WithRoot, more disks than WithPoolMaxDisks, another
// launcher, memory or kernel), Open boots one as the package's Open does
// and never waits for the pool.
func (p *Pool) Open(ctx context.Context, disks []vfs.Disk, opts ...Option) (*Session, error) {
	all := append(append([]Option(nil), p.opts...), opts...)
	o := defaultOptions()
	for _, opt := range all {
		opt(&o)
	}
	if o.launcher == nil {
		o.launcher = QEMU{}
	}
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return nil, ErrPoolClosed
	}
	p.mu.Unlock()
	if len(disks) == 0 {
		return nil, errors.New("appliance: no disks")
	}
	if !p.fits(o, len(disks)) {
		return p.openCold(ctx, disks, all)
	}
	// Every image is checked before a VM is taken: a refused one costs
	// the pool nothing.
	checked := make([]sessionDisk, len(disks))
	for i, d := range disks {
		var err error
		if checked[i], err = checkDisk(ctx, d, o.policy); err != nil {
			return nil, err
		}
	}
	s := p.take()
	if s == nil {
		p.log.Debug("appliance: pool empty, booting")
		return p.openCold(ctx, disks, all)
	}
	s.setOptions(o)
	s.pooled.afterPlug = p.afterPlug
	if o.log != nil {
		s.log = o.log
	}
	ctx, cancel := context.WithTimeout(ctx, o.bootTimeout)
	defer cancel()
	start := time.Now()
	if err := s.attach(ctx, checked); err != nil {
		s.teardown()
		return nil, err
	}
	if err := s.inspect(ctx, len(disks)); err != nil {
		s.teardown()
		return nil, err
	}
	s.log.Debug("appliance: pooled VM ready", "took", time.Since(start))
	return s, nil
}

// openCold opens a session on a VM of its own, counted as running while
// it lasts: the session has the end hook from its start, as a watcher may
// tear it down before Open returns.
func (p *Pool) openCold(ctx context.Context, disks []vfs.Disk, opts []Option) (*Session, error) {
	p.mu.Lock()
	p.running++
	p.mu.Unlock()
	end := sync.OnceFunc(p.sessionEnded)
	s, err := Open(ctx, disks, append(slices.Clone(opts), func(o *options) { o.onEnd = end })...)
	if err != nil {
		end()
		return nil, err
	}
	return s, nil
}

// sessionEnded counts a session of the pool's as ended.
func (p *Pool) sessionEnded() {
	p.mu.Lock()
	p.running--
	p.mu.Unlock()
}

// fits reports whether a pooled VM can serve a session of n disks with
// options o: everything that shapes the VM must be the pool's.
func (p *Pool) fits(o options, n int) bool {
	po := p.o
	q, ok := o.launcher.(QEMU)
	pq := po.launcher.(QEMU)
	sameUser := (o.runAs == nil) == (po.runAs == nil) && (o.runAs == nil || *o.runAs == *po.runAs)
	return ok && q == pq && sameUser && o.root == nil && n <= po.poolMaxDisks && o.kernel == po.kernel && o.agent == po.agent &&
		o.cacheDir == po.cacheDir && o.memoryMiB == po.memoryMiB && o.withoutLVM == po.withoutLVM && o.accel == po.accel
}

// take removes a ready VM from the pool, or returns nil. A VM that
// exited or is near the end of its idle time is dropped and replaced at
// once; the one taken is replaced when its session ends (its teardown)
// or poolReplaceDelay later, whichever comes first.
func (p *Pool) take() *Session {
	p.mu.Lock()
	defer p.mu.Unlock()
	defer p.refillLocked()
	for len(p.ready) > 0 {
		s := p.ready[0]
		p.ready = p.ready[1:]
		p.notifyLocked()
		select {
		case <-s.exited:
			go s.teardown()
			continue
		default:
		}
		if time.Since(s.pooled.bootedAt) > p.o.poolMaxIdle-poolIdleMargin {
			go s.teardown()
			continue
		}
		p.owed++
		p.running++
		var once sync.Once
		replace := func() {
			once.Do(func() {
				p.mu.Lock()
				defer p.mu.Unlock()
				if p.owed > 0 {
					p.owed--
				}
				p.refillLocked()
			})
		}
		s.onEnd = func() {
			p.sessionEnded()
			replace()
		}
		time.AfterFunc(p.replaceDelay, replace)
		return s
	}
	return nil
}

func (p *Pool) notifyLocked() {
	close(p.changed)
	p.changed = make(chan struct{})
}

// refillLocked starts boots until ready and booting VMs, and the
// replacements owed, make the pool's size. A pooled VM that exits while it waits (its idle time is over) is
// dropped and replaced.
func (p *Pool) refillLocked() {
	for !p.closed && len(p.ready)+p.booting+p.owed < p.size {
		p.booting++
		p.notifyLocked()
		p.wg.Add(1)
		warm := p.running == 0
		go func() {
			defer p.wg.Done()
			s, err := bootPooled(p.ctx, p.o, warm)
			p.mu.Lock()
			defer p.mu.Unlock()
			p.booting--
			p.notifyLocked()
			if err != nil {
				// No retry until the next Open or Wait: a boot that
				// fails would fail again in a loop.
				p.lastErr = err
				if p.ctx.Err() == nil {
					p.log.Warn("appliance: booting a pooled VM", "err", err)
				}
				return
			}
			if p.closed {
				go s.teardown()
				return
			}
			p.lastErr = nil
			p.ready = append(p.ready, s)
			p.wg.Add(1)
			go func() {
				defer p.wg.Done()
				p.watch(s)
			}()
		}()
	}
}

// watch drops s from the ready list if its VM exits while it waits.
func (p *Pool) watch(s *Session) {
	select {
	case <-s.exited:
	case <-p.ctx.Done():
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	for i, r := range p.ready {
		if r == s {
			p.ready = append(p.ready[:i], p.ready[i+1:]...)
			p.notifyLocked()
			go s.teardown()
			p.refillLocked()
			return
		}
	}
}

// Close stops every VM of the pool, ready or booting, and returns once
// they are gone. Sessions already opened from the pool are the caller's
// and stay open. Close is idempotent.
func (p *Pool) Close() error {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return nil
	}
	p.closed = true
	ready := p.ready
	p.ready = nil
	p.notifyLocked()
	p.mu.Unlock()
	p.cancel()
	for _, s := range ready {
		s.teardown()
	}
	p.wg.Wait()
	return nil
}

// pooledVM is what a Session booted for a pool has besides a cold one;
// its disks are hot-plugged through the session's monitor.
type pooledVM struct {
	bootedAt time.Time
	slots    int

	mu       sync.Mutex
	attached bool

	afterPlug func(ctx context.Context, mon *qmp.Monitor, i int) // a benchmark's probe; nil
}

// bootPooled boots a VM with no disk and room for o.poolMaxDisks, and
// returns once its agent waits for them, having warmed up first if warm.
func bootPooled(ctx context.Context, o options, warm bool) (_ *Session, err error) {
	log := o.logger()
	app, kernel, err := buildAppliance(ctx, o)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(ctx, o.bootTimeout)
	defer cancel()
	s, err := newSession(ctx, o, log)
	if err != nil {
		return nil, err
	}
	defer func() {
		if err != nil {
			s.teardown()
		}
	}()
	spec := MachineSpec{
		Kernel: app.Kernel, KernelELF: app.KernelELF, Initramfs: app.Initramfs, Payload: app.Payload,
		MemoryMiB:   o.memoryMiB,
		Cmdline:     applianceCmdline + " " + guestabi.HotplugParamFor(o.poolMaxIdle),
		AgentSocket: filepath.Join(s.dir, "agent.sock"), PortName: guestabi.PortName, Console: s.console,
		Dir: s.dir, RunAs: o.runAs, HotplugSlots: o.poolMaxDisks,
	}
	if warm {
		spec.Cmdline += " " + guestabi.WarmUpParam + "=" + guestabi.WarmUpOn
	}
	if log.Enabled(ctx, slog.LevelDebug) {
		spec.Cmdline += " " + guestabi.DebugParam + "=" + guestabi.DebugOn
	}
	if o.extraCmdline != "" {
		spec.Cmdline += " " + o.extraCmdline
	}
	s.kernel = kernel
	if s.accel, err = s.bootAccelerated(ctx, o, app.Kernel, spec); err != nil {
		return nil, err
	}
	s.pooled.slots = o.poolMaxDisks
	return s, nil
}

// errSecondImage is a pooled VM asked to take disks a second time.
var errSecondImage = errors.New("appliance: a pooled VM takes disks once")

// attach hot-plugs checked into the pooled VM s, each on a fresh private
// overlay; the agent, which said hello at boot, waits for all of them
// before it answers again. A pooled VM takes disks once: attach fails on a
// second call.
func (s *Session) attach(ctx context.Context, checked []sessionDisk) error {
	v := s.pooled
	if v == nil {
		return errSecondImage
	}
	v.mu.Lock()
	again := v.attached
	v.attached = true
	v.mu.Unlock()
	if again {
		return errSecondImage
	}
	if len(checked) > v.slots {
		return fmt.Errorf("appliance: %d disks for a pooled VM with room for %d", len(checked), v.slots)
	}
	for i, sd := range checked {
		sd.overlay = filepath.Join(s.dir, fmt.Sprintf("overlay%d.qcow2", i))
		if err := createOverlay(sd.overlay, sd.size); err != nil {
			return err
		}
		s.disks = append(s.disks, sd)
	}
	bootErr := func(err error) error {
		if ctx.Err() != nil {
			err = fmt.Errorf("%w (%v)", ctx.Err(), err)
		}
		return &BootError{Err: err, Console: s.console.String()}
	}
	for i, d := range s.disks {
		if err := s.plug(ctx, i, len(s.disks), d); err != nil {
			return bootErr(err)
		}
		if v.afterPlug != nil {
			v.afterPlug(ctx, s.monitor, i)
		}
	}
	return nil
}

// plug hot-plugs disk i of n: both files are opened here and passed to
// QEMU as descriptors in fd sets (the image read-only, and only that
// way), the block nodes are those of a boot (diskNodes), and the device
// carries the serial that tells the agent which disk of how many it is.
func (s *Session) plug(ctx context.Context, i, n int, d sessionDisk) error {
	mon := s.monitor
	addFD := func(path string, flag, set int, opaque string) (string, error) {
		f, err := os.OpenFile(path, flag|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
		if err != nil {
			return "", fmt.Errorf("appliance: %w", err)
		}
		defer f.Close() // QEMU holds its own copy
		if err := mon.Execute(ctx, "add-fd", map[string]any{"fdset-id": set, "opaque": opaque}, nil, f); err != nil {
			return "", err
		}
		return fmt.Sprintf("/dev/fdset/%d", set), nil
	}
	base, err := addFD(d.abs, os.O_RDONLY, 2*i+1, baseNode(i))
	if err != nil {
		return err
	}
	overlay, err := addFD(d.overlay, os.O_RDWR, 2*i+2, fmt.Sprintf("overlay%d", i))
	if err != nil {
		return err
	}
	nodes, err := diskNodes(i, d.Format, base, overlay)
	if err != nil {
		return err
	}
	for _, node := range nodes {
		if err := mon.Execute(ctx, "blockdev-add", node, nil); err != nil {
			return err
		}
	}
	return mon.Execute(ctx, "device_add", map[string]any{
		"driver": "virtio-blk-pci", "id": fmt.Sprintf("vd%d", i), "bus": HotplugBus(i),
		"drive": diskNode(i), "serial": guestabi.HotplugDiskSerial(i, n, d.ReadOnly),
	}, nil)
}

// defaultOptions are Open's options before any Option.
func defaultOptions() options {
	return options{memoryMiB: DefaultMemoryMiB, bootTimeout: DefaultBootTimeout, operationTimeout: DefaultOperationTimeout,
		commitTimeout: DefaultCommitTimeout, qemuImg: "qemu-img", policy: imagecheck.DefaultPolicy(),
		poolMaxDisks: DefaultPoolMaxDisks, poolMaxIdle: DefaultPoolMaxIdle}
}

func (o *options) logger() *slog.Logger {
	if o.log == nil {
		return slog.New(slog.DiscardHandler)
	}
	return o.log
}

// Pooled reports whether s runs on a VM of a Pool, booted before its
// disks were known, rather than on a VM booted for it.
func (s *Session) Pooled() bool { return s.pooled != nil }
