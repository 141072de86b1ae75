package inject

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"path"
	"time"

	"github.com/guestinject/guestinject/internal/guestetc"
	"github.com/guestinject/guestinject/vfs"
)

// Limits on guest files read while planning: the guest controls their
// sizes, so anything larger is refused rather than read.
const (
	maxEtcFile            = 8 << 20 // passwd, group, shadow, hosts, os-release...
	maxAuthorizedKeysFile = 4 << 20
)

// NewPlan reads and validates everything spec needs from the guest and decides
// every change, without writing anything. Errors are *ItemError values
// naming the item and path, wrapping the sentinels of this package, of vfs
// and of io/fs.
func NewPlan(ctx context.Context, fsys vfs.FS, spec Spec) (*Plan, error) {
	if err := checkPackageOps(fsys, &spec); err != nil {
		return nil, err
	}
	if err := checkCommands(fsys, &spec); err != nil {
		return nil, err
	}
	p := &planner{
		spec:    spec,
		written: map[string]Item{},
		now:     spec.Now,
	}
	if p.now.IsZero() {
		p.now = time.Now()
	}
	steps, paused, err := p.plan(ctx, fsys)
	closers := p.takeClosers()
	if err != nil {
		closeAll(closers)
		return nil, err
	}
	plan := &Plan{steps: steps, closers: closers}
	if paused {
		plan.later = p
	}
	return plan, nil
}

// phase is one part of a Spec.
type phase struct {
	plan func(context.Context, *Spec) error
	// lookups, when not nil, names guest paths the phase looks at for
	// the Spec before it decides anything: a guest that answers many
	// Lstats in one call (the appliance) is asked for those of every
	// phase at once, not one round trip each. A name left out costs a
	// round trip later, never a different plan.
	lookups func(*Spec) []string
}

// phases are the parts of a Spec, in the order they are planned.
func (p *planner) phases() []phase {
	return []phase{
		{p.planReset, nil},
		{p.planFiles, filesLookups},
		{p.planMetadata, metadataLookups},
		{p.planCloudInit, nil},
		{p.planOperations, nil},
		{p.planHostname, hostnameLookups},
		{p.planSystem, nil},
		{p.planUsers, usersLookups},
		{p.planNetwork, networkLookups},
		{p.planSSHKeys, sshKeysLookups},
		{p.planPasswords, passwordsLookups},
		{p.planFirstBoot, firstBootLookups}, // also decides how everything above gets its SELinux labels
		{p.planSELinux, nil},
	}
}

// plan plans against fsys, as it is now, from where planning stopped
// (the start, or the operation after a command) until the end of the
// Spec or the next command, and returns the steps; paused says it stopped
// at a command. What the planner learnt of the Spec as a whole (the
// paths each item writes, the files created) carries over.
func (p *planner) plan(ctx context.Context, fsys vfs.FS) (steps []step, paused bool, err error) {
	view := newOverlay(fsys)
	p.guest, p.fsys, p.view = fsys, view, view
	p.steps, p.simulated, p.etc = nil, 0, nil
	phases := p.phases()
	var lookups []string
	for _, ph := range phases[p.phase:] {
		if ph.lookups != nil {
			lookups = append(lookups, ph.lookups(&p.spec)...)
		}
	}
	view.prefetch(ctx, lookups...)
	for ; p.phase < len(phases); p.phase++ {
		if err := p.sync(ctx); err != nil {
			return nil, false, err
		}
		err := phases[p.phase].plan(ctx, &p.spec)
		if errors.Is(err, errPaused) {
			return p.steps, true, nil
		}
		if err != nil {
			return nil, false, err
		}
	}
	if err := p.sync(ctx); err != nil {
		return nil, false, err
	}
	return p.steps, false, nil
}

// Apply plans spec and applies the plan: NewPlan followed by Plan.Apply.
// When planning fails nothing is written and the Report is nil; when
// applying fails the Report says what was and was not made (see
// Plan.Apply).
func Apply(ctx context.Context, fsys vfs.FS, spec Spec) (*Report, error) {
	plan, err := NewPlan(ctx, fsys, spec)
	if err != nil {
		return nil, err
	}
	return plan.Apply(ctx, fsys)
}

