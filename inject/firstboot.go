package inject

import (
	"context"
	"fmt"
	"io/fs"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/guestinject/guestinject/vfs"
)

// Guest paths of the first-boot machinery.
const (
	firstBootRunner  = "/usr/local/sbin/guestinject-firstboot"
	firstBootDir     = "/var/lib/guestinject/firstboot"
	firstBootLog     = "/var/log/guestinject-firstboot.log"
	firstBootUnit    = "/etc/systemd/system/guestinject-firstboot.service"
	firstBootWants   = "/etc/systemd/system/multi-user.target.wants/guestinject-firstboot.service"
	firstBootInitD   = "/etc/init.d/guestinject-firstboot"
	firstBootRcLink  = "S99guestinject-firstboot"
	autorelabelPath  = "/.autorelabel"
	relabelName      = "selinux-relabel"
	selinuxConfig    = "/etc/selinux/config"
	maxFirstBootSeqs = 999
)

var sysvRunlevels = []string{"2", "3", "4", "5"}

// runnerScript runs every script of firstBootDir once, in name order,
// logging to firstBootLog, then removes its boot hooks and itself. A failing
// script is logged and the next one still runs.
var runnerScript = `#!/bin/sh
# Written by guestinject: runs the first-boot scripts once, in order.
dir=` + firstBootDir + `
log=` + firstBootLog + `
for script in "$dir"/[0-9]*; do
	[ -f "$script" ] || continue
	echo "$(date -u '+%Y-%m-%dT%H:%M:%SZ') start $script" >>"$log"
	/bin/sh "$script" >>"$log" 2>&1
	status=$?
	echo "$(date -u '+%Y-%m-%dT%H:%M:%SZ') end $script status $status" >>"$log"
	rm -f "$script"
done
rm -f ` + firstBootWants + ` /etc/rc[2345].d/` + firstBootRcLink + ` ` + firstBootUnit + ` ` + firstBootInitD + ` ` + firstBootRunner + `
`

const unitFile = `# Written by guestinject.
[Unit]
Description=guestinject first-boot commands
After=local-fs.target network.target
Before=ssh.service sshd.service systemd-user-sessions.service
ConditionPathExists=` + firstBootRunner + `

[Service]
Type=oneshot
ExecStart=/bin/sh ` + firstBootRunner + `
StandardOutput=journal+console

[Install]
WantedBy=multi-user.target
`

const initScript = `#!/bin/sh
### BEGIN INIT INFO
# Provides:          guestinject-firstboot
# Required-Start:    $local_fs $network
# Required-Stop:
# Default-Start:     2 3 4 5
# Default-Stop:
# Short-Description: guestinject first-boot commands
### END INIT INFO
case "$1" in
start) /bin/sh ` + firstBootRunner + ` ;;
esac
exit 0
`

var commandName = regexp.MustCompile(`^[A-Za-z0-9._-]{1,64}$`)

// planFirstBoot installs the first-boot commands and, on a guest with
// SELinux enabled, the relabelling of every file this plan creates. The
// boot hook (a systemd wants symlink or sysvinit rc links) is installed
// last, so a run that fails earlier never leaves half the commands armed.
// firstBootLookups: every plan reads the guest's SELinux configuration.
func firstBootLookups(spec *Spec) []string {
	names := []string{selinuxConfig}
	if len(spec.FirstBoot) > 0 {
		names = append(names, systemdBinaries...)
		names = append(names, "/etc/init.d", firstBootDir, firstBootRunner, firstBootUnit, firstBootWants)
	}
	return names
}

func (p *planner) planFirstBoot(ctx context.Context, spec *Spec) error {
	for i, c := range spec.FirstBoot {
		if !commandName.MatchString(c.Name) {
			return itemErrf(listItem(FieldFirstBoot, i), "", ErrInvalidSpec, "name %q: use 1 to 64 letters, digits, '.', '_' or '-'", c.Name)
		}
	}
	relabel, relabelAll, err := p.decideSELinux(ctx, spec)
	if err != nil {
		return err
	}
	if relabelAll {
		if err := p.planAutorelabel(ctx); err != nil {
			return err
		}
	}
	if len(spec.FirstBoot) == 0 && len(relabel) == 0 {
		return nil
	}
	init, initErr := p.initSystem(ctx)
	_, canSymlink := p.guest.(vfs.SymlinkFS)
	if initErr == nil && !canSymlink {
		initErr = fmt.Errorf("%w: the backend cannot create the symlinks that enable a boot service", ErrUnsupported)
	}
	if initErr != nil {
		if len(spec.FirstBoot) > 0 {
			return itemErr(singleItem(FieldFirstBoot), "", initErr)
		}
		// Only the relabel is needed: the whole-filesystem fallback.
		return p.planAutorelabel(ctx)
	}

	seq, err := p.nextFirstBootSeq(ctx)
	if err != nil {
		return err
	}
	type script struct {
		item       Item
		name, body string
	}
	var scripts []script
	if len(relabel) > 0 {
		scripts = append(scripts, script{singleItem(FieldSELinux), relabelName, relabelScript(relabel)})
	}
	for i, c := range spec.FirstBoot {
		item := listItem(FieldFirstBoot, i)
		item.Name = c.Name
		scripts = append(scripts, script{item, c.Name, "#!/bin/sh\n" + c.Script + "\n"})
	}
	if seq+len(scripts) > maxFirstBootSeqs {
		return itemErrf(singleItem(FieldFirstBoot), firstBootDir, ErrUnsupported, "too many first-boot scripts already queued")
	}
	for _, s := range scripts {
		name := vfs.Join(firstBootDir, fmt.Sprintf("%03d-%s", seq, s.name))
		seq++
		if err := p.ensureDir(ctx, s.item, firstBootDir, 0o700, -1, -1); err != nil {
			return err
		}
		if err := p.planFile(ctx, s.item, File{Path: name, Content: []byte(s.body), Mode: 0o700, IfExists: FailExisting}); err != nil {
			return err
		}
		if s.item.Field == FieldSELinux {
			p.detailLast(fmt.Sprintf("relabel of %d created paths at first boot", len(relabel)))
		}
	}
	item := singleItem(FieldFirstBoot)
	if err := p.planFile(ctx, item, File{Path: firstBootRunner, Content: []byte(runnerScript), Mode: 0o755}); err != nil {
		return err
	}
	if init == "systemd" {
		if err := p.planFile(ctx, item, File{Path: firstBootUnit, Content: []byte(unitFile), Mode: 0o644}); err != nil {
			return err
		}
		return p.planSymlink(ctx, item, firstBootWants, firstBootUnit)
	}
	if err := p.planFile(ctx, item, File{Path: firstBootInitD, Content: []byte(initScript), Mode: 0o755}); err != nil {
		return err
	}
	for _, rl := range sysvRunlevels {
		if err := p.planSymlink(ctx, item, "/etc/rc"+rl+".d/"+firstBootRcLink, "../init.d/guestinject-firstboot"); err != nil {
			return err
		}
	}
	return nil
}

