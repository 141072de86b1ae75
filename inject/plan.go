package inject

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"strconv"
	"time"

	"github.com/guestinject/guestinject/vfs"
)

// Action is what a Change does.
type Action string

// Actions, in the words of the Report.
const (
	ActionMkdir    Action = "mkdir"     // create a directory (and missing parents)
	ActionCreate   Action = "create"    // create a file
	ActionReplace  Action = "replace"   // replace a file's content atomically
	ActionAppend   Action = "append"    // add to the end of a file, atomically
	ActionChown    Action = "chown"     // set a file's owner
	ActionChmod    Action = "chmod"     // set a file's mode
	ActionSymlink  Action = "symlink"   // create a symlink
	ActionSetxattr Action = "setxattr"  // set an extended attribute
	ActionKeep     Action = "keep"      // leave an existing file alone, as asked
	ActionDelete   Action = "delete"    // remove a file, link, node or empty directory
	ActionMove     Action = "move"      // rename Path to Target
	ActionSetTimes Action = "set-times" // set a file's access and modification times
	ActionRun      Action = "run"       // run a guest command; the Change's Run says how it ended
)

// Change is one change to the guest: what Plan decided and Apply did.
type Change struct {
	// Item is the spec item the change serves, e.g. {Field:
	// FieldPasswords, Index: 0, User: "root"}, shown as "passwords[0] (root)".
	Item   Item
	Path   string
	Action Action
	// Mode, UID and GID are the file's resulting mode and owner.
	Mode     fs.FileMode
	UID, GID int
	// Size is the resulting size of a written file; -1 until a streamed
	// file has been written.
	Size int64
	// Target is the target of a symlink, or the new name of a move.
	Target string
	// Atime and Mtime are the access and modification times set-times
	// gives Path; a zero time is left as it is.
	Atime, Mtime time.Time
	// Detail says more, e.g. "2 keys added".
	Detail string
	// Run is how a command (ActionRun) ended, once it has run.
	Run *RunResult
}

// MarshalJSON writes the mode in octal with its set-id and sticky bits
// ("0600", "4755"), as an audit log reader expects.
func (c Change) MarshalJSON() ([]byte, error) {
	type change struct {
		Item   Item       `json:"item"`
		Path   string     `json:"path"`
		Action Action     `json:"action"`
		Mode   string     `json:"mode,omitempty"`
		UID    int        `json:"uid"`
		GID    int        `json:"gid"`
		Size   *int64     `json:"size,omitempty"`
		Target string     `json:"target,omitempty"`
		Atime  time.Time  `json:"atime,omitzero"`
		Mtime  time.Time  `json:"mtime,omitzero"`
		Detail string     `json:"detail,omitempty"`
		Run    *RunResult `json:"run,omitempty"`
	}
	out := change{Item: c.Item, Path: c.Path, Action: c.Action, UID: c.UID, GID: c.GID, Target: c.Target, Atime: c.Atime, Mtime: c.Mtime, Detail: c.Detail, Run: c.Run}
	if c.Action != ActionSymlink && c.Action != ActionSetxattr && c.Action != ActionDelete && c.Action != ActionRun {
		out.Mode = OctalMode(c.Mode)
	}
	if c.Action == ActionCreate || c.Action == ActionReplace || c.Action == ActionAppend {
		out.Size = &c.Size
	}
	return json.Marshal(out)
}

// OctalMode formats the permission, set-id and sticky bits of m as
// chmod(1) takes them: "0644", "4755".
func OctalMode(m fs.FileMode) string {
	n := uint32(m.Perm())
	if m&fs.ModeSetuid != 0 {
		n |= 0o4000
	}
	if m&fs.ModeSetgid != 0 {
		n |= 0o2000
	}
	if m&fs.ModeSticky != 0 {
		n |= 0o1000
	}
	s := strconv.FormatUint(uint64(n), 8)
	for len(s) < 4 {
		s = "0" + s
	}
	return s
}

