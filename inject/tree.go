package inject

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"strings"
	"time"

	"github.com/guestinject/guestinject/vfs"
)

// TreeOptions say how CopyIn and TarIn copy a tree into the guest. The
// zero value is the safe default: everything owned by root, nothing in
// the guest replaced, hard links refused, modification times kept where
// the backend can set them, and the DefaultTreeEntries and
// DefaultTreeBytes bounds.
type TreeOptions struct {
	// KeepOwners gives each copied node the numeric owner it has in the
	// source (the host file's, or the archive entry's). Without it
	// everything is owned by root:root.
	KeepOwners bool `json:"keep_owners,omitempty"`
	// Times says whether modification times are copied.
	Times TimesPolicy `json:"times,omitempty"`
	// Replace lets a regular file of the source replace an existing
	// regular file of the same name: its content, mode and owner (its
	// labels are kept), as tar run as root would. Without it an existing
	// name fails with ErrExists. Existing directories are always merged
	// into, their own mode, owner and times kept; anything else in the
	// way (a symlink, a FIFO, a device, a directory where the source has
	// a file) is refused even with Replace.
	Replace bool `json:"replace,omitempty"`
	// AllowHardLinks copies a file the source holds under several names
	// (a host file met twice, a tar TypeLink entry) as separate files,
	// each with the content; without it a second name fails. Hard links
	// are never made in the guest.
	AllowHardLinks bool `json:"allow_hard_links,omitempty"`
	// MaxEntries bounds the nodes copied (for TarIn, the archive's
	// headers, those that make nothing included); 0 means
	// DefaultTreeEntries.
	MaxEntries int `json:"max_entries,omitempty"`
	// MaxBytes bounds the bytes of file content copied; 0 means
	// DefaultTreeBytes.
	MaxBytes int64 `json:"max_bytes,omitempty"`
}

// Bounds of a tree copy when TreeOptions name none, and the largest ones
// they may name.
const (
	DefaultTreeEntries = 100000
	DefaultTreeBytes   = 4 << 30
	MaxTreeEntries     = 1 << 22
	MaxTreeBytes       = 1 << 40
)

// TimesPolicy says whether a tree copy keeps modification times.
type TimesPolicy string

const (
	// TimesIfSupported, the zero value, keeps the source's modification
	// times when the backend is a vfs.TimesFS; otherwise the copy is made
	// without them, and each change's Detail says so.
	TimesIfSupported TimesPolicy = ""
	// TimesRequired fails the plan with ErrUnsupported when the backend
	// cannot set times.
	TimesRequired TimesPolicy = "required"
	// TimesIgnored never sets times: the copies are as new as the copy.
	TimesIgnored TimesPolicy = "ignored"
)

// LimitError says a tree copy went over one of its bounds. It wraps
// vfs.ErrTooLarge.
type LimitError struct {
	What  string // "entries" or "bytes"
	Limit int64
}

func (e *LimitError) Error() string {
	return fmt.Sprintf("more than %d %s to copy (raise Max%s)", e.Limit, e.What, strings.ToUpper(e.What[:1])+e.What[1:])
}

func (e *LimitError) Unwrap() error { return vfs.ErrTooLarge }

// ErrSourceChanged: a host file of a CopyIn changed between planning and
// Apply (another file at its name, another size or modification time),
// so the copy would not be the one planned.
var ErrSourceChanged = errors.New("the source changed after planning")

// limits returns the bounds o names, checked.
func (o TreeOptions) limits(item Item, dir string) (entries int, bytes int64, err error) {
	entries, bytes = o.MaxEntries, o.MaxBytes
	if entries == 0 {
		entries = DefaultTreeEntries
	}
	if bytes == 0 {
		bytes = DefaultTreeBytes
	}
	switch {
	case entries < 0 || entries > MaxTreeEntries:
		return 0, 0, itemErrf(item, dir, ErrInvalidSpec, "max entries %d outside 1..%d", entries, MaxTreeEntries)
	case bytes < 0 || bytes > MaxTreeBytes:
		return 0, 0, itemErrf(item, dir, ErrInvalidSpec, "max bytes %d outside 1..%d", bytes, MaxTreeBytes)
	}
	switch o.Times {
	case TimesIfSupported, TimesRequired, TimesIgnored:
	default:
		return 0, 0, itemErrf(item, dir, ErrInvalidSpec, "unknown times policy %q", o.Times)
	}
	return entries, bytes, nil
}

