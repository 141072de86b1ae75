package inject

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"strings"
	"time"

	"github.com/guestinject/guestinject/vfs"
)

// Operation is one entry of Spec.Operations, virt-customize's file
// operations: exactly one field is set. It is a struct of pointers rather
// than an interface so that a list of them encodes to JSON and back
// without a type registry: {"move":{"from":"/a","to":"/b"}}.
type Operation struct {
	Delete     *Delete     `json:"delete,omitempty"`
	Move       *Move       `json:"move,omitempty"`
	Symlink    *Symlink    `json:"symlink,omitempty"`
	Mkdir      *Mkdir      `json:"mkdir,omitempty"`
	Chmod      *Chmod      `json:"chmod,omitempty"`
	Chown      *Chown      `json:"chown,omitempty"`
	Touch      *Touch      `json:"touch,omitempty"`
	Truncate   *Truncate   `json:"truncate,omitempty"`
	Write      *Write      `json:"write,omitempty"`
	AppendLine *AppendLine `json:"append_line,omitempty"`
	Edit       *Edit       `json:"edit,omitempty"`
	CopyIn     *CopyIn     `json:"copy_in,omitempty"`
	TarIn      *TarIn      `json:"tar_in,omitempty"`
	RunCommand *RunCommand `json:"run_command,omitempty"`
	Run        *Run        `json:"run,omitempty"`
	Install    *Install    `json:"install,omitempty"`
	Uninstall  *Uninstall  `json:"uninstall,omitempty"`
}

// Delete removes a file, symlink or special node (unlinked, never
// opened), or, when Recursive is set, a directory tree. A missing path is
// reported as kept, as rm -f would leave it.
type Delete struct {
	Path string `json:"path"`
	// Recursive allows a non-empty directory: every entry below it is
	// removed, children first. Symlinks in the tree are removed as links,
	// never followed.
	Recursive bool `json:"recursive,omitempty"`
	// MaxEntries bounds the entries a recursive delete removes, since
	// the guest decides how big the tree is; 0 means DefaultMaxDelete.
	MaxEntries int `json:"max_entries,omitempty"`
}

// DefaultMaxDelete is the bound on the entries one recursive Delete
// removes when it names none; MaxDeleteLimit bounds what it may name.
const (
	DefaultMaxDelete = 10000
	MaxDeleteLimit   = 1 << 20
)

// Move renames From to To: a file, a symlink (as a link) or a directory
// with everything below it. To must not exist and its parent must. It
// needs a backend that is a vfs.RenameFS.
type Move struct {
	From string `json:"from"`
	To   string `json:"to"`
}

// Symlink creates Path as a symlink to Target, stored as given and never
// resolved. An existing symlink with the same target is kept; anything
// else at Path is refused (delete it first).
type Symlink struct {
	Path   string `json:"path"`
	Target string `json:"target"`
}

// Mkdir creates a directory and its missing parents (0755, root-owned),
// as mkdir -p does. An existing directory is kept as it is.
type Mkdir struct {
	Path string `json:"path"`
	// Mode is the new directory's mode; zero means 0755.
	Mode fs.FileMode `json:"mode,omitempty"`
	// UID and GID own the new directory; User and Group, when set, name a
	// guest user and group instead.
	UID   int    `json:"uid,omitempty"`
	GID   int    `json:"gid,omitempty"`
	User  string `json:"user,omitempty"`
	Group string `json:"group,omitempty"`
}

// Chmod sets the mode of an existing regular file or directory. Symlinks
// are refused: Linux has no mode for a link, and following one would
// change whatever it points at.
type Chmod struct {
	Path string      `json:"path"`
	Mode fs.FileMode `json:"mode"`
}

// Chown sets the owner of an existing regular file, directory or symlink;
// a symlink's own owner changes, not its target's. As chown(1) does, it
// clears the set-id bits of a file; a later Chmod sets them again.
type Chown struct {
	Path  string `json:"path"`
	UID   int    `json:"uid,omitempty"`
	GID   int    `json:"gid,omitempty"`
	User  string `json:"user,omitempty"`
	Group string `json:"group,omitempty"`
}

// Touch does what touch(1) does: it sets the access and modification
// times of an existing regular file or directory to Time, and creates a
// missing file empty (0644, root-owned) with those times. Content, mode and
// owner are kept; a symlink, FIFO or device node is refused. Setting times
// needs a backend that is a vfs.TimesFS; on one that is not, touching an
// existing file, or any file with Time set, fails planning, and a missing
// file is created with the time of its creation.
type Touch struct {
	Path string `json:"path"`
	// Time is the time to set, as touch -d gives it; zero means Spec.Now,
	// or the current time when that is zero too.
	Time time.Time `json:"time,omitzero"`
}