// Report lists every change Apply made, in order, and, when Apply failed,
// those it did not make.
type Report struct {
	// Changes are the changes made, in order.
	Changes []Change `json:"changes"`
	// NotMade, empty when Apply succeeds, lists the planned changes a
	// failed Apply did not make, in plan order: first the one that failed
	// (or, when ctx ended, the one that would have come next), then every
	// later one. Changes followed by NotMade is the whole plan.
	NotMade []Change `json:"not_made,omitempty"`
}

// Plan is the complete list of changes for one Spec on one guest, decided
// by reading and validating everything first. Apply it with Plan.Apply.
//
// A guest command (RunCommand, Run) cannot be planned through: what it
// does is up to the guest. So a Spec with commands is planned in
// segments. NewPlan plans everything up to the first command and the
// command itself; Changes lists that, and Deferred names the operations
// that follow. Apply makes those changes, runs the command, then plans
// the next segment against the guest as the command left it, and so on:
// the Spec's order holds, each segment is checked against the real guest
// before any of it is written, and everything after the last command
// (Hostname to FirstBoot) is planned after it. A failure at any point
// stops Apply; on a session backend (the appliance), Close without
// Commit then leaves the image as it was, so the whole injection still
// happens entirely or not at all.
type Plan struct {
	steps []step
	// closers release what the plan holds on the host until Apply.
	closers []io.Closer
	// later plans the segments after a command at Apply time; nil when
	// the plan is complete.
	later *planner
	// applied guards against applying twice: streamed sources are gone.
	applied bool
}

// Changes returns the changes the plan will make, in order.
// Before a plan with commands is applied, these are the changes up to and
// including the first command (see Deferred).
func (p *Plan) Changes() []Change { return changesOf(p.steps) }

// Deferred names the operations planned only at Apply time, after a
// command has run, in Spec order (commands included); the fields planned
// after Operations (Hostname to FirstBoot) are planned then too. It is
// empty for a plan without commands and after Apply.
func (p *Plan) Deferred() []Item {
	if p.later == nil {
		return nil
	}
	var items []Item
	for i := p.later.nextOp; i < len(p.later.spec.Operations); i++ {
		items = append(items, Item{Field: FieldOperations, Index: i, Name: p.later.spec.Operations[i].kind()})
	}
	return items
}

func changesOf(steps []step) []Change {
	out := make([]Change, len(steps))
	for i, s := range steps {
		out[i] = s.change
	}
	return out
}

type opKind int

const (
	opMkdirAll opKind = iota
	opWrite
	opChown
	opChmod
	opSymlink
	opSetxattr
	opRemove
	opRename
	opLchtimes
	opRun
	opRelabel
	opNone
)

// step is one vfs call and the change it makes.
type step struct {
	op     opKind
	change Change
	data   []byte    // content of opWrite, or value of opSetxattr
	src    io.Reader // streamed content of opWrite
	// reopen, when not nil, reads src's content again while planning.
	reopen func() io.Reader
	opts   vfs.WriteOptions
	attr   string // name of the opSetxattr attribute
	// baseSize is the existing size an append adds to.
	baseSize int64
	// command is what opRun and opRelabel run.
	command vfs.Command
}

// ErrApplied: a Plan is applied at most once.
var ErrApplied = errors.New("plan already applied")