// treeEntry is one node to copy, named relative to the destination.
type treeEntry struct {
	rel      string      // clean, slash-separated, never "." or ".."-climbing
	mode     fs.FileMode // type, permission and set-id bits
	uid, gid int
	mtime    time.Time
	size     int64     // of a regular file
	target   string    // of a symlink
	content  io.Reader // of a regular file, read once at Apply
	// reopen reads the content again, while planning, for the steps
	// after the copy that read the file (an edit of a copied file).
	reopen func() io.Reader
}

// treeDest checks a copy's destination: an existing directory, reached
// in the root.
func (p *planner) treeDest(ctx context.Context, item Item, dir string) error {
	if err := opPath(item, dir, true); err != nil {
		return err
	}
	info, err := p.fsys.Stat(ctx, dir)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return itemErr(item, dir, fmt.Errorf("%w: the destination directory is missing (a mkdir operation before this one creates it)", fs.ErrNotExist))
	case err != nil:
		return itemErr(item, dir, err)
	case !info.IsDir():
		return itemErrf(item, dir, vfs.ErrNotDir, "the destination is a %s", kindOf(info))
	}
	return nil
}

// timesAllowed decides, from the policy and the backend, whether times
// are set; the note goes into each change's Detail when they are not.
func (p *planner) timesAllowed(item Item, dir string, policy TimesPolicy) (bool, string, error) {
	_, can := p.guest.(vfs.TimesFS)
	switch {
	case policy == TimesIgnored:
		return false, "", nil
	case can:
		return true, "", nil
	case policy == TimesRequired:
		return false, "", itemErrf(item, dir, ErrUnsupported, "the backend cannot set file times, and the copy requires them")
	}
	return false, "times not kept: the backend cannot set them", nil
}

// planTree plans copying entries below the directory dir. Every node is
// created in a parent that is a real directory, never through a symlink,
// whether the guest had it or an earlier entry made it: a link the copy
// itself makes (a -> /etc) is a link, and a later a/passwd is refused
// rather than written through it.
func (p *planner) planTree(ctx context.Context, item Item, dir string, entries []treeEntry, o TreeOptions) error {
	setTimes, note, err := p.timesAllowed(item, dir, o.Times)
	if err != nil {
		return err
	}
	// dirs holds the directories below dir known to be real: the guest's,
	// checked, and those the copy makes (true).
	dirs := map[string]bool{}
	seen := map[string]bool{}
	type timed struct {
		name     string
		mode     fs.FileMode
		uid, gid int
		mtime    time.Time
	}
	var times []timed
	for _, e := range entries {
		if err := ctx.Err(); err != nil {
			return itemErr(item, dir, err)
		}
		name := vfs.Join(dir, e.rel)
		if err := vfs.CheckPath(item.Name, name); err != nil {
			return itemErr(item, name, fmt.Errorf("%w: %w", ErrInvalidSpec, err))
		}
		if _, isDir := dirs[e.rel]; seen[e.rel] && !(e.mode.IsDir() && isDir) {
			return itemErrf(item, name, ErrConflict, "the source names it twice")
		}
		seen[e.rel] = true
		if err := p.sync(ctx); err != nil {
			return err
		}
		if err := p.treeParents(ctx, item, dir, e.rel, dirs); err != nil {
			return err
		}
		old, err := p.lstat(ctx, name)
		if err != nil {
			return itemErr(item, name, err)
		}
		mode := e.mode & modeBits
		uid, gid := 0, 0
		if o.KeepOwners {
			uid, gid = e.uid, e.gid
		}
		n := len(p.steps)
		switch t := e.mode.Type(); {
		case t == fs.ModeDir:
			made, known := dirs[e.rel]
			switch {
			case known && made && old != nil:
				// Made earlier by the copy (as a parent, or named
				// before): it takes this entry's mode and owner now.
				p.setModeOwner(item, name, old, mode, uid, gid)
			case old != nil && old.IsDir():
				dirs[e.rel] = false
				p.add(keep(item, name, old, "the directory exists; the copy merges into it"))
				continue
			case old != nil:
				return itemErrf(item, name, ErrExists, "a %s is where the source has a directory", kindOf(old))
			default:
				p.mkdirOwned(item, name, mode, uid, gid)
				dirs[e.rel] = true
			}
		case t == 0:
			switch {
			case old == nil:
				p.add(step{op: opWrite, change: Change{Item: item, Path: name, Action: ActionCreate, Mode: mode, UID: uid, GID: gid, Size: e.size}, src: e.content, reopen: e.reopen, opts: vfs.WriteOptions{Policy: vfs.Exclusive, Perm: mode, UID: uid, GID: gid, MaxSize: max(e.size, 1)}})
				p.created = append(p.created, name)
			case old.Mode().IsRegular() && o.Replace:
				p.writeFile(item, name, old, nil, mode, uid, gid)
				p.steps[n].src, p.steps[n].reopen, p.steps[n].change.Size, p.steps[n].opts.MaxSize = e.content, e.reopen, e.size, max(e.size, 1)
			case old.Mode().IsRegular():
				return itemErrf(item, name, ErrExists, "a regular file is there (Replace replaces it)")
			default:
				return itemErrf(item, name, ErrExists, "a %s is in the way; only a regular file is ever replaced", kindOf(old))
			}
		case t == fs.ModeSymlink:
			if _, ok := p.guest.(vfs.SymlinkFS); !ok {
				return itemErrf(item, name, ErrUnsupported, "the backend cannot create symlinks")
			}
			if old != nil {
				return itemErrf(item, name, ErrExists, "a %s is where the source has a symlink", kindOf(old))
			}
			p.add(step{op: opSymlink, change: Change{Item: item, Path: name, Action: ActionSymlink, Target: e.target, Mode: fs.ModeSymlink | 0o777}})
			if uid != 0 || gid != 0 {
				p.add(step{op: opChown, change: Change{Item: item, Path: name, Action: ActionChown, Mode: fs.ModeSymlink | 0o777, UID: uid, GID: gid}})
			}
			p.created = append(p.created, name)
			mode = fs.ModeSymlink | 0o777
		default:
			return itemErrf(item, name, ErrUnsupported, "a %v cannot be copied", t)
		}
		if note != "" {
			for i := n; i < len(p.steps); i++ {
				p.steps[i].change.Detail = note
			}
		}
		if setTimes && !e.mtime.IsZero() {
			times = append(times, timed{name, mode, uid, gid, e.mtime})
		}
	}
	// Times last, once nothing more is created in the directories.
	for _, t := range times {
		p.add(step{op: opLchtimes, change: Change{Item: item, Path: t.name, Action: ActionSetTimes, Mode: t.mode, UID: t.uid, GID: t.gid, Mtime: t.mtime, Detail: timesDetail(time.Time{}, t.mtime)}})
	}
	return nil
}