// Truncate cuts an existing regular file to Size bytes, or extends it
// with zeros, keeping its mode, owner and labels. Size is at most
// MaxEditSize, since the kept prefix is rewritten.
type Truncate struct {
	Path string `json:"path"`
	Size int64  `json:"size,omitempty"`
}

// Write replaces the content of a regular file, keeping its mode, owner
// and labels, or creates it (0644, root-owned) in an existing directory.
type Write struct {
	Path    string `json:"path"`
	Content []byte `json:"content"`
}

// AppendLine adds Line, and a newline, to the end of a regular file
// unless a line of the file already equals it; a file that does not end
// in a newline gets one first. A missing file is created (0644,
// root-owned) in an existing directory. Files over MaxEditSize are
// refused, since the whole file is read to look for the line.
type AppendLine struct {
	Path string `json:"path"`
	Line string `json:"line"`
}

// MaxEditSize bounds the guest files Truncate, AppendLine and Edit read,
// and the file an Edit makes.
const MaxEditSize = 16 << 20

// kind names the operation's one set field, "" when none or several are.
func (op Operation) kind() string {
	var kinds []string
	for _, k := range []struct {
		set  bool
		name string
	}{
		{op.Delete != nil, "delete"}, {op.Move != nil, "move"}, {op.Symlink != nil, "symlink"},
		{op.Mkdir != nil, "mkdir"}, {op.Chmod != nil, "chmod"}, {op.Chown != nil, "chown"},
		{op.Touch != nil, "touch"}, {op.Truncate != nil, "truncate"}, {op.Write != nil, "write"},
		{op.AppendLine != nil, "append-line"}, {op.Edit != nil, "edit"},
		{op.CopyIn != nil, "copy-in"}, {op.TarIn != nil, "tar-in"},
		{op.RunCommand != nil, "run-command"}, {op.Run != nil, "run"},
		{op.Install != nil, "install"}, {op.Uninstall != nil, "uninstall"},
	} {
		if k.set {
			kinds = append(kinds, k.name)
		}
	}
	if len(kinds) != 1 {
		return ""
	}
	return kinds[0]
}

