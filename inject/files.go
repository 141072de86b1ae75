package inject

import (
	"context"
	"encoding/json"
	"fmt"
	"io/fs"

	"github.com/guestinject/guestinject/vfs"
)

const specialBits = fs.ModeSetuid | fs.ModeSetgid | fs.ModeSticky

func (p *planner) planFiles(ctx context.Context, spec *Spec) error {
	for i, f := range spec.Files {
		item := listItem(FieldFiles, i)
		if err := p.sync(ctx); err != nil {
			return err
		}
		if err := p.planFile(ctx, item, f); err != nil {
			return err
		}
	}
	return nil
}

func (p *planner) planFile(ctx context.Context, item Item, f File) error {
	if err := vfs.CheckPath("inject", f.Path); err != nil {
		return itemErr(item, f.Path, fmt.Errorf("%w: %w", ErrInvalidSpec, err))
	}
	if f.Path == "/" {
		return itemErrf(item, f.Path, ErrInvalidSpec, "cannot write the root")
	}
	mode := unixSpecialBits(f.Mode)
	if mode&^(fs.ModePerm|specialBits) != 0 {
		return itemErrf(item, f.Path, ErrInvalidSpec, "mode %v has type bits", f.Mode)
	}
	if mode == 0 {
		mode = 0o644
	}
	parentMode := f.ParentMode
	if parentMode == 0 {
		parentMode = 0o755
	}
	if parentMode&^fs.ModePerm != 0 {
		return itemErrf(item, f.Path, ErrInvalidSpec, "parent mode %v is not permission bits", parentMode)
	}
	uid, gid, err := p.owner(ctx, item, f)
	if err != nil {
		return err
	}
	if err := p.claim(item, f.Path); err != nil {
		return err
	}
	old, err := p.existing(ctx, item, f.Path)
	if err != nil {
		return err
	}
	if old == nil {
		if err := p.ensureParent(ctx, item, f.Path, parentMode, -1, -1); err != nil {
			return err
		}
	}
	if old != nil {
		switch f.IfExists {
		case KeepExisting:
			m, u, g := modeOwner(old)
			p.add(step{op: opNone, change: Change{Item: item, Path: f.Path, Action: ActionKeep, Mode: m, UID: u, GID: g, Size: old.Size(), Detail: "exists; kept as asked"}})
			return nil
		case FailExisting:
			return itemErrf(item, f.Path, ErrExists, "the spec says to fail when it exists")
		case AppendExisting:
			m, u, g := modeOwner(old)
			c := Change{Item: item, Path: f.Path, Action: ActionAppend, Mode: m, UID: u, GID: g, Size: old.Size() + int64(len(f.Content))}
			s := step{op: opWrite, change: c, data: f.Content, opts: vfs.WriteOptions{Policy: vfs.Append, Inherit: true, MaxSize: appendLimit(f.MaxSize, old.Size())}, baseSize: old.Size()}
			if f.Source != nil {
				s.src, s.data, s.change.Size = f.Source, nil, -1
			}
			p.add(s)
			return nil
		case ReplaceExisting:
		default:
			return itemErrf(item, f.Path, ErrInvalidSpec, "unknown IfExists policy %d", f.IfExists)
		}
	}
	if f.Source == nil {
		p.writeFile(item, f.Path, old, f.Content, mode, uid, gid)
		return nil
	}
	// Streamed: the same steps, with the reader and an unknown size.
	n := len(p.steps)
	p.writeFile(item, f.Path, old, nil, mode, uid, gid)
	p.steps[n].src, p.steps[n].change.Size = f.Source, -1
	p.steps[n].opts.MaxSize = f.MaxSize
	return nil
}

// unixSpecialBits turns chmod(1)-style 04000, 02000 and 01000 bits, easy
// to write by mistake in a Go fs.FileMode, into fs.ModeSetuid, fs.ModeSetgid
// and fs.ModeSticky.
func unixSpecialBits(m fs.FileMode) fs.FileMode {
	for unix, goBit := range map[fs.FileMode]fs.FileMode{0o4000: fs.ModeSetuid, 0o2000: fs.ModeSetgid, 0o1000: fs.ModeSticky} {
		if m&unix != 0 {
			m = m&^unix | goBit
		}
	}
	return m
}

// appendLimit turns a bound on the appended bytes into the bound on the
// result that vfs.WriteOptions.MaxSize is for appends.
func appendLimit(max, existing int64) int64 {
	if max == 0 {
		return 0
	}
	return max + existing
}

// owner resolves a file's owner, by guest name when one is given.
func (p *planner) owner(ctx context.Context, item Item, f File) (uid, gid int, err error) {
	uid, gid = f.UID, f.GID
	if f.User != "" {
		u, err := p.guestUser(ctx, item, f.User)
		if err != nil {
			return 0, 0, err
		}
		uid = u.UID
		if f.Group == "" && f.GID == 0 {
			gid = u.GID
		}
	}
	if f.Group != "" {
		g, err := p.guestGroup(ctx, item, f.Group)
		if err != nil {
			return 0, 0, err
		}
		gid = g.GID
	}
	if uid < 0 || gid < 0 || uid > 1<<32-2 || gid > 1<<32-2 {
		return 0, 0, itemErrf(item, f.Path, ErrInvalidSpec, "owner %d:%d out of range", uid, gid)
	}
	return uid, gid, nil
}

// filesLookups are the files' paths, and the account files when a file
// is owned by name.
func filesLookups(spec *Spec) []string {
	var names []string
	byName := false
	for _, f := range spec.Files {
		names = append(names, f.Path)
		byName = byName || f.User != "" || f.Group != ""
	}
	if byName {
		names = append(names, passwdPath, groupPath)
	}
	return names
}

// metadataFile is where Nova put the metadata.
const metadataFile = "/meta.js"

func metadataLookups(spec *Spec) []string {
	if spec.Metadata == nil {
		return nil
	}
	return []string{metadataFile}
}

// planMetadata writes /meta.js as Nova did: a JSON object of strings.
func (p *planner) planMetadata(ctx context.Context, spec *Spec) error {
	if spec.Metadata == nil {
		return nil
	}
	item, name := singleItem(FieldMetadata), metadataFile
	data, err := json.Marshal(spec.Metadata)
	if err != nil {
		return itemErr(item, name, err)
	}
	return p.planFile(ctx, item, File{Path: name, Content: data, Mode: 0o644})
}
