package appliance

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"golang.org/x/sys/unix"

	"github.com/guestinject/guestinject/imagecheck"

	"github.com/guestinject/guestinject/internal/guestabi"
	"github.com/guestinject/guestinject/internal/ownerdir"
	"github.com/guestinject/guestinject/internal/pkgproxy"
	"github.com/guestinject/guestinject/internal/qmp"
	"github.com/guestinject/guestinject/internal/wire"
	"github.com/guestinject/guestinject/vfs"
)

// ErrImageReferences means an image's header names another file (a
// backing file or a data file), which the appliance never opens.
var ErrImageReferences = errors.New("image refers to another file")

// BootError is a failure to bring the appliance up, with the tail of its
// console.
type BootError struct {
	Err     error
	Console string
}

func (e *BootError) Error() string {
	return fmt.Sprintf("appliance: boot: %v\nconsole tail:\n%s", e.Err, lastLines(e.Console, 15))
}

func (e *BootError) Unwrap() error { return e.Err }

func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// consoleMax bounds the console tail kept in memory.
const consoleMax = 64 << 10

// Session is a running appliance serving the guest filesystem found on
// its disks. It implements vfs.FS, vfs.XattrFS, vfs.SymlinkFS, vfs.RenameFS,
// vfs.TimesFS, vfs.LstatManyFS (one round trip for many Lstats) and
// vfs.CommandFS (the guest's own commands, run in the VM). Changes go to
// private overlays: Commit writes them into
// the images, Close without Commit throws them away.
type Session struct {
	client  *wire.Client
	machine Machine
	exited  chan struct{} // closed when the VM has exited
	exitErr error         // set before exited closes
	dir     string        // private directory: overlays, socket
	dirLock *ownerdir.Dir // held while dir exists
	disks   []sessionDisk
	console *consoleTail
	log     *slog.Logger
	qemuImg string
	policy  imagecheck.Policy

	inspection Inspection // what the agent found, fixed at Open
	accel      AcceleratorChoice
	kernel     Kernel

	opTimeout, commitTimeout time.Duration
	overlayLimit             int64

	mu           sync.Mutex
	ended        bool // committed or closed
	teardownOnce sync.Once

	// monitor is QEMU's monitor when the direct launcher started the VM
	// (a private socket pair, see internal/qmp); nil otherwise.
	monitor *qmp.Monitor
	pooled  *pooledVM // set for a VM booted without disks (see Pool)
	// onEnd, set by the Pool that opened the session, runs once at its
	// teardown.
	onEnd func()
	// afterExit, a test hook, sees the overlays once the VM has exited
	// and before Commit checks them: what a compromised VM could have
	// written by then.
	afterExit func(overlays []string)

	proxyStop func() // ends the package proxy (WithPackageNetwork)
}

type sessionDisk struct {
	vfs.Disk
	abs, overlay string
	size         int64            // virtual size, the overlay's too
	info         *imagecheck.Info // what Open's check found
}

var (
	_ vfs.Session     = (*Session)(nil)
	_ vfs.XattrFS     = (*Session)(nil)
	_ vfs.SymlinkFS   = (*Session)(nil)
	_ vfs.RenameFS    = (*Session)(nil)
	_ vfs.TimesFS     = (*Session)(nil)
	_ vfs.LstatManyFS = (*Session)(nil)
)

