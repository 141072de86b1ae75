package inject

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/guestinject/guestinject/vfs"
)

// SELinuxRelabel says how the files an injection writes get their SELinux
// labels on a guest with an SELinux policy.
type SELinuxRelabel int

const (
	// RelabelChanged, the default, labels the files and directories the
	// plan creates when the guest has SELinux enabled (enforcing or
	// permissive): at once with the guest's own setfiles when the backend
	// runs the guest's commands (the appliance) and the guest has
	// setfiles, otherwise at the guest's first boot. Replaced files keep
	// their labels; what a guest command creates is not tracked (ask for
	// RelabelAll).
	RelabelChanged SELinuxRelabel = iota
	// RelabelAll relabels the whole guest filesystem at once, as
	// virt-customize --selinux-relabel does, on a guest with a policy
	// whatever its SELINUX= mode, or at its first boot (/.autorelabel)
	// when that cannot be done now.
	RelabelAll
	// RelabelNone labels nothing, now or at first boot.
	RelabelNone
)

// Guest paths and bounds of the relabelling.
const (
	selinuxDir = "/etc/selinux"
	// maxRelabelArgs bounds the bytes of paths one setfiles run takes;
	// more paths make more runs.
	maxRelabelArgs = 256 << 10
	// relabelAllTimeout bounds a relabel of the whole filesystem, which
	// takes minutes on a large guest under emulation; a relabel of the
	// created paths has vfs.Command's default.
	relabelAllTimeout = 30 * time.Minute
)

// setfilesPaths are where the guest's setfiles is looked for.
var setfilesPaths = []string{"/usr/sbin/setfiles", "/sbin/setfiles"}

var policyName = regexp.MustCompile(`^[A-Za-z0-9._-]{1,64}$`)

// selinuxGuest is what the guest's /etc/selinux/config says.
type selinuxGuest struct {
	// mode is SELINUX= in lower case; policy is SELINUXTYPE=.
	mode, policy string
	// fileContexts is the policy's file_contexts, "" when the guest has
	// none; setfiles is the guest's setfiles, "" when it has none.
	fileContexts, setfiles string
}

// enabled says the guest labels files at run time.
func (g selinuxGuest) enabled() bool { return g.mode == "enforcing" || g.mode == "permissive" }

// readSELinux reads the guest's SELinux configuration; a guest without
// /etc/selinux/config has the zero value.
func (p *planner) readSELinux(ctx context.Context) (selinuxGuest, error) {
	var g selinuxGuest
	data, err := p.readEtc(ctx, selinuxConfig)
	if err != nil {
		return g, itemErr(singleItem(FieldSELinux), selinuxConfig, err)
	}
	for line := range strings.Lines(string(data)) {
		key, v, ok := strings.Cut(strings.TrimSpace(line), "=")
		v = strings.Trim(strings.TrimSpace(v), `"'`)
		switch {
		case !ok:
		case key == "SELINUX":
			g.mode = strings.ToLower(v)
		case key == "SELINUXTYPE":
			g.policy = v
		}
	}
	if !policyName.MatchString(g.policy) || g.policy == "." || g.policy == ".." {
		return g, nil
	}
	fc := selinuxDir + "/" + g.policy + "/contexts/files/file_contexts"
	if info, err := p.fsys.Stat(ctx, fc); err == nil && info.Mode().IsRegular() {
		g.fileContexts = fc
	}
	for _, name := range setfilesPaths {
		if info, err := p.fsys.Stat(ctx, name); err == nil && info.Mode().IsRegular() {
			g.setfiles = name
			break
		}
	}
	return g, nil
}

// canRelabelNow says the guest's setfiles can label files during Apply:
// the backend runs the guest's commands and the guest has a policy's
// file_contexts, setfiles and a /bin/sh to run it.
func (p *planner) canRelabelNow(ctx context.Context, g selinuxGuest) bool {
	if _, ok := p.guest.(vfs.CommandFS); !ok || g.fileContexts == "" || g.setfiles == "" {
		return false
	}
	info, err := p.fsys.Stat(ctx, guestShell)
	return err == nil && info.Mode().IsRegular()
}

// decideSELinux decides, once the first-boot changes are about to be
// planned, whether the relabel happens now (p.relabelNow) and returns the
// paths left to the first boot's restorecon, or all for a first-boot
// relabel of the whole filesystem.
func (p *planner) decideSELinux(ctx context.Context, spec *Spec) (paths []string, all bool, err error) {
	if spec.SELinux == RelabelNone {
		return nil, false, nil
	}
	if spec.SELinux != RelabelChanged && spec.SELinux != RelabelAll {
		return nil, false, itemErrf(singleItem(FieldSELinux), "", ErrInvalidSpec, "unknown relabel mode %d", spec.SELinux)
	}
	g, err := p.readSELinux(ctx)
	if err != nil {
		return nil, false, err
	}
	p.selinux = g
	if spec.SELinux == RelabelAll {
		if g.policy == "" && g.mode == "" {
			return nil, false, nil // no SELinux in this guest
		}
		p.relabelNow = p.canRelabelNow(ctx, g)
		return nil, !p.relabelNow, nil
	}
	if !g.enabled() {
		return nil, false, nil
	}
	paths, err = p.relabelPaths(ctx)
	if err != nil || len(paths) == 0 {
		return nil, false, err
	}
	p.relabelNow = p.canRelabelNow(ctx, g)
	if p.relabelNow {
		return nil, false, nil
	}
	return paths, false, nil
}