// planner holds what Plan has read and decided so far.
type planner struct {
	spec Spec
	// phase is the phase being planned, nextOp the operation; planning
	// that stopped at a command resumes from there.
	phase, nextOp int
	// guest is the backend the plan is for; its capabilities decide what
	// can be planned.
	guest vfs.FS
	// fsys is what planning reads: view, the guest as the steps planned so
	// far leave it.
	fsys vfs.FS
	view *overlay
	// simulated counts the steps replayed on view.
	simulated int
	now       time.Time
	steps     []step
	// written maps each path a step writes to the item that writes it.
	written map[string]Item
	// created lists the new files and directories, for SELinux labelling.
	created []string
	// selinux is the guest's SELinux configuration; relabelNow says the
	// relabel runs at the end of Apply with the guest's setfiles.
	selinux    selinuxGuest
	relabelNow bool
	// cached guest files, read at most once.
	etc map[string][]byte
	// closers release what the plan holds on the host for Apply (a
	// CopyIn's os.Root and files, a TarIn's spool).
	closers []io.Closer
}

func (p *planner) add(s step) { p.steps = append(p.steps, s) }

// takeClosers hands over what the steps planned so far hold on the host.
func (p *planner) takeClosers() []io.Closer {
	cs := p.closers
	p.closers = nil
	return cs
}

// sync replays on the planning view the steps added since the last sync,
// so that what is planned next sees them. Steps are replayed late, not as
// they are added, because a phase may still complete a step it has added
// (a streamed source, a detail). A step the view refuses means the plan
// contradicts itself, and planning fails before anything is written. The
// cache of guest files is dropped, as a replayed step may have changed
// one.
func (p *planner) sync(ctx context.Context) error {
	for ; p.simulated < len(p.steps); p.simulated++ {
		s := p.steps[p.simulated]
		if err := s.simulate(ctx, p.view); err != nil {
			return itemErr(s.change.Item, s.change.Path, fmt.Errorf("%w: planned %s cannot follow the earlier changes: %w", ErrConflict, s.change.Action, err))
		}
		p.etc = nil
	}
	return nil
}

// claim records that item writes name, refusing a second writer.
func (p *planner) claim(item Item, name string) error {
	if other, ok := p.written[name]; ok && other != item {
		return itemErrf(item, name, ErrConflict, "also written by %s", other)
	}
	p.written[name] = item
	return nil
}

// lstat returns the FileInfo of name, or nil when nothing is there.
func (p *planner) lstat(ctx context.Context, name string) (fs.FileInfo, error) {
	info, err := p.fsys.Lstat(ctx, name)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	return info, err
}

// readEtc reads a guest file once, bounded; a missing file is nil, nil.
func (p *planner) readEtc(ctx context.Context, name string) ([]byte, error) {
	if data, ok := p.etc[name]; ok {
		return data, nil
	}
	data, err := vfs.ReadFile(ctx, p.fsys, name, maxEtcFile)
	if errors.Is(err, fs.ErrNotExist) {
		data, err = nil, nil
	}
	if err != nil {
		return nil, err
	}
	if p.etc == nil {
		p.etc = map[string][]byte{}
	}
	p.etc[name] = data
	return data, nil
}

// existing describes a file a write would replace: its info, or nil when
// the name is free. Anything but a regular file is refused, and a final
// symlink is never followed.
func (p *planner) existing(ctx context.Context, item Item, name string) (fs.FileInfo, error) {
	info, err := p.lstat(ctx, name)
	if err != nil {
		return nil, itemErr(item, name, err)
	}
	if info == nil {
		return nil, nil
	}
	switch t := info.Mode().Type(); {
	case t == 0:
		return info, nil
	case t&fs.ModeSymlink != 0:
		return nil, itemErr(item, name, fmt.Errorf("%w: %w: refusing to write through it", ErrUnsafe, vfs.ErrIsSymlink))
	case t&fs.ModeDir != 0:
		return nil, itemErr(item, name, fmt.Errorf("%w: %w: a directory is in the way", ErrUnsafe, vfs.ErrIsDir))
	default:
		return nil, itemErr(item, name, fmt.Errorf("%w: %w: refusing to replace a %v", ErrUnsafe, vfs.ErrNotRegular, t))
	}
}