// Open boots an appliance VM on disks and returns once its agent has
// answered a first call. The context bounds the boot only; each later
// call takes its own. On any error nothing is left behind: no process,
// no socket, no temporary file, and the images are unchanged.
func Open(ctx context.Context, disks []vfs.Disk, opts ...Option) (_ *Session, err error) {
	o := options{memoryMiB: DefaultMemoryMiB, bootTimeout: DefaultBootTimeout, operationTimeout: DefaultOperationTimeout,
		commitTimeout: DefaultCommitTimeout, qemuImg: "qemu-img", policy: imagecheck.DefaultPolicy()}
	for _, opt := range opts {
		opt(&o)
	}
	if o.launcher == nil {
		o.launcher = QEMU{}
	}
	log := o.log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if len(disks) == 0 {
		return nil, errors.New("appliance: no disks")
	}
	var proxy *pkgproxy.Proxy
	if o.packageNetwork != nil {
		if len(o.packageNetwork.Mirrors) == 0 {
			return nil, fmt.Errorf("appliance: %w: no mirrors", ErrPackageNetwork)
		}
		if proxy, err = pkgproxy.New(o.packageNetwork.Mirrors); err != nil {
			return nil, fmt.Errorf("appliance: %w", err)
		}
	}
	var rootParam string
	if o.root != nil {
		name, err := rootName(*o.root, len(disks))
		if err != nil {
			return nil, err
		}
		rootParam = name.Param()
	}
	// Every image is checked before anything else happens: a refused one
	// costs no initramfs, no session directory and no VM.
	checked := make([]sessionDisk, len(disks))
	for i, d := range disks {
		if checked[i], err = checkDisk(ctx, d, o.policy); err != nil {
			return nil, err
		}
	}
	start := time.Now()
	app, kernel, err := buildAppliance(ctx, o)
	if err != nil {
		return nil, err
	}
	log.Debug("appliance: initramfs ready", "kernel", app.Kernel, "own", kernel.Own, "initramfs", app.Initramfs, "took", time.Since(start))

	ctx, cancel := context.WithTimeout(ctx, o.bootTimeout)
	defer cancel()
	s, err := newSession(ctx, o, log)
	if err != nil {
		return nil, err
	}
	dir := s.dir
	defer func() {
		if err != nil {
			s.teardown()
		}
	}()

	spec := MachineSpec{
		Kernel: app.Kernel, KernelELF: app.KernelELF, Initramfs: app.Initramfs, Payload: app.Payload,
		MemoryMiB:   o.memoryMiB,
		Cmdline:     applianceCmdline,
		AgentSocket: filepath.Join(dir, "agent.sock"), PortName: guestabi.PortName, Console: s.console,
		Dir: dir, RunAs: o.runAs,
	}
	if log.Enabled(ctx, slog.LevelDebug) {
		spec.Cmdline += " " + guestabi.DebugParam + "=" + guestabi.DebugOn
	}
	if rootParam != "" {
		spec.Cmdline += " " + rootParam
	}
	if proxy != nil {
		guestEnd, err := s.servePackageProxy(proxy)
		if err != nil {
			return nil, err
		}
		defer guestEnd.Close()
		spec.PackageProxy = guestEnd
		spec.Cmdline += " " + guestabi.NetworkParam + "=" + guestabi.NetworkOn
	}
	for i, sd := range checked {
		sd.overlay = filepath.Join(s.dir, fmt.Sprintf("overlay%d.qcow2", i))
		if err := createOverlay(sd.overlay, sd.size); err != nil {
			return nil, err
		}
		s.disks = append(s.disks, sd)
		spec.Disks = append(spec.Disks, MachineDisk{Overlay: sd.overlay, Base: sd.abs, BaseFormat: sd.Format, Serial: guestabi.DiskSerial(i, sd.ReadOnly)})
	}

	s.kernel = kernel
	if s.accel, err = s.bootAccelerated(ctx, o, app.Kernel, spec); err != nil {
		return nil, err
	}
	if err := s.inspect(ctx, len(disks)); err != nil {
		return nil, err
	}
	log.Debug("appliance: ready", "took", time.Since(start))
	return s, nil
}

// applianceCmdline is the kernel command line every appliance boots
// with, before the parameters of guestabi. noreplace-smp: with its one
// CPU the kernel would otherwise rewrite thousands of lock prefixes at
// boot, a costly code patch each under emulation (0.2-0.3 s of a boot).
const applianceCmdline = "console=ttyS0 quiet panic=-1 noreplace-smp no_timer_check tsc=reliable cryptomgr.notests 8250.nr_uarts=1 i8042.noaux i8042.nomux i8042.nopnp"

// inspect makes the session's first call, which tells what the agent
// found on its n disks and whether it has a root.
func (s *Session) inspect(ctx context.Context, n int) error {
	client := s.client
	// The client does not take a context; a VM that exits or a ctx that
	// ends must still unblock the calls of Open.
	stop := context.AfterFunc(ctx, func() { client.Close() })
	defer stop()
	bootErr := func(err error) error {
		if ctx.Err() != nil {
			err = fmt.Errorf("%w (%v)", ctx.Err(), err)
		}
		return &BootError{Err: err, Console: s.console.String()}
	}
	report, err := client.Inspect(ctx)
	if err != nil {
		return bootErr(err)
	}
	if s.inspection, err = inspectionFrom(report, n); err != nil {
		if re := (*RootError)(nil); errors.As(err, &re) {
			return err
		}
		return bootErr(err)
	}
	if !stop() {
		return bootErr(ctx.Err())
	}
	return nil
}

