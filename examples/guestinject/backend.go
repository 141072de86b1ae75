package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"time"

	"github.com/guestinject/guestinject"
	"github.com/guestinject/guestinject/appliance"
	"github.com/guestinject/guestinject/imagecheck"
	"github.com/guestinject/guestinject/internal/bytesize"
	"github.com/guestinject/guestinject/internal/pkgproxy"
	"github.com/guestinject/guestinject/mount"
	"github.com/guestinject/guestinject/vfs"
)

// Backend names.
const (
	backendAppliance = "appliance"
	backendLibvirt   = "libvirt"
	backendMount     = "mount"
)

// backendArgs choose how the guest filesystem is opened.
type backendArgs struct {
	name    string
	connect string
	domain  string
	trusted bool
	root    rootFlag
	accel   string
	// maxOverlay bounds the appliance's overlays (WithOverlayLimit).
	maxOverlay sizeFlag
	// packageMirrors opt into the package network (WithPackageNetwork).
	packageMirrors listFlag
	// used is the accelerator the appliance ran under, once opened.
	used *appliance.AcceleratorChoice
}

func (b *backendArgs) register(fs *flag.FlagSet) {
	fs.StringVar(&b.name, "backend", backendAppliance, "how to open the guest: appliance (a throwaway QEMU VM), libvirt (the appliance VM started by libvirt) or mount (the host kernel mounts the image: trusted images only, needs --trusted and root)")
	fs.StringVar(&b.connect, "connect", "", "libvirt connection `URI` for --backend libvirt (default qemu:///system)")
	fs.StringVar(&b.domain, "domain", "", "with --backend libvirt: the domain `NAME` to attach the appliance to")
	fs.BoolVar(&b.trusted, "trusted", false, "with --backend mount: accept that the host kernel parses the image's filesystem")
	fs.Var(&b.root, "root", rootSpecHelp)
	fs.Var(&b.maxOverlay, "max-overlay", "with the appliance: bound the host disk space of each disk's scratch overlay to `S` ("+bytesize.Units+"); a guest command that writes more is stopped and the image left unchanged (default: the disk's size)")
	fs.StringVar(&b.accel, "accel", "", "the appliance's accelerator: auto (KVM once a boot proves it works here, else TCG), kvm (fail when KVM cannot work) or tcg (default $GUESTINJECT_ACCEL, else auto)")
}

// registerPackageNetwork adds --package-mirror, for the commands that run
// the guest's package manager.
func (b *backendArgs) registerPackageNetwork(fs *flag.FlagSet) {
	fs.Var(&b.packageMirrors, "package-mirror", "give the appliance VM the package network, reaching only the http:// mirror `URL` (repeatable) through a proxy in this process: QEMU's user network with no outbound connection of its own, off by default since it widens what the guest can reach (QEMU's network stack, the proxy, the mirrors)")
}

func (b *backendArgs) validate() error {
	for _, m := range b.packageMirrors {
		if _, err := pkgproxy.MirrorAddr(m); err != nil {
			return usagef("--package-mirror: %v", err)
		}
	}
	if len(b.packageMirrors) > 0 && b.name != backendAppliance {
		return usagef("--package-mirror gives the QEMU appliance a network; --backend %s cannot have it", b.name)
	}
	if _, err := appliance.ParseAccelerator(b.accel); err != nil {
		return usagef("--accel: %v", err)
	}
	if b.maxOverlay.bytes != 0 && b.name == backendMount {
		return usagef("--max-overlay bounds the appliance's overlays; --backend mount boots no VM")
	}
	if b.accel != "" && b.name == backendMount {
		return usagef("--accel chooses the appliance's accelerator; --backend mount boots no VM")
	}
	switch b.name {
	case backendAppliance, backendMount:
		if b.connect != "" || b.domain != "" {
			return usagef("--connect and --domain need --backend libvirt")
		}
		if b.name == backendMount && !b.trusted {
			return usagef("--backend mount makes the host kernel parse the image's filesystem; add --trusted if you built the image yourself, or use the appliance")
		}
		if b.name == backendMount {
			if err := b.checkMountRoot(); err != nil {
				return err
			}
		}
	case backendLibvirt:
	default:
		return usagef("--backend %q: want appliance, libvirt or mount", b.name)
	}
	return nil
}