// Apply makes the plan's changes in order and returns a Report of those it
// made. On error it stops at once and returns the Report together with the
// error (an *ItemError naming the item and path that failed): its Changes
// are those made before the failure, its NotMade the failed change and
// every later one. The failed change's file is either old or new, as the
// backend writes atomically. See the package documentation for what a
// mid-way failure leaves in the guest. A second Apply returns a nil Report
// and ErrApplied.
//
// A plan with guest commands plans each segment after a command when
// Apply reaches it (see Plan); a segment that fails planning ends Apply
// with the Report of what was made and an *ItemError, nothing of that
// segment written.
func (p *Plan) Apply(ctx context.Context, fsys vfs.FS) (*Report, error) {
	if p.applied {
		return nil, ErrApplied
	}
	p.applied = true
	defer p.Close()
	rep := &Report{Changes: []Change{}}
	for k := 0; ; k++ {
		if k == len(p.steps) {
			if p.later == nil || ctx.Err() != nil {
				break
			}
			more, paused, err := p.later.plan(ctx, fsys)
			p.closers = append(p.closers, p.later.takeClosers()...)
			if !paused {
				p.later = nil
			}
			if err != nil {
				p.later = nil
				return rep, err
			}
			p.steps = append(p.steps, more...)
			k--
			continue
		}
		s := p.steps[k]
		c, err := s.change, ctx.Err()
		if err == nil {
			c, err = s.run(ctx, fsys)
		}
		if err != nil {
			rep.NotMade = changesOf(p.steps[k:])
			rep.NotMade[0] = c
			return rep, itemErr(s.change.Item, s.change.Path, err)
		}
		rep.Changes = append(rep.Changes, c)
	}
	if err := ctx.Err(); err != nil && p.later != nil {
		return rep, err
	}
	return rep, nil
}

// Close releases what the plan holds on the host for Apply: the host
// directory and files of a CopyIn, the spool file of a TarIn. Apply
// closes the plan when it returns; a plan that is not applied, a dry
// run, should be closed. Closing twice is harmless.
func (p *Plan) Close() error {
	closeAll(p.closers)
	p.closers = nil
	return nil
}

func closeAll(cs []io.Closer) {
	for _, c := range cs {
		c.Close()
	}
}

func (s step) run(ctx context.Context, fsys vfs.FS) (Change, error) {
	c := s.change
	switch s.op {
	case opMkdirAll:
		return c, fsys.MkdirAll(ctx, c.Path, c.Mode)
	case opWrite:
		if s.src == nil {
			return c, fsys.WriteFile(ctx, c.Path, bytes.NewReader(s.data), s.opts)
		}
		cr := &countingReader{r: s.src}
		if err := fsys.WriteFile(ctx, c.Path, cr, s.opts); err != nil {
			return c, err
		}
		c.Size = s.baseSize + cr.n
		return c, nil
	case opChown:
		return c, fsys.Lchown(ctx, c.Path, c.UID, c.GID)
	case opChmod:
		return c, fsys.Chmod(ctx, c.Path, c.Mode)
	case opSymlink:
		return c, vfs.Symlink(ctx, fsys, c.Target, c.Path)
	case opSetxattr:
		return c, vfs.Lsetxattr(ctx, fsys, c.Path, s.attr, s.data)
	case opRemove:
		return c, fsys.Remove(ctx, c.Path)
	case opRename:
		return c, vfs.Rename(ctx, fsys, c.Path, c.Target)
	case opLchtimes:
		return c, vfs.Lchtimes(ctx, fsys, c.Path, c.Atime, c.Mtime)
	case opRun:
		return s.runCommand(ctx, fsys)
	case opRelabel:
		return s.runRelabel(ctx, fsys)
	case opNone:
		return c, nil
	}
	return c, fmt.Errorf("unknown step %d", s.op)
}

// simulate makes the step's change on the planning view: content stays
// where the plan holds it, streamed content is recorded as unknown, and
// labels are not tracked.
func (s step) simulate(ctx context.Context, o *overlay) error {
	switch s.op {
	case opWrite:
		return o.put(ctx, s.change.Path, s.data, s.src != nil, s.reopen, s.opts)
	case opSetxattr, opNone, opRun, opRelabel:
		return nil
	}
	_, err := s.run(ctx, o)
	return err
}

type countingReader struct {
	r io.Reader
	n int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}

// inheritOpts replaces a file keeping its mode, owner and labels.
var inheritOpts = vfs.WriteOptions{Policy: vfs.Replace, Inherit: true}