// checkDisk checks disk d: a format the appliance attaches, a name QEMU
// opens as that file (imagecheck.CheckName: the session hands QEMU an
// absolute name, but the caller's own spelling must mean the same file to
// QEMU too, so that "nbd:host:port" is never quietly taken for a file in
// the working directory), a regular file, and imagecheck's verdict under
// policy. The overlay is made later.
func checkDisk(ctx context.Context, d vfs.Disk, policy imagecheck.Policy) (sessionDisk, error) {
	if err := d.Format.Declared(); err != nil {
		return sessionDisk{}, &fs.PathError{Op: "open", Path: d.Path, Err: fmt.Errorf("%w: %w", vfs.ErrUnsupportedFormat, err)}
	}
	if d.Format != imagecheck.Raw && d.Format != imagecheck.QCOW2 {
		return sessionDisk{}, &fs.PathError{Op: "open", Path: d.Path, Err: fmt.Errorf("%w: %q (want raw or qcow2)", vfs.ErrUnsupportedFormat, d.Format)}
	}
	if err := imagecheck.CheckName(d.Path, d.Format); err != nil {
		return sessionDisk{}, fmt.Errorf("appliance: %w", err)
	}
	abs, err := filepath.Abs(d.Path)
	if err != nil {
		return sessionDisk{}, fmt.Errorf("appliance: %w", err)
	}
	fi, err := os.Stat(abs)
	if err != nil {
		return sessionDisk{}, fmt.Errorf("appliance: %w", err)
	}
	if !fi.Mode().IsRegular() {
		return sessionDisk{}, &fs.PathError{Op: "open", Path: abs, Err: errors.New("not a regular file")}
	}
	info, err := checkImage(ctx, abs, d.Format, policy)
	if err != nil {
		return sessionDisk{}, err
	}
	return sessionDisk{Disk: d, abs: abs, size: info.VirtualSize, info: info}, nil
}

// checkImage checks the image with imagecheck under policy — format
// declared and confirmed by content, no backing or data file, size
// bounded. qemu-img never parses an unchecked header.
func checkImage(ctx context.Context, path string, format imagecheck.Format, policy imagecheck.Policy) (*imagecheck.Info, error) {
	info, err := imagecheck.CheckFile(ctx, path, format, policy)
	if err != nil {
		var rej *imagecheck.RejectionError
		if errors.As(err, &rej) && (errors.Is(err, imagecheck.ReasonBackingFile) || errors.Is(err, imagecheck.ReasonDataFile)) {
			return nil, &fs.PathError{Op: "open", Path: path, Err: fmt.Errorf("%w: %w", ErrImageReferences, err)}
		}
		return nil, fmt.Errorf("appliance: %w", err)
	}
	if info.VirtualSize <= 0 {
		return nil, fmt.Errorf("appliance: %s: bad virtual size %d", path, info.VirtualSize)
	}
	return info, nil
}

// ImageInfo returns what Open's check of each disk found, in the order of
// Open's list: the check runs once per image, before anything else reads
// it, so callers need not check again.
func (s *Session) ImageInfo() []*imagecheck.Info {
	infos := make([]*imagecheck.Info, len(s.disks))
	for i, d := range s.disks {
		infos[i] = d.info
	}
	return infos
}

// accept waits for the VM to connect, for it to exit, or for ctx.
func (s *Session) accept(ctx context.Context, ln *net.UnixListener) (net.Conn, error) {
	type result struct {
		c   net.Conn
		err error
	}
	ch := make(chan result, 1)
	go func() {
		c, err := ln.Accept()
		ch <- result{c, err}
	}()
	select {
	case r := <-ch:
		return r.c, r.err
	case <-s.exited:
		ln.Close()
		if r := <-ch; r.c != nil {
			r.c.Close()
		}
		return nil, fmt.Errorf("VM exited before its agent connected: %v", s.exitErr)
	case <-s.console.kvmFailed:
		ln.Close()
		if r := <-ch; r.c != nil {
			r.c.Close()
		}
		return nil, errors.New("KVM failed: " + s.console.failure())
	case <-ctx.Done():
		ln.Close()
		if r := <-ch; r.c != nil {
			r.c.Close()
		}
		return nil, ctx.Err()
	}
}