// checkMountRoot refuses a --root the host mount cannot select: it opens
// one image and selects by partition, label or UUID, not a whole disk or
// an LVM logical volume.
func (b *backendArgs) checkMountRoot() error {
	if b.root.root == nil {
		return nil
	}
	if err := mount.CheckRoot(*b.root.root); err != nil {
		return usagef("--root %s with --backend mount: %v", b.root.spec, err)
	}
	return nil
}

// applianceOptions are the appliance options every appliance backend
// shares.
func (b *backendArgs) applianceOptions(t target, log *slog.Logger) []appliance.Option {
	opts := []appliance.Option{appliance.WithPolicy(t.policy), appliance.WithLogger(log)}
	if b.accel != "" {
		a, _ := appliance.ParseAccelerator(b.accel) // checked by validate
		opts = append(opts, appliance.WithAccelerator(a))
	}
	if b.root.root != nil {
		opts = append(opts, appliance.WithRoot(*b.root.root))
	}
	if b.maxOverlay.bytes != 0 {
		opts = append(opts, appliance.WithOverlayLimit(b.maxOverlay.bytes))
	}
	if len(b.packageMirrors) > 0 {
		opts = append(opts, appliance.WithPackageNetwork(appliance.PackageNetwork{Mirrors: b.packageMirrors}))
	}
	return opts
}

// target is the image a command opens.
type target struct {
	path     string
	format   imagecheck.Format
	readOnly bool
	policy   imagecheck.Policy
}

func (t target) disk() vfs.Disk {
	return vfs.Disk{Path: t.path, Format: t.format, ReadOnly: t.readOnly}
}

// openSession opens the guest for withGuest; tests replace it to run a
// command against an in-memory guest.
var openSession = openGuest

// openGuest opens t through the chosen backend.
func openGuest(ctx context.Context, b backendArgs, t target, log *slog.Logger) (vfs.Session, error) {
	if b.domain != "" {
		return openDomain(ctx, b, b.applianceOptions(t, log))
	}
	backend, err := b.backend(t, log)
	if err != nil {
		return nil, err
	}
	return backend.OpenSession(ctx, []vfs.Disk{t.disk()})
}

// backend is the guestinject.Backend the flags choose.
func (b *backendArgs) backend(t target, log *slog.Logger) (guestinject.Backend, error) {
	switch b.name {
	case backendMount:
		opts := []mount.OpenOption{mount.WithPolicy(t.policy), mount.WithLogger(log)}
		if b.root.root != nil {
			opts = append(opts, mount.WithRoot(*b.root.root))
		}
		return guestinject.TrustedHostMount(opts...), nil
	case backendLibvirt:
		l, err := libvirtLauncher(b.connect)
		if err != nil {
			return nil, err
		}
		return guestinject.Appliance(append(b.applianceOptions(t, log), appliance.WithLauncher(l))...), nil
	}
	return guestinject.Appliance(b.applianceOptions(t, log)...), nil
}

// progress reports the steps that take time on standard error.
type progress struct {
	w io.Writer // nil when quiet
}

// step announces what and returns a function that reports its duration.
func (p progress) step(what string) func() {
	if p.w == nil {
		return func() {}
	}
	start := time.Now()
	fmt.Fprintf(p.w, "guestinject: %s...\n", what)
	return func() {
		fmt.Fprintf(p.w, "guestinject: %s: done in %s\n", what, roundDuration(time.Since(start)))
	}
}

func newProgress(a *imageArgs, stderr io.Writer) progress {
	if a.quiet {
		return progress{}
	}
	return progress{w: stderr}
}