// treeParents makes sure every directory between dir and rel's parent is
// a real directory, planning the missing ones (0755, root-owned).
func (p *planner) treeParents(ctx context.Context, item Item, dir, rel string, dirs map[string]bool) error {
	parts := strings.Split(rel, "/")
	prefix := ""
	for _, part := range parts[:len(parts)-1] {
		prefix = vfs.Join("/"+prefix, part)[1:]
		if _, ok := dirs[prefix]; ok {
			continue
		}
		name := vfs.Join(dir, prefix)
		info, err := p.lstat(ctx, name)
		switch {
		case err != nil:
			return itemErr(item, name, err)
		case info == nil:
			p.mkdirOwned(item, name, 0o755, 0, 0)
			if err := p.sync(ctx); err != nil {
				return err
			}
			dirs[prefix] = true
		case info.IsDir():
			dirs[prefix] = false
		case info.Mode().Type() == fs.ModeSymlink:
			return itemErr(item, name, fmt.Errorf("%w: %w: a copy never writes through a link", ErrUnsafe, vfs.ErrIsSymlink))
		default:
			return itemErrf(item, name, vfs.ErrNotDir, "a %s is where the copy needs a directory", kindOf(info))
		}
	}
	return nil
}

// mkdirOwned plans a new directory with exactly mode and owner: created,
// chowned, then chmodded again when it has set-id bits, which chown
// clears.
func (p *planner) mkdirOwned(item Item, name string, mode fs.FileMode, uid, gid int) {
	p.add(step{op: opMkdirAll, change: Change{Item: item, Path: name, Action: ActionMkdir, Mode: mode & fs.ModePerm, UID: 0, GID: 0}})
	if uid != 0 || gid != 0 {
		p.add(step{op: opChown, change: Change{Item: item, Path: name, Action: ActionChown, Mode: mode & fs.ModePerm, UID: uid, GID: gid}})
	}
	if mode&specialBits != 0 {
		p.add(step{op: opChmod, change: Change{Item: item, Path: name, Action: ActionChmod, Mode: mode, UID: uid, GID: gid}})
	}
	p.created = append(p.created, name)
}