// teardown kills the VM, drops the connection and removes every file.
// It runs once; later calls return at once.
func (s *Session) teardown() {
	s.teardownOnce.Do(func() {
		s.killVM()
		if s.client != nil {
			s.client.Close()
		}
		if s.onEnd != nil {
			s.onEnd()
		}
		if s.monitor != nil {
			s.monitor.Close()
		}
		if s.proxyStop != nil {
			s.proxyStop()
		}
		if err := os.RemoveAll(s.dir); err != nil {
			s.log.Warn("appliance: removing the session directory", "dir", s.dir, "err", err)
		}
		s.dirLock.Unlock()
	})
}

// servePackageProxy serves proxy on the host end of a new socket pair
// until teardown, and returns the end the VM gets.
func (s *Session) servePackageProxy(proxy *pkgproxy.Proxy) (*os.File, error) {
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("appliance: package proxy: %w", err)
	}
	// Non-blocking, so that Go's poller serves it and Close ends a Read.
	if err := unix.SetNonblock(fds[0], true); err != nil {
		unix.Close(fds[0])
		unix.Close(fds[1])
		return nil, fmt.Errorf("appliance: package proxy: %w", err)
	}
	hostEnd := os.NewFile(uintptr(fds[0]), "package-proxy")
	guestEnd := os.NewFile(uintptr(fds[1]), "package-proxy-vm")
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		err := proxy.ServeStream(ctx, hostEnd)
		if err != nil && ctx.Err() == nil {
			s.log.Warn("appliance: package proxy stopped", "err", err)
			// The stream stays read, so that QEMU never blocks writing
			// to it; the guest gets no more answers.
			io.Copy(io.Discard, hostEnd)
		}
		if r := proxy.Refusals(); len(r) > 0 {
			s.log.Info("appliance: package proxy refused requests", "requests", r)
		}
	}()
	s.proxyStop = func() {
		cancel()
		hostEnd.Close()
		<-done
		proxy.Close()
	}
	return guestEnd, nil
}

// killVM stops the VM and returns once it is gone. A call blocked on the
// agent then fails at once.
func (s *Session) killVM() {
	if s.machine != nil {
		s.machine.Kill()
		<-s.exited
	}
}

// Commit makes the agent flush and unmount the guest filesystems and power
// off, checks each writable disk's overlay — what the VM wrote is as
// untrusted as the image — and merges it into its image, and ends the
// session. If anything fails before the merge, including an overlay that
// fails its check, the images are unchanged. With several writable disks,
// a failure during the merge can leave some merged and not others, and a
// merge that is cut short (ctx, the commit timeout) leaves its image
// partly written. A ctx without a deadline gets the commit timeout (see
// WithCommitTimeout).
func (s *Session) Commit(ctx context.Context) (err error) {
	s.mu.Lock()
	if s.ended {
		s.mu.Unlock()
		return &fs.PathError{Op: "commit", Path: "/", Err: vfs.ErrClosed}
	}
	s.ended = true
	s.mu.Unlock()
	defer s.teardown()
	ctx, w := s.guard(ctx, s.commitTimeout)
	defer w.release()
	done := w.arm("commit", "/")
	defer func() { err = done(err) }()

	if err := s.client.Shutdown(ctx); err != nil {
		return fmt.Errorf("appliance: commit: %w%s", err, s.consoleNote())
	}
	if s.monitor != nil {
		// The filesystems are unmounted: QEMU may stop at once, closing
		// the overlays as a power-off would, without waiting for the
		// guest kernel's way down. An error means QEMU is gone or going.
		_ = s.monitor.Execute(ctx, "quit", nil, nil)
	}
	// Hanging up tells the agent the answer arrived; it powers off.
	s.client.Close()
	select {
	case <-s.exited:
	case <-ctx.Done():
		return fmt.Errorf("appliance: commit: waiting for the VM to power off: %w", ctx.Err())
	}
	if s.exitErr != nil {
		return fmt.Errorf("appliance: commit: %w%s", s.exitErr, s.consoleNote())
	}
	if s.afterExit != nil {
		var overlays []string
		for _, d := range s.disks {
			overlays = append(overlays, d.overlay)
		}
		s.afterExit(overlays)
	}
	if err := s.checkOverlayLimit(); err != nil {
		return err
	}
	// Every overlay is checked before any is merged.
	overlays := make([]*os.File, len(s.disks))
	defer func() {
		for _, f := range overlays {
			if f != nil {
				f.Close()
			}
		}
	}()
	for i, d := range s.disks {
		if d.ReadOnly {
			continue
		}
		if overlays[i], err = checkOverlay(ctx, d, s.policy); err != nil {
			return err
		}
	}
	for i, d := range s.disks {
		if d.ReadOnly {
			continue
		}
		if err := s.merge(ctx, d, overlays[i]); err != nil {
			return fmt.Errorf("appliance: commit %s: %w", d.abs, err)
		}
		s.log.Debug("appliance: committed", "image", d.abs)
	}
	return nil
}