// planOperations plans Spec.Operations in order, each against the guest as
// the earlier changes leave it. It stops after a command (errPaused), and
// goes on from the next operation when planning resumes.
func (p *planner) planOperations(ctx context.Context, spec *Spec) error {
	for ; p.nextOp < len(spec.Operations); p.nextOp++ {
		i, op := p.nextOp, spec.Operations[p.nextOp]
		kind := op.kind()
		item := Item{Field: FieldOperations, Index: i, Name: kind}
		if kind == "" {
			return itemErrf(item, "", ErrInvalidSpec, "an operation sets exactly one kind")
		}
		if err := p.sync(ctx); err != nil {
			return err
		}
		var err error
		switch {
		case op.Delete != nil:
			err = p.planDelete(ctx, item, *op.Delete)
		case op.Move != nil:
			err = p.planMove(ctx, item, *op.Move)
		case op.Symlink != nil:
			err = p.planSymlinkOp(ctx, item, *op.Symlink)
		case op.Mkdir != nil:
			err = p.planMkdir(ctx, item, *op.Mkdir)
		case op.Chmod != nil:
			err = p.planChmod(ctx, item, *op.Chmod)
		case op.Chown != nil:
			err = p.planChown(ctx, item, *op.Chown)
		case op.Touch != nil:
			err = p.planTouch(ctx, item, *op.Touch)
		case op.Truncate != nil:
			err = p.planTruncate(ctx, item, *op.Truncate)
		case op.Write != nil:
			err = p.planWrite(ctx, item, *op.Write)
		case op.AppendLine != nil:
			err = p.planAppendLine(ctx, item, *op.AppendLine)
		case op.Edit != nil:
			err = p.planEdit(ctx, item, *op.Edit)
		case op.CopyIn != nil:
			err = p.planCopyIn(ctx, item, *op.CopyIn)
		case op.TarIn != nil:
			err = p.planTarIn(ctx, item, *op.TarIn)
		case op.RunCommand != nil, op.Run != nil:
			p.nextOp++
			return p.planCommand(ctx, item, op)
		case op.Install != nil, op.Uninstall != nil:
			p.nextOp++
			return p.planPackages(ctx, item, op)
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// opPath checks an operation's path; only chmod and chown may name the
// root.
func opPath(item Item, name string, rootOK bool) error {
	if err := vfs.CheckPath(item.Name, name); err != nil {
		return itemErr(item, name, fmt.Errorf("%w: %w", ErrInvalidSpec, err))
	}
	if name == "/" && !rootOK {
		return itemErrf(item, name, ErrInvalidSpec, "cannot %s the root", item.Name)
	}
	return nil
}

// needParent checks that the directory holding name exists, as it will
// when the earlier changes are made.
func (p *planner) needParent(ctx context.Context, item Item, name string) error {
	dir, _ := vfs.Split(name)
	info, err := p.fsys.Stat(ctx, dir)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return itemErr(item, dir, fmt.Errorf("%w: the parent directory is missing (a mkdir operation before this one creates it)", fs.ErrNotExist))
	case err != nil:
		return itemErr(item, dir, err)
	case !info.IsDir():
		return itemErrf(item, dir, vfs.ErrNotDir, "the parent is a %v", info.Mode().Type())
	}
	return nil
}

func keep(item Item, name string, info fs.FileInfo, detail string) step {
	c := Change{Item: item, Path: name, Action: ActionKeep, Detail: detail, UID: -1, GID: -1}
	if info != nil {
		c.Mode, c.UID, c.GID = modeOwner(info)
		c.Size = info.Size()
	}
	return step{op: opNone, change: c}
}

func (p *planner) planDelete(ctx context.Context, item Item, d Delete) error {
	if err := opPath(item, d.Path, false); err != nil {
		return err
	}
	limit := d.MaxEntries
	switch {
	case limit == 0:
		limit = DefaultMaxDelete
	case limit < 0 || limit > MaxDeleteLimit:
		return itemErrf(item, d.Path, ErrInvalidSpec, "max entries %d outside 1..%d", limit, MaxDeleteLimit)
	}
	info, err := p.lstat(ctx, d.Path)
	if err != nil {
		return itemErr(item, d.Path, err)
	}
	if info == nil {
		p.add(keep(item, d.Path, nil, "absent already"))
		return nil
	}
	var order []fs.FileInfo
	var names []string
	if info.IsDir() {
		entries, err := p.fsys.ReadDir(ctx, d.Path)
		if err != nil {
			return itemErr(item, d.Path, err)
		}
		if len(entries) > 0 && !d.Recursive {
			return itemErr(item, d.Path, fmt.Errorf("%w: a tree is deleted only when Recursive is set", vfs.ErrNotEmpty))
		}
		count := 0
		if err := p.walkTree(ctx, item, d.Path, entries, &count, limit, &names, &order); err != nil {
			return err
		}
	}
	names, order = append(names, d.Path), append(order, info)
	for i, name := range names {
		m, u, g := modeOwner(order[i])
		p.add(step{op: opRemove, change: Change{Item: item, Path: name, Action: ActionDelete, Mode: m, UID: u, GID: g}})
	}
	return nil
}

// walkTree lists the tree below dir, children before their directory,
// never following a symlink, failing once it holds more than limit
// entries.
func (p *planner) walkTree(ctx context.Context, item Item, dir string, entries []fs.DirEntry, count *int, limit int, names *[]string, infos *[]fs.FileInfo) error {
	for _, e := range entries {
		if *count++; *count > limit {
			return itemErr(item, dir, fmt.Errorf("%w: more than %d entries to delete (raise MaxEntries)", vfs.ErrTooLarge, limit))
		}
		name := vfs.Join(dir, e.Name())
		if err := vfs.CheckPath("delete", name); err != nil {
			return itemErr(item, name, err)
		}
		info, err := e.Info()
		if err != nil {
			return itemErr(item, name, err)
		}
		if e.Type()&fs.ModeSymlink == 0 && e.IsDir() {
			sub, err := p.fsys.ReadDir(ctx, name)
			if err != nil {
				return itemErr(item, name, err)
			}
			if err := p.walkTree(ctx, item, name, sub, count, limit, names, infos); err != nil {
				return err
			}
		}
		*names = append(*names, name)
		*infos = append(*infos, info)
	}
	return nil
}

func (p *planner) planMove(ctx context.Context, item Item, m Move) error {
	if err := opPath(item, m.From, false); err != nil {
		return err
	}
	if err := opPath(item, m.To, false); err != nil {
		return err
	}
	if _, ok := p.guest.(vfs.RenameFS); !ok {
		return itemErrf(item, m.From, ErrUnsupported, "the backend cannot rename")
	}
	info, err := p.lstat(ctx, m.From)
	switch {
	case err != nil:
		return itemErr(item, m.From, err)
	case info == nil:
		return itemErr(item, m.From, fs.ErrNotExist)
	case info.IsDir() && strings.HasPrefix(m.To+"/", m.From+"/"):
		return itemErrf(item, m.To, ErrInvalidSpec, "a directory cannot move into itself")
	}
	if to, err := p.lstat(ctx, m.To); err != nil {
		return itemErr(item, m.To, err)
	} else if to != nil {
		return itemErrf(item, m.To, ErrExists, "a %s is there; a move never replaces (delete it first)", kindOf(to))
	}
	if err := p.needParent(ctx, item, m.To); err != nil {
		return err
	}
	mode, uid, gid := modeOwner(info)
	p.add(step{op: opRename, change: Change{Item: item, Path: m.From, Action: ActionMove, Target: m.To, Mode: mode, UID: uid, GID: gid}})
	for i, c := range p.created {
		if c == m.From || under(c, m.From) {
			p.created[i] = m.To + c[len(m.From):]
		}
	}
	return nil
}

func kindOf(info fs.FileInfo) string {
	switch t := info.Mode().Type(); t {
	case 0:
		return "regular file"
	case fs.ModeDir:
		return "directory"
	case fs.ModeSymlink:
		return "symlink"
	default:
		return t.String()
	}
}

func (p *planner) planSymlinkOp(ctx context.Context, item Item, s Symlink) error {
	if err := opPath(item, s.Path, false); err != nil {
		return err
	}
	if s.Target == "" || strings.IndexByte(s.Target, 0) >= 0 || len(s.Target) > vfs.MaxPathLen {
		return itemErrf(item, s.Path, ErrInvalidSpec, "symlink target %q", s.Target)
	}
	if _, ok := p.guest.(vfs.SymlinkFS); !ok {
		return itemErrf(item, s.Path, ErrUnsupported, "the backend cannot create symlinks")
	}
	info, err := p.lstat(ctx, s.Path)
	if err != nil {
		return itemErr(item, s.Path, err)
	}
	if info != nil {
		if info.Mode().Type() == fs.ModeSymlink {
			if t, err := p.fsys.Readlink(ctx, s.Path); err == nil && t == s.Target {
				p.add(keep(item, s.Path, info, "the symlink exists with this target"))
				return nil
			}
		}
		return itemErrf(item, s.Path, ErrExists, "a %s is there (delete it first)", kindOf(info))
	}
	if err := p.needParent(ctx, item, s.Path); err != nil {
		return err
	}
	p.add(step{op: opSymlink, change: Change{Item: item, Path: s.Path, Action: ActionSymlink, Target: s.Target, Mode: fs.ModeSymlink | 0o777}})
	p.created = append(p.created, s.Path)
	return nil
}

// opMode checks a mode given in an operation, chmod(1)-style set-id bits
// allowed.
func opMode(item Item, name string, m fs.FileMode) (fs.FileMode, error) {
	mode := unixSpecialBits(m)
	if mode&^(fs.ModePerm|specialBits) != 0 {
		return 0, itemErrf(item, name, ErrInvalidSpec, "mode %v has type bits", m)
	}
	return mode, nil
}

func (p *planner) planMkdir(ctx context.Context, item Item, m Mkdir) error {
	if err := opPath(item, m.Path, false); err != nil {
		return err
	}
	mode, err := opMode(item, m.Path, m.Mode)
	if err != nil {
		return err
	}
	if mode == 0 {
		mode = 0o755
	}
	uid, gid, err := p.owner(ctx, item, File{Path: m.Path, UID: m.UID, GID: m.GID, User: m.User, Group: m.Group})
	if err != nil {
		return err
	}
	info, err := p.lstat(ctx, m.Path)
	switch {
	case err != nil:
		return itemErr(item, m.Path, err)
	case info != nil && info.IsDir():
		p.add(keep(item, m.Path, info, "the directory exists"))
		return nil
	case info != nil:
		return itemErrf(item, m.Path, ErrUnsafe, "%v: a %s is in the way", vfs.ErrNotDir, kindOf(info))
	}
	if err := p.ensureParent(ctx, item, m.Path, 0o755, -1, -1); err != nil {
		return err
	}
	n := len(p.steps)
	if err := p.ensureDir(ctx, item, m.Path, mode, uid, gid); err != nil {
		return err
	}
	// Owner before mode: the mode is set again after a chown when it has
	// special bits, as a file's would be cleared.
	if mode&specialBits != 0 && len(p.steps) > n+1 {
		p.add(step{op: opChmod, change: Change{Item: item, Path: m.Path, Action: ActionChmod, Mode: mode, UID: uid, GID: gid}})
	}
	return nil
}

// existingNode is the node an operation changes in place: it must exist,
// and be one of the types allowed.
func (p *planner) existingNode(ctx context.Context, item Item, name string, links bool) (fs.FileInfo, error) {
	info, err := p.lstat(ctx, name)
	switch {
	case err != nil:
		return nil, itemErr(item, name, err)
	case info == nil:
		return nil, itemErr(item, name, fs.ErrNotExist)
	}
	switch t := info.Mode().Type(); {
	case t == 0 || t == fs.ModeDir:
		return info, nil
	case t == fs.ModeSymlink && links:
		return info, nil
	case t == fs.ModeSymlink:
		return nil, itemErr(item, name, fmt.Errorf("%w: %w: refusing to change what it points at", ErrUnsafe, vfs.ErrIsSymlink))
	default:
		return nil, itemErr(item, name, fmt.Errorf("%w: %w: refusing to change a %v", ErrUnsafe, vfs.ErrNotRegular, t))
	}
}

func (p *planner) planChmod(ctx context.Context, item Item, c Chmod) error {
	if err := opPath(item, c.Path, true); err != nil {
		return err
	}
	mode, err := opMode(item, c.Path, c.Mode)
	if err != nil {
		return err
	}
	info, err := p.existingNode(ctx, item, c.Path, false)
	if err != nil {
		return err
	}
	old, uid, gid := modeOwner(info)
	if old == mode {
		p.add(keep(item, c.Path, info, "the mode is already set"))
		return nil
	}
	p.add(step{op: opChmod, change: Change{Item: item, Path: c.Path, Action: ActionChmod, Mode: mode, UID: uid, GID: gid}})
	return nil
}

func (p *planner) planChown(ctx context.Context, item Item, c Chown) error {
	if err := opPath(item, c.Path, true); err != nil {
		return err
	}
	uid, gid, err := p.owner(ctx, item, File{Path: c.Path, UID: c.UID, GID: c.GID, User: c.User, Group: c.Group})
	if err != nil {
		return err
	}
	info, err := p.existingNode(ctx, item, c.Path, true)
	if err != nil {
		return err
	}
	mode, oldUID, oldGID := modeOwner(info)
	if oldUID == uid && oldGID == gid {
		p.add(keep(item, c.Path, info, "the owner is already set"))
		return nil
	}
	ch := Change{Item: item, Path: c.Path, Action: ActionChown, Mode: mode, UID: uid, GID: gid}
	if !info.IsDir() {
		after := mode &^ fs.ModeSetuid
		if mode&0o010 != 0 {
			after &^= fs.ModeSetgid
		}
		if after != mode {
			ch.Mode, ch.Detail = after, "set-id bits cleared, as chown does"
		}
	}
	p.add(step{op: opChown, change: ch})
	return nil
}

func (p *planner) planTouch(ctx context.Context, item Item, t Touch) error {
	if err := opPath(item, t.Path, false); err != nil {
		return err
	}
	when := t.Time
	if when.IsZero() {
		when = p.now
	}
	when = when.Round(0) // no monotonic reading in the plan
	_, canSetTimes := p.guest.(vfs.TimesFS)
	info, err := p.lstat(ctx, t.Path)
	if err != nil {
		return itemErr(item, t.Path, err)
	}
	if info != nil {
		if info, err = p.existingNode(ctx, item, t.Path, false); err != nil {
			return err
		}
		if a, ok := vfs.AttrOf(info); ok && a.Atime.Equal(when) && info.ModTime().Equal(when) {
			p.add(keep(item, t.Path, info, "exists with these times"))
			return nil
		}
		mode, uid, gid := modeOwner(info)
		return p.setTimes(item, t.Path, mode, uid, gid, when, when)
	}
	if !t.Time.IsZero() && !canSetTimes {
		return itemErrf(item, t.Path, ErrUnsupported, "the backend cannot set file times")
	}
	if err := p.needParent(ctx, item, t.Path); err != nil {
		return err
	}
	p.writeFile(item, t.Path, nil, []byte{}, 0o644, 0, 0)
	if !canSetTimes {
		// The new file has the time of its creation, which is what
		// touch gives it.
		return nil
	}
	return p.setTimes(item, t.Path, 0o644, 0, 0, when, when)
}

func (p *planner) planTruncate(ctx context.Context, item Item, t Truncate) error {
	if err := opPath(item, t.Path, false); err != nil {
		return err
	}
	if t.Size < 0 || t.Size > MaxEditSize {
		return itemErrf(item, t.Path, ErrInvalidSpec, "size %d outside 0..%d", t.Size, MaxEditSize)
	}
	old, err := p.existing(ctx, item, t.Path)
	if err != nil {
		return err
	}
	if old == nil {
		return itemErr(item, t.Path, fs.ErrNotExist)
	}
	if old.Size() == t.Size {
		p.add(keep(item, t.Path, old, "already this size"))
		return nil
	}
	data := make([]byte, t.Size)
	if keepLen := min(t.Size, old.Size()); keepLen > 0 {
		f, err := p.fsys.Open(ctx, t.Path)
		if err != nil {
			return itemErr(item, t.Path, err)
		}
		n, err := io.ReadFull(f, data[:keepLen])
		f.Close()
		if err != nil && !errors.Is(err, io.ErrUnexpectedEOF) {
			return itemErr(item, t.Path, err)
		}
		clear(data[n:])
	}
	m, u, g := modeOwner(old)
	p.add(step{op: opWrite, change: Change{Item: item, Path: t.Path, Action: ActionReplace, Mode: m, UID: u, GID: g, Size: t.Size, Detail: fmt.Sprintf("truncated from %d bytes", old.Size())}, data: data, opts: inheritOpts})
	return nil
}

func (p *planner) planWrite(ctx context.Context, item Item, w Write) error {
	if err := opPath(item, w.Path, false); err != nil {
		return err
	}
	old, err := p.existing(ctx, item, w.Path)
	if err != nil {
		return err
	}
	if old == nil {
		if err := p.needParent(ctx, item, w.Path); err != nil {
			return err
		}
		p.writeFile(item, w.Path, nil, w.Content, 0o644, 0, 0)
		return nil
	}
	m, u, g := modeOwner(old)
	p.add(step{op: opWrite, change: Change{Item: item, Path: w.Path, Action: ActionReplace, Mode: m, UID: u, GID: g, Size: int64(len(w.Content))}, data: w.Content, opts: inheritOpts})
	return nil
}

func (p *planner) planAppendLine(ctx context.Context, item Item, a AppendLine) error {
	if err := opPath(item, a.Path, false); err != nil {
		return err
	}
	if strings.ContainsAny(a.Line, "\n\x00") {
		return itemErrf(item, a.Path, ErrInvalidSpec, "a line holds no newline or NUL")
	}
	old, err := p.existing(ctx, item, a.Path)
	if err != nil {
		return err
	}
	if old == nil {
		if err := p.needParent(ctx, item, a.Path); err != nil {
			return err
		}
		p.writeFile(item, a.Path, nil, []byte(a.Line+"\n"), 0o644, 0, 0)
		return nil
	}
	content, err := vfs.ReadFile(ctx, p.fsys, a.Path, MaxEditSize)
	if err != nil {
		return itemErr(item, a.Path, err)
	}
	if hasLine(content, a.Line) {
		p.add(keep(item, a.Path, old, "the line is present"))
		return nil
	}
	add := a.Line + "\n"
	if len(content) > 0 && content[len(content)-1] != '\n' {
		add = "\n" + add
	}
	m, u, g := modeOwner(old)
	size := int64(len(content) + len(add))
	p.add(step{op: opWrite, change: Change{Item: item, Path: a.Path, Action: ActionAppend, Mode: m, UID: u, GID: g, Size: size}, data: []byte(add), opts: vfs.WriteOptions{Policy: vfs.Append, Inherit: true, MaxSize: size}, baseSize: int64(len(content))})
	return nil
}

// hasLine reports whether a line of content, without its line ending
// ("\n" or "\r\n"), equals line.
func hasLine(content []byte, line string) bool {
	for l := range bytes.Lines(content) {
		l = bytes.TrimSuffix(bytes.TrimSuffix(l, []byte("\n")), []byte("\r"))
		if string(l) == line {
			return true
		}
	}
	return false
}