// planSELinux adds the relabelling decided by decideSELinux to run now,
// last, so that it covers every file the plan created, the first-boot
// machinery included.
func (p *planner) planSELinux(ctx context.Context, spec *Spec) error {
	if !p.relabelNow {
		return nil
	}
	item := singleItem(FieldSELinux)
	if spec.SELinux == RelabelAll {
		return p.addRelabel(item, []string{"/"}, "whole filesystem", relabelAllTimeout)
	}
	paths, err := p.relabelPaths(ctx)
	if err != nil {
		return err
	}
	// Only the topmost of nested paths: setfiles descends into
	// directories.
	slices.Sort(paths)
	var top []string
	for _, name := range paths {
		if n := len(top); n > 0 && (top[n-1] == "/" || strings.HasPrefix(name, top[n-1]+"/")) {
			continue
		}
		top = append(top, name)
	}
	for len(top) > 0 {
		n, size := 0, 0
		for n < len(top) && (n == 0 || size+len(shellQuote(top[n]))+1 <= maxRelabelArgs) {
			size += len(shellQuote(top[n])) + 1
			n++
		}
		if err := p.addRelabel(item, top[:n], fmt.Sprintf("%d created paths", n), 0); err != nil {
			return err
		}
		top = top[n:]
	}
	return nil
}

// addRelabel adds one setfiles run on paths; timeout 0 is vfs.Command's
// default.
func (p *planner) addRelabel(item Item, paths []string, what string, timeout time.Duration) error {
	detail := fmt.Sprintf("relabelled now with the guest's %s (%s policy): %s", p.selinux.setfiles, p.selinux.policy, what)
	cmd, err := vfs.Command{Script: []byte(setfilesScript(p.selinux.setfiles, p.selinux.fileContexts, paths)), Timeout: timeout}.WithDefaults()
	if err != nil {
		return itemErr(item, "/", fmt.Errorf("%w: %w", ErrInvalidSpec, err))
	}
	p.add(step{op: opRelabel, command: cmd, change: Change{Item: item, Path: "/", Action: ActionRun, Detail: detail}})
	return nil
}

// setfilesScript runs the guest's setfiles as libguestfs's selinux-relabel
// does: the whole context forced (-F), the API filesystems left out, -m
// where setfiles has it (without it, as no filesystem is mounted with
// seclabel where no policy is loaded, every mount point would be left
// out) and -C where it has it (status 1 then means relabelling errors
// only, which the output shows, rather than a fatal error). The kernel
// that runs it has no policy loaded, so the labels are written as the
// policy's file_contexts spells them.
func setfilesScript(setfiles, fileContexts string, paths []string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "setfiles=%s\n", shellQuote(setfiles))
	b.WriteString(`set -- -F -e /proc -e /sys -e /dev -q
case $("$setfiles" -m 2>&1) in *"'m'"*) ;; *) set -- "$@" -m ;; esac
errors_only=
case $("$setfiles" -C 2>&1) in *"'C'"*) ;; *) set -- "$@" -C; errors_only=1 ;; esac
"$setfiles" "$@" `)
	b.WriteString(shellQuote(fileContexts))
	for _, name := range paths {
		b.WriteString(" " + shellQuote(name))
	}
	b.WriteString(`
status=$?
if [ "$status" = 1 ] && [ -n "$errors_only" ]; then
	echo "setfiles: some files could not be relabelled"
	exit 0
fi
exit "$status"
`)
	return b.String()
}

// runRelabel is Apply's run of a relabel step. A guest whose programs the
// appliance cannot run (another architecture) gets the first-boot
// relabel of the whole filesystem instead, and the change says so.
func (s step) runRelabel(ctx context.Context, fsys vfs.FS) (Change, error) {
	c, err := s.runCommand(ctx, fsys)
	if !errors.Is(err, vfs.ErrCannotRun) {
		return c, err
	}
	c = s.change
	c.Action, c.Path, c.Mode = ActionCreate, autorelabelPath, 0o644
	c.Detail = fmt.Sprintf("relabel at first boot: the guest's setfiles cannot run here (%v)", err)
	werr := fsys.WriteFile(ctx, autorelabelPath, strings.NewReader(""), vfs.WriteOptions{Policy: vfs.Replace, Perm: 0o644, UID: 0, GID: 0})
	return c, werr
}