// commitSpec names the overlay and its base explicitly, so qemu-img reads
// no file name or format from any header. overlay is the name qemu-img
// opens the overlay by.
func commitSpec(d sessionDisk, overlay string) string {
	base := map[string]any{"driver": d.Format, "file": map[string]any{"driver": "file", "filename": d.abs}}
	if d.Format == imagecheck.QCOW2 {
		base["backing"] = nil
	}
	j, _ := json.Marshal(map[string]any{"driver": "qcow2", "file": map[string]any{"driver": "file", "filename": overlay}, "backing": base})
	return "json:" + string(j)
}

func (s *Session) consoleNote() string {
	return "\nconsole tail:\n" + lastLines(s.console.String(), 15)
}

// Close ends the session without Commit: the VM is killed and the
// overlays deleted, so the images are unchanged. Close after Commit does
// nothing.
func (s *Session) Close() error {
	s.mu.Lock()
	if s.ended {
		s.mu.Unlock()
		return nil
	}
	s.ended = true
	s.mu.Unlock()
	s.teardown()
	return nil
}

// Console returns the tail of the VM's serial console, for diagnostics.
func (s *Session) Console() string { return s.console.String() }

// The vfs methods forward to the wire client through callValue and call,
// which apply the operation timeout; Open keeps its watchdog for the file.

// Stat implements vfs.FS.
func (s *Session) Stat(ctx context.Context, name string) (fs.FileInfo, error) {
	return callValue(s, ctx, "stat", name, func(ctx context.Context) (fs.FileInfo, error) { return s.client.Stat(ctx, name) })
}

// Lstat implements vfs.FS.
func (s *Session) Lstat(ctx context.Context, name string) (fs.FileInfo, error) {
	return callValue(s, ctx, "lstat", name, func(ctx context.Context) (fs.FileInfo, error) { return s.client.Lstat(ctx, name) })
}

// LstatMany implements vfs.LstatManyFS: one round trip to the VM for
// every name.
func (s *Session) LstatMany(ctx context.Context, names []string) ([]vfs.LstatResult, error) {
	name := "/"
	if len(names) > 0 {
		name = names[0]
	}
	return callValue(s, ctx, "lstat", name, func(ctx context.Context) ([]vfs.LstatResult, error) { return s.client.LstatMany(ctx, names) })
}

// Readlink implements vfs.FS.
func (s *Session) Readlink(ctx context.Context, name string) (string, error) {
	return callValue(s, ctx, "readlink", name, func(ctx context.Context) (string, error) { return s.client.Readlink(ctx, name) })
}

// ReadDir implements vfs.FS.
func (s *Session) ReadDir(ctx context.Context, name string) ([]fs.DirEntry, error) {
	return callValue(s, ctx, "readdir", name, func(ctx context.Context) ([]fs.DirEntry, error) { return s.client.ReadDir(ctx, name) })
}

// Open implements vfs.FS.
// Without a deadline in ctx, the operation timeout applies to the Open
// and to each later call on the file.
func (s *Session) Open(ctx context.Context, name string) (vfs.File, error) {
	ctx, w := s.guard(ctx, s.opTimeout)
	done := w.arm("open", name)
	f, err := s.client.Open(ctx, name)
	if err = done(err); err != nil {
		w.release()
		return nil, err
	}
	if w == nil {
		return f, nil
	}
	return &guardedFile{File: f, w: w, name: name}, nil
}