// ensureParent plans the creation of name's missing parent directories
// with mode perm, owned by uid and gid (the backend's default owner, root,
// when uid is -1). Existing directories are left alone; a non-directory in
// the way is an error.
func (p *planner) ensureParent(ctx context.Context, item Item, name string, perm fs.FileMode, uid, gid int) error {
	dir, _ := vfs.Split(name)
	return p.ensureDir(ctx, item, dir, perm, uid, gid)
}

func (p *planner) ensureDir(ctx context.Context, item Item, dir string, perm fs.FileMode, uid, gid int) error {
	var missing []string
	for d := dir; ; d, _ = vfs.Split(d) {
		if p.plannedDir(d) {
			break
		}
		info, err := p.fsys.Stat(ctx, d)
		if err == nil {
			if !info.IsDir() {
				return itemErrf(item, d, vfs.ErrNotDir, "a %v is in the way", info.Mode().Type())
			}
			break
		}
		if !errors.Is(err, fs.ErrNotExist) {
			return itemErr(item, d, err)
		}
		missing = append(missing, d)
		if d == "/" {
			break
		}
	}
	for i := len(missing) - 1; i >= 0; i-- {
		d := missing[i]
		p.add(step{op: opMkdirAll, change: Change{Item: item, Path: d, Action: ActionMkdir, Mode: perm, UID: max(uid, 0), GID: max(gid, 0)}})
		if uid >= 0 && (uid != 0 || gid != 0) {
			p.add(step{op: opChown, change: Change{Item: item, Path: d, Action: ActionChown, Mode: perm, UID: uid, GID: gid}})
		}
		p.created = append(p.created, d)
		p.written[d] = item
	}
	return nil
}

// plannedDir reports whether a step not yet replayed on the view creates
// directory d; those replayed are seen by Stat.
func (p *planner) plannedDir(d string) bool {
	for _, s := range p.steps[p.simulated:] {
		if s.op == opMkdirAll && s.change.Path == d {
			return true
		}
	}
	return false
}

// writeFile plans writing data (or streaming src) to name: created with
// perm and owner, or replacing an existing file whose mode, owner and
// extended attributes are kept (Inherit) and then set to perm and owner
// when they differ, owner first because chown clears set-id bits.
func (p *planner) writeFile(item Item, name string, old fs.FileInfo, data []byte, perm fs.FileMode, uid, gid int) {
	c := Change{Item: item, Path: name, Action: ActionCreate, Mode: perm, UID: uid, GID: gid, Size: int64(len(data))}
	if old == nil {
		p.add(step{op: opWrite, change: c, data: data, opts: vfs.WriteOptions{Policy: vfs.Replace, Perm: perm, UID: uid, GID: gid}})
		p.created = append(p.created, name)
		return
	}
	c.Action = ActionReplace
	c.Mode, c.UID, c.GID = modeOwner(old)
	p.add(step{op: opWrite, change: c, data: data, opts: vfs.WriteOptions{Policy: vfs.Replace, Inherit: true}})
	p.setModeOwner(item, name, old, perm, uid, gid)
}

// setModeOwner plans chown and chmod of an existing file to perm, uid and
// gid where they differ from old.
func (p *planner) setModeOwner(item Item, name string, old fs.FileInfo, perm fs.FileMode, uid, gid int) {
	oldMode, oldUID, oldGID := modeOwner(old)
	chowned := false
	if oldUID != uid || oldGID != gid {
		p.add(step{op: opChown, change: Change{Item: item, Path: name, Action: ActionChown, Mode: oldMode, UID: uid, GID: gid}})
		chowned = true
	}
	if oldMode != perm || (chowned && perm&(fs.ModeSetuid|fs.ModeSetgid) != 0) {
		p.add(step{op: opChmod, change: Change{Item: item, Path: name, Action: ActionChmod, Mode: perm, UID: uid, GID: gid}})
	}
}