// planSymlink creates name -> target, or keeps an identical existing link.
func (p *planner) planSymlink(ctx context.Context, item Item, name, target string) error {
	if err := p.claim(item, name); err != nil {
		return err
	}
	info, err := p.lstat(ctx, name)
	if err != nil {
		return itemErr(item, name, err)
	}
	if info != nil {
		if info.Mode()&fs.ModeSymlink != 0 {
			if old, err := p.fsys.Readlink(ctx, name); err == nil && old == target {
				p.add(step{op: opNone, change: Change{Item: item, Path: name, Action: ActionKeep, Target: target, Detail: "already linked"}})
				return nil
			}
		}
		return itemErrf(item, name, ErrExists, "something else is in the way")
	}
	if err := p.ensureParent(ctx, item, name, 0o755, -1, -1); err != nil {
		return err
	}
	p.add(step{op: opSymlink, change: Change{Item: item, Path: name, Action: ActionSymlink, Target: target}})
	return nil
}

// systemdBinaries are where a guest booted by systemd has it.
var systemdBinaries = []string{"/usr/lib/systemd/systemd", "/lib/systemd/systemd"}

// initSystem tells how the guest boots: "systemd" or "sysv".
func (p *planner) initSystem(ctx context.Context) (string, error) {
	for _, n := range systemdBinaries {
		if info, err := p.fsys.Stat(ctx, n); err == nil && info.Mode().IsRegular() {
			return "systemd", nil
		}
	}
	if info, err := p.fsys.Stat(ctx, "/etc/init.d"); err == nil && info.IsDir() {
		return "sysv", nil
	}
	return "", fmt.Errorf("%w: neither systemd nor sysvinit found in the guest", ErrUnsupported)
}

// nextFirstBootSeq numbers new scripts after those already queued.
func (p *planner) nextFirstBootSeq(ctx context.Context) (int, error) {
	entries, err := p.fsys.ReadDir(ctx, firstBootDir)
	if isNotExist(err) {
		return 1, nil
	}
	if err != nil {
		return 0, itemErr(singleItem(FieldFirstBoot), firstBootDir, err)
	}
	next := 1
	for _, e := range entries {
		if n, err := strconv.Atoi(strings.SplitN(e.Name(), "-", 2)[0]); err == nil && n >= next {
			next = n + 1
		}
	}
	return next, nil
}

// planAutorelabel asks for a relabel of the whole filesystem at the
// guest's next boot.
func (p *planner) planAutorelabel(ctx context.Context) error {
	if err := p.planFile(ctx, singleItem(FieldSELinux), File{Path: autorelabelPath, Mode: 0o644, IfExists: KeepExisting}); err != nil {
		return err
	}
	p.detailLast("relabel of the whole filesystem at first boot")
	return nil
}

// detailLast sets the Detail of the change planned last.
func (p *planner) detailLast(detail string) {
	if n := len(p.steps); n > 0 {
		c := &p.steps[n-1].change
		if c.Detail != "" {
			detail += "; " + c.Detail
		}
		c.Detail = detail
	}
}

// relabelPaths returns the paths this plan created that are still there
// once the whole plan has run: an operation may have deleted or moved
// what an earlier change created. Replaced files keep their labels.
func (p *planner) relabelPaths(ctx context.Context) ([]string, error) {
	var out []string
	for _, name := range p.created {
		if _, err := p.fsys.Lstat(ctx, name); err == nil && !slices.Contains(out, name) {
			out = append(out, name)
		}
	}
	return out, nil
}

// relabelScript restores the default labels of exactly paths, or asks for
// a full relabel when restorecon is missing.
func relabelScript(paths []string) string {
	var b strings.Builder
	b.WriteString("#!/bin/sh\n# Labels the files guestinject created.\nif command -v restorecon >/dev/null 2>&1; then\n\trestorecon -F -v --")
	for _, p := range paths {
		b.WriteString(" " + shellQuote(p))
	}
	b.WriteString("\nelse\n\ttouch /.autorelabel\nfi\n")
	return b.String()
}

func shellQuote(s string) string { return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'" }