// MkdirAll implements vfs.FS.
func (s *Session) MkdirAll(ctx context.Context, name string, perm fs.FileMode) error {
	return call(s, ctx, "mkdirall", name, func(ctx context.Context) error { return s.client.MkdirAll(ctx, name, perm) })
}

// WriteFile implements vfs.FS.
func (s *Session) WriteFile(ctx context.Context, name string, r io.Reader, opts vfs.WriteOptions) error {
	return call(s, ctx, "writefile", name, func(ctx context.Context) error { return s.client.WriteFile(ctx, name, r, opts) })
}

// Chmod implements vfs.FS.
func (s *Session) Chmod(ctx context.Context, name string, mode fs.FileMode) error {
	return call(s, ctx, "chmod", name, func(ctx context.Context) error { return s.client.Chmod(ctx, name, mode) })
}

// Lchown implements vfs.FS.
func (s *Session) Lchown(ctx context.Context, name string, uid, gid int) error {
	return call(s, ctx, "lchown", name, func(ctx context.Context) error { return s.client.Lchown(ctx, name, uid, gid) })
}

// Remove implements vfs.FS.
func (s *Session) Remove(ctx context.Context, name string) error {
	return call(s, ctx, "remove", name, func(ctx context.Context) error { return s.client.Remove(ctx, name) })
}

// Lgetxattr implements vfs.XattrFS.
func (s *Session) Lgetxattr(ctx context.Context, name, attr string) ([]byte, error) {
	return callValue(s, ctx, "lgetxattr", name, func(ctx context.Context) ([]byte, error) { return s.client.Lgetxattr(ctx, name, attr) })
}

// Lsetxattr implements vfs.XattrFS.
func (s *Session) Lsetxattr(ctx context.Context, name, attr string, value []byte) error {
	return call(s, ctx, "lsetxattr", name, func(ctx context.Context) error { return s.client.Lsetxattr(ctx, name, attr, value) })
}

// Llistxattr implements vfs.XattrFS.
func (s *Session) Llistxattr(ctx context.Context, name string) ([]string, error) {
	return callValue(s, ctx, "llistxattr", name, func(ctx context.Context) ([]string, error) { return s.client.Llistxattr(ctx, name) })
}

// Symlink implements vfs.SymlinkFS.
func (s *Session) Symlink(ctx context.Context, target, name string) error {
	return call(s, ctx, "symlink", name, func(ctx context.Context) error { return s.client.Symlink(ctx, target, name) })
}

// Rename implements vfs.RenameFS.
func (s *Session) Rename(ctx context.Context, oldname, newname string) error {
	return call(s, ctx, "rename", oldname, func(ctx context.Context) error { return s.client.Rename(ctx, oldname, newname) })
}

// Lchtimes implements vfs.TimesFS.
func (s *Session) Lchtimes(ctx context.Context, name string, atime, mtime time.Time) error {
	return call(s, ctx, "lchtimes", name, func(ctx context.Context) error { return s.client.Lchtimes(ctx, name, atime, mtime) })
}

// Sync asks the agent to flush the guest filesystems into the overlays.
func (s *Session) Sync(ctx context.Context) error {
	return call(s, ctx, "sync", "/", s.client.Sync)
}

// newSession removes the directories dead sessions left, makes this
// session's, and gives the session o's settings.
func newSession(ctx context.Context, o options, log *slog.Logger) (*Session, error) {
	if err := sweepSessions(ctx, os.TempDir(), log); err != nil {
		log.Warn("appliance: cleaning up after dead sessions", "err", err)
	}
	od, err := ownerdir.Create(os.TempDir(), sessionPrefix)
	if err != nil {
		return nil, fmt.Errorf("appliance: %w", err)
	}
	s := &Session{dir: od.Path, dirLock: od, console: newConsoleTail(consoleMax, o.log), log: log, onEnd: o.onEnd}
	s.setOptions(o)
	return s, nil
}

// setOptions takes the settings of o that belong to the session rather
// than to its VM, so that a pooled VM, booted before the session's options
// were known, gets them as a booted one does.
func (s *Session) setOptions(o options) {
	s.qemuImg, s.policy, s.opTimeout, s.commitTimeout, s.overlayLimit = o.qemuImg, o.policy, o.operationTimeout, o.commitTimeout, o.overlayLimit
}