// newLogger logs to stderr with --verbose and nowhere otherwise.
func newLogger(a *imageArgs, stderr io.Writer) *slog.Logger {
	if !a.verbose {
		return slog.New(slog.DiscardHandler)
	}
	return slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

// openingStep describes what opening the guest involves, for progress:
// the backend checks the image once, then opens it.
func openingStep(backend string, t target) string {
	open := "booting the appliance (the first run also builds it)"
	if backend == backendMount {
		open = "mounting the image on the host"
	}
	if t.path == "" { // a libvirt domain's disks
		return open
	}
	return fmt.Sprintf("checking %s as %s, then %s", t.path, t.format, open)
}

// withGuest opens the image (the backend checks it first) and runs fn on
// the guest. With
// commit, the changes are kept when fn succeeds; otherwise, or when fn
// fails, they are discarded and the image is unchanged.
func withGuest(ctx context.Context, a *imageArgs, t target, stderr io.Writer, fn func(ctx context.Context, g vfs.Session) error, commit bool) error {
	if err := a.backend.validate(); err != nil {
		return err
	}
	prog := newProgress(a, stderr)
	done := prog.step(openingStep(a.backend.name, t))
	g, err := openSession(ctx, a.backend, t, newLogger(a, stderr))
	if err != nil {
		return err
	}
	defer g.Close()
	done()
	if s, ok := g.(interface {
		Accelerator() appliance.AcceleratorChoice
		Kernel() appliance.Kernel
	}); ok {
		c := s.Accelerator()
		a.backend.used = &c
		if a.verbose {
			fmt.Fprintf(stderr, "guestinject: appliance under %s: %s\n", c.Name, c.Reason)
			k := s.Kernel()
			fmt.Fprintf(stderr, "guestinject: appliance kernel %s (%s)\n", k.Version, k.Path)
		}
	}
	if err := fn(ctx, g); err != nil {
		if commit {
			return fmt.Errorf("%w (the image is unchanged)", err)
		}
		return err
	}
	if !commit {
		return nil
	}
	done = prog.step("committing the changes into " + t.path)
	if err := g.Commit(ctx); err != nil {
		return fmt.Errorf("commit: %w", err)
	}
	done()
	return nil
}

// roundDuration keeps two or three significant digits: 4ms, 210ms, 2.41s.
func roundDuration(d time.Duration) time.Duration {
	switch {
	case d < 10*time.Millisecond:
		return d.Round(100 * time.Microsecond)
	case d < time.Second:
		return d.Round(time.Millisecond)
	}
	return d.Round(10 * time.Millisecond)
}

// positionalNames are the arguments a command takes: IMAGE first, unless
// the guest is a libvirt domain named by --domain.
func (b *backendArgs) positionalNames(rest ...string) []string {
	if b.domain != "" {
		return rest
	}
	return append([]string{"IMAGE"}, rest...)
}

// resolveTarget reads IMAGE from the positional arguments and the declared
// format; with --domain both come from the domain's definition.
func (a *imageArgs) resolveTarget(cmd string, pos []string, readOnly bool, rest ...string) (target, []string, error) {
	if err := wantPositional(cmd, pos, a.backend.positionalNames(rest...)...); err != nil {
		return target{}, nil, err
	}
	t := target{readOnly: readOnly, policy: a.policy()}
	if a.backend.domain != "" {
		if a.backend.name != backendLibvirt {
			return target{}, nil, usagef("--domain needs --backend libvirt")
		}
		if a.format != "" {
			return target{}, nil, usagef("--format is taken from the domain's definition with --domain")
		}
		return t, pos, nil
	}
	f, err := a.declared()
	if err != nil {
		return target{}, nil, err
	}
	if r := a.backend.root.root; r != nil && r.Volume != nil && r.Volume.Disk != 0 {
		return target{}, nil, usagef("--root %s: the image is disk 0", a.backend.root.spec)
	}
	t.path, t.format = pos[0], f
	return t, pos[1:], nil
}

// acceleratorName is "kvm" or "tcg" once an appliance ran, else "".
func (b *backendArgs) acceleratorName() string {
	if b.used == nil {
		return ""
	}
	return b.used.Name
}