// setTimes plans setting the access and modification times of name itself
// (a symlink's own, never its target's); a zero time is left as it is.
// mode, uid and gid are name's as the earlier steps leave it, for the
// report. It needs a backend that is a vfs.TimesFS.
func (p *planner) setTimes(item Item, name string, mode fs.FileMode, uid, gid int, atime, mtime time.Time) error {
	if _, ok := p.guest.(vfs.TimesFS); !ok {
		return itemErrf(item, name, ErrUnsupported, "the backend cannot set file times")
	}
	c := Change{Item: item, Path: name, Action: ActionSetTimes, Mode: mode, UID: uid, GID: gid, Atime: atime, Mtime: mtime, Detail: timesDetail(atime, mtime)}
	p.add(step{op: opLchtimes, change: c})
	return nil
}

// timesDetail says which times set-times sets, for the report.
func timesDetail(atime, mtime time.Time) string {
	format := func(t time.Time) string { return t.UTC().Format(time.RFC3339Nano) }
	switch {
	case atime.IsZero():
		return "mtime " + format(mtime)
	case mtime.IsZero():
		return "atime " + format(atime)
	case atime.Equal(mtime):
		return "atime and mtime " + format(mtime)
	}
	return "atime " + format(atime) + ", mtime " + format(mtime)
}

// modeOwner returns the permission and special bits and owner of info;
// without ownership information the owner is reported as -1.
func modeOwner(info fs.FileInfo) (fs.FileMode, int, int) {
	mode := info.Mode() & (fs.ModePerm | fs.ModeSetuid | fs.ModeSetgid | fs.ModeSticky)
	if a, ok := vfs.AttrOf(info); ok {
		return mode, a.UID, a.GID
	}
	return mode, -1, -1
}

// days is the number of whole days from the epoch to t, as shadow counts.
func days(t time.Time) int64 { return t.Unix() / 86400 }

// guestUser looks name up in the guest's /etc/passwd.
func (p *planner) guestUser(ctx context.Context, item Item, name string) (guestetc.User, error) {
	data, err := p.readEtc(ctx, "/etc/passwd")
	if err != nil {
		return guestetc.User{}, itemErr(item, "/etc/passwd", err)
	}
	if data == nil {
		return guestetc.User{}, itemErrf(item, "/etc/passwd", ErrNoUser, "the guest has no /etc/passwd")
	}
	u, err := guestetc.ParsePasswd(data).User(name)
	if errors.Is(err, guestetc.ErrNotFound) {
		return guestetc.User{}, itemErr(item, "/etc/passwd", fmt.Errorf("%w: %w", ErrNoUser, err))
	}
	if err != nil {
		return guestetc.User{}, itemErr(item, "/etc/passwd", err)
	}
	return u, nil
}

// guestGroup looks name up in the guest's /etc/group.
func (p *planner) guestGroup(ctx context.Context, item Item, name string) (guestetc.Group, error) {
	data, err := p.readEtc(ctx, "/etc/group")
	if err != nil {
		return guestetc.Group{}, itemErr(item, "/etc/group", err)
	}
	g, err := guestetc.ParseGroup(data).Group(name)
	if errors.Is(err, guestetc.ErrNotFound) {
		return guestetc.Group{}, itemErr(item, "/etc/group", fmt.Errorf("%w: %w", ErrNoUser, err))
	}
	if err != nil {
		return guestetc.Group{}, itemErr(item, "/etc/group", err)
	}
	return g, nil
}

// homeOf returns a user's home directory as a guest path. The kernel
// resolves "/.." to "/", so cleaning the passwd field gives the directory
// the guest itself would use; anything still invalid is refused.
func homeOf(item Item, u guestetc.User) (string, error) {
	if !path.IsAbs(u.Home) {
		return "", itemErrf(item, "/etc/passwd", ErrUnsafe, "user %q has a relative home directory %q", u.Name, u.Home)
	}
	home := path.Clean(u.Home)
	if err := vfs.CheckPath("home", home); err != nil {
		return "", itemErr(item, "/etc/passwd", err)
	}
	return home, nil
}

func isNotExist(err error) bool { return errors.Is(err, fs.ErrNotExist) }
