package inject

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"slices"
	"strings"
	"time"

	"github.com/guestinject/guestinject/vfs"
)

// overlay is the guest as the plan so far would leave it: a vfs.FS whose
// reads answer from the changes planned so far and fall through to the
// guest for everything else, and whose writes change only memory. The
// planner reads through it, so each operation is planned against the
// guest as the earlier ones leave it (a move then a write to the new
// name, a mkdir then a file inside, a delete then a create), and it
// replays every planned step on it, so a plan whose steps contradict each
// other fails while planning, before Apply writes anything.
//
// Nodes are kept by their canonical path: the path with every symlink on
// the way resolved, in the root, against the overlay itself. Resolution
// walks one component at a time, asking the overlay first and the guest
// (by the node's guest path, which differs from its canonical path once
// a parent has been moved) otherwise, so links are followed as the vfs
// contract says, through planned links and planned moves alike, and never
// out of the root.
//
// Unlike the backends it is not safe for concurrent use: one planner owns
// it for one NewPlan call.
//
// Nothing writes to the guest while planning, so what the guest answers
// for a path is remembered: a deep tree is walked once, not once per
// lookup, which matters when every lookup is a round trip to an appliance.
type overlay struct {
	lower vfs.FS
	nodes map[string]*onode
	// kids indexes nodes by directory: kids[d] holds the names below d
	// that lead to a node, so listing a directory or dropping a subtree
	// costs its size, not the plan's. Names are added with every node and
	// its parents; an entry may outlive its node (readers check nodes).
	kids map[string]map[string]bool
	// lstats and links cache the guest's answers by guest path.
	lstats map[string]lstatResult
	links  map[string]string
	// contents caches the guest's small files read whole, by guest path:
	// operations read /etc/passwd and /etc/group one after another, and
	// each read is a round trip to an appliance. contentBytes is their
	// total, bounded by maxCachedContents.
	contents     map[string]cachedContent
	contentBytes int
}

// cachedContent is a guest file read whole while planning.
type cachedContent struct {
	data []byte
	info fs.FileInfo
}

// Bounds of the cache of guest files: a file is kept when it is no
// larger than maxCachedFile (every configuration file a plan reads),
// until the cache holds maxCachedContents.
const (
	maxCachedFile     = 64 << 10
	maxCachedContents = 4 << 20
)

type lstatResult struct {
	info fs.FileInfo
	err  error
}

// onode is one planned node. A node with lower set still has the guest's
// children (a directory) or content (a file) at that guest path.
type onode struct {
	gone     bool // removed: nothing is here, and the guest's children are hidden
	mode     fs.FileMode
	uid, gid int // -1 when the guest reports no owners
	size     int64
	modTime  time.Time
	atime    time.Time
	target   string // of a symlink; "" means the guest's, read at lower
	lower    string // guest path of the content or children, "" for none
	data     []byte // planned content of a regular file
	hasData  bool
	streamed bool // the content is streamed at Apply: unknown while planning
	// reopen, when not nil, reads streamed content while planning.
	reopen func() io.Reader
}

var (
	_ vfs.FS        = (*overlay)(nil)
	_ vfs.SymlinkFS = (*overlay)(nil)
	_ vfs.RenameFS  = (*overlay)(nil)
	_ vfs.TimesFS   = (*overlay)(nil)
)

func newOverlay(lower vfs.FS) *overlay {
	return &overlay{lower: lower, nodes: map[string]*onode{}, kids: map[string]map[string]bool{}, lstats: map[string]lstatResult{}, links: map[string]string{},
		contents: map[string]cachedContent{}}
}

// lowerLstat is the guest's Lstat of name, asked once; errors are
// remembered only when they say what is there (nothing, not a directory,
// a loop), not when the call itself failed.
func (o *overlay) lowerLstat(ctx context.Context, name string) (fs.FileInfo, error) {
	if r, ok := o.lstats[name]; ok {
		return r.info, r.err
	}
	info, err := o.lower.Lstat(ctx, name)
	err = unwrapPathErr(err)
	o.rememberLstat(name, info, err)
	return info, err
}

// rememberLstat keeps the guest's answer for name when it says what is
// there (nothing, not a directory, a loop), not when the call failed.
func (o *overlay) rememberLstat(name string, info fs.FileInfo, err error) {
	if err == nil || errors.Is(err, fs.ErrNotExist) || errors.Is(err, vfs.ErrNotDir) || errors.Is(err, vfs.ErrSymlinkLoop) {
		o.lstats[name] = lstatResult{info, err}
	}
}

// prefetch asks a guest that answers many Lstats in one call
// (vfs.LstatManyFS, the appliance) for every component of the names that
// it has not answered yet, from the root down, before walks look at them
// one by one: the components of one path, or everything a Spec's phases
// will look at. The names are the guest's own paths: where a component
// turns out to be a symlink, or a node the plan made, the walk looks
// elsewhere and the extra answers are not used. Errors are left to the
// walk, which asks again.
func (o *overlay) prefetch(ctx context.Context, names ...string) {
	m, ok := o.lower.(vfs.LstatManyFS)
	if !ok {
		return
	}
	var ask []string
	asked := map[string]bool{}
	want := func(p string) (more bool) {
		if r, ok := o.lstats[p]; ok {
			// Below a known non-directory the walk asks for nothing.
			return r.err == nil && r.info.IsDir()
		}
		if !asked[p] {
			asked[p] = true
			ask = append(ask, p)
		}
		return true
	}
	for _, name := range names {
		if !vfs.ValidPath(name) || !want("/") {
			continue
		}
		p := "/"
		for _, elem := range vfs.Components(name) {
			p = vfs.Join(p, elem)
			if !want(p) {
				break
			}
		}
	}
	if len(ask) < 2 {
		return // the walk asks for one name by itself
	}
	for chunk := range slices.Chunk(ask, vfs.MaxLstatMany) {
		results, err := m.LstatMany(ctx, chunk)
		if err != nil {
			return
		}
		for i, r := range results {
			o.rememberLstat(chunk[i], r.Info, unwrapPathErr(r.Err))
		}
	}
}

// place is a name resolved in the overlay: a planned node, or a guest
// node that the plan has not touched.
type place struct {
	path  string      // canonical
	lower string      // guest path backing it, "" for none
	node  *onode      // planned node, nil for an untouched guest node
	info  fs.FileInfo // of the untouched guest node
}

func (p place) mode() fs.FileMode {
	if p.node != nil {
		return p.node.mode
	}
	return p.info.Mode()
}

func (p place) isDir() bool     { return p.mode().IsDir() }
func (p place) isSymlink() bool { return p.mode()&fs.ModeSymlink != 0 }

func (o *overlay) rootPlace(ctx context.Context) (place, error) {
	if n, ok := o.nodes["/"]; ok {
		return place{path: "/", lower: n.lower, node: n}, nil
	}
	info, err := o.lowerLstat(ctx, "/")
	if err != nil {
		return place{}, err
	}
	return place{path: "/", lower: "/", info: info}, nil
}

// child looks elem up in the directory dir.
func (o *overlay) child(ctx context.Context, dir place, elem string) (place, error) {
	p := vfs.Join(dir.path, elem)
	if n, ok := o.nodes[p]; ok {
		if n.gone {
			return place{}, fs.ErrNotExist
		}
		return place{path: p, lower: n.lower, node: n}, nil
	}
	if dir.lower == "" {
		return place{}, fs.ErrNotExist
	}
	lp := vfs.Join(dir.lower, elem)
	info, err := o.lowerLstat(ctx, lp)
	if err != nil {
		return place{}, err
	}
	return place{path: p, lower: lp, info: info}, nil
}

// maxLinks bounds the symlinks one resolution follows, as on Linux.
const maxLinks = 40

// resolve walks name from the root as the vfs contract says: symlinks in
// intermediate components are followed in the root, and the final one
// when follow is set; ".." stops at the root.
func (o *overlay) resolve(ctx context.Context, name string, follow bool) (place, error) {
	o.prefetch(ctx, name)
	root, err := o.rootPlace(ctx)
	if err != nil {
		return place{}, unwrapPathErr(err)
	}
	stack := []place{root}
	rest := vfs.Components(name)
	links := 0
	for len(rest) > 0 {
		elem := rest[0]
		rest = rest[1:]
		cur := stack[len(stack)-1]
		if !cur.isDir() {
			return place{}, vfs.ErrNotDir
		}
		switch elem {
		case "", ".":
			continue
		case "..":
			if len(stack) > 1 {
				stack = stack[:len(stack)-1]
			}
			continue
		}
		next, err := o.child(ctx, cur, elem)
		if err != nil {
			return place{}, err
		}
		if !next.isSymlink() || (len(rest) == 0 && !follow) {
			stack = append(stack, next)
			continue
		}
		if links++; links > maxLinks {
			return place{}, fmt.Errorf("%w: more than %d symlinks", vfs.ErrSymlinkLoop, maxLinks)
		}
		target, err := o.linkTarget(ctx, next)
		if err != nil {
			return place{}, err
		}
		if target == "" {
			return place{}, fs.ErrNotExist
		}
		if target[0] == '/' {
			stack = stack[:1]
			target = target[1:]
		}
		rest = append(strings.Split(target, "/"), rest...)
	}
	return stack[len(stack)-1], nil
}

func (o *overlay) linkTarget(ctx context.Context, p place) (string, error) {
	if p.node != nil && p.node.target != "" {
		return p.node.target, nil
	}
	if t, ok := o.links[p.lower]; ok {
		return t, nil
	}
	t, err := o.lower.Readlink(ctx, p.lower)
	if err != nil {
		return "", unwrapPathErr(err)
	}
	o.links[p.lower] = t
	return t, nil
}

// unwrapPathErr strips the guest's *fs.PathError, which names the guest
// path rather than the one asked for; the overlay's callers name theirs.
func unwrapPathErr(err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}

func (o *overlay) begin(ctx context.Context, op, name string) error {
	if err := vfs.CheckPath(op, name); err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return &fs.PathError{Op: op, Path: name, Err: err}
	}
	return nil
}

func (o *overlay) info(ctx context.Context, op, name string, follow bool) (fs.FileInfo, error) {
	if err := o.begin(ctx, op, name); err != nil {
		return nil, err
	}
	p, err := o.resolve(ctx, name, follow)
	if err != nil {
		return nil, &fs.PathError{Op: op, Path: name, Err: err}
	}
	_, base := vfs.Split(p.path)
	if p.path == "/" {
		base = "/"
	}
	return p.fileInfo(base), nil
}

func (p place) fileInfo(name string) fs.FileInfo {
	if p.node == nil {
		return namedInfo{p.info, name}
	}
	return &nodeInfo{name: name, n: *p.node}
}

// Stat implements vfs.FS.
func (o *overlay) Stat(ctx context.Context, name string) (fs.FileInfo, error) {
	return o.info(ctx, "stat", name, true)
}

// Lstat implements vfs.FS.
func (o *overlay) Lstat(ctx context.Context, name string) (fs.FileInfo, error) {
	return o.info(ctx, "lstat", name, false)
}

// Readlink implements vfs.FS.
func (o *overlay) Readlink(ctx context.Context, name string) (string, error) {
	const op = "readlink"
	if err := o.begin(ctx, op, name); err != nil {
		return "", err
	}
	p, err := o.resolve(ctx, name, false)
	if err == nil && !p.isSymlink() {
		err = fs.ErrInvalid
	}
	var t string
	if err == nil {
		t, err = o.linkTarget(ctx, p)
	}
	if err != nil {
		return "", &fs.PathError{Op: op, Path: name, Err: err}
	}
	return t, nil
}

// ReadDir implements vfs.FS.
func (o *overlay) ReadDir(ctx context.Context, name string) ([]fs.DirEntry, error) {
	const op = "readdir"
	if err := o.begin(ctx, op, name); err != nil {
		return nil, err
	}
	p, err := o.resolve(ctx, name, true)
	if err == nil && !p.isDir() {
		err = vfs.ErrNotDir
	}
	var entries []fs.DirEntry
	if err == nil {
		entries, err = o.entries(ctx, p)
	}
	if err != nil {
		return nil, &fs.PathError{Op: op, Path: name, Err: err}
	}
	return entries, nil
}

// entries lists the directory p: the guest's entries the plan has not
// touched, and the planned ones.
func (o *overlay) entries(ctx context.Context, p place) ([]fs.DirEntry, error) {
	var out []fs.DirEntry
	if p.lower != "" {
		lower, err := o.lower.ReadDir(ctx, p.lower)
		if err != nil {
			return nil, unwrapPathErr(err)
		}
		for _, e := range lower {
			if _, planned := o.nodes[vfs.Join(p.path, e.Name())]; !planned {
				out = append(out, e)
			}
		}
	}
	for base := range o.kids[p.path] {
		if n, ok := o.nodes[vfs.Join(p.path, base)]; ok && !n.gone {
			out = append(out, fs.FileInfoToDirEntry(&nodeInfo{name: base, n: *n}))
		}
	}
	slices.SortFunc(out, func(a, b fs.DirEntry) int { return strings.Compare(a.Name(), b.Name()) })
	return out, nil
}

// Open implements vfs.FS.
func (o *overlay) Open(ctx context.Context, name string) (vfs.File, error) {
	const op = "open"
	if err := o.begin(ctx, op, name); err != nil {
		return nil, err
	}
	p, err := o.resolve(ctx, name, true)
	if err == nil && !p.mode().IsRegular() {
		err = fmt.Errorf("%w: a %v", vfs.ErrNotRegular, p.mode().Type())
	}
	if err != nil {
		return nil, &fs.PathError{Op: op, Path: name, Err: err}
	}
	switch n := p.node; {
	case n == nil || (!n.hasData && !n.streamed):
		if c, ok := o.contents[p.lower]; ok {
			return &plannedFile{Reader: bytes.NewReader(c.data), info: c.info}, nil
		}
		f, err := o.lower.Open(ctx, p.lower)
		if err != nil {
			return nil, &fs.PathError{Op: op, Path: name, Err: unwrapPathErr(err)}
		}
		return o.remember(p.lower, f), nil
	case n.streamed && n.reopen != nil:
		_, base := vfs.Split(p.path)
		return &streamedFile{Reader: n.reopen(), info: &nodeInfo{name: base, n: *n}}, nil
	case n.streamed:
		return nil, &fs.PathError{Op: op, Path: name, Err: fmt.Errorf("%w: its content is streamed at Apply and cannot be read while planning", ErrUnsupported)}
	default:
		_, base := vfs.Split(p.path)
		return &plannedFile{Reader: bytes.NewReader(n.data), info: &nodeInfo{name: base, n: *n}}, nil
	}
}

// materialize returns the planned node at p, making one from the guest's
// when the plan has not touched it yet.
func (o *overlay) materialize(p place) *onode {
	if p.node != nil {
		return p.node
	}
	n := &onode{mode: p.info.Mode(), uid: -1, gid: -1, size: p.info.Size(), modTime: p.info.ModTime(), lower: p.lower}
	if a, ok := vfs.AttrOf(p.info); ok {
		n.uid, n.gid, n.atime = a.UID, a.GID, a.Atime
	}
	o.setNode(p.path, n)
	return n
}

// parentOf resolves the directory that holds name, following every link.
func (o *overlay) parentOf(ctx context.Context, name string) (place, string, error) {
	dir, base := vfs.Split(name)
	p, err := o.resolve(ctx, dir, true)
	if err != nil {
		return place{}, "", err
	}
	if !p.isDir() {
		return place{}, "", vfs.ErrNotDir
	}
	return p, base, nil
}

// MkdirAll implements vfs.FS.
func (o *overlay) MkdirAll(ctx context.Context, name string, perm fs.FileMode) error {
	const op = "mkdirall"
	if err := o.begin(ctx, op, name); err != nil {
		return err
	}
	prefix := ""
	for _, elem := range vfs.Components(name) {
		prefix += "/" + elem
		p, err := o.resolve(ctx, prefix, true)
		if err == nil && !p.isDir() {
			err = vfs.ErrNotDir
		}
		if errors.Is(err, fs.ErrNotExist) {
			var dir place
			if dir, _, err = o.parentOf(ctx, prefix); err == nil {
				if _, lerr := o.child(ctx, dir, elem); lerr == nil {
					err = fmt.Errorf("%w: a dangling symlink is in the way", fs.ErrExist)
				} else {
					now := time.Now()
					o.setNode(vfs.Join(dir.path, elem), &onode{mode: fs.ModeDir | perm&modeBits, modTime: now, atime: now})
				}
			}
		}
		if err != nil {
			return &fs.PathError{Op: op, Path: name, Err: fmt.Errorf("%s: %w", prefix, err)}
		}
	}
	return nil
}

const modeBits = fs.ModePerm | specialBits

// WriteFile implements vfs.FS, in memory.
func (o *overlay) WriteFile(ctx context.Context, name string, r io.Reader, opts vfs.WriteOptions) error {
	data, err := io.ReadAll(r)
	if err != nil {
		return &fs.PathError{Op: "writefile", Path: name, Err: err}
	}
	return o.put(ctx, name, data, false, nil, opts)
}

// put plans writing data (or, when streamed, content known only at Apply)
// to name as WriteFile would. reopen, when not nil, reads streamed
// content again while planning, so later steps can read the file.
func (o *overlay) put(ctx context.Context, name string, data []byte, streamed bool, reopen func() io.Reader, opts vfs.WriteOptions) error {
	const op = "writefile"
	if err := o.begin(ctx, op, name); err != nil {
		return err
	}
	if name == "/" {
		return &fs.PathError{Op: op, Path: name, Err: vfs.ErrIsDir}
	}
	dir, base, err := o.parentOf(ctx, name)
	if err != nil {
		return &fs.PathError{Op: op, Path: name, Err: err}
	}
	old, err := o.child(ctx, dir, base)
	exists := err == nil
	switch {
	case err != nil && !errors.Is(err, fs.ErrNotExist):
	case !exists:
		err = nil
	case opts.Policy == vfs.Exclusive:
		err = fs.ErrExist
	case old.isSymlink():
		err = vfs.ErrIsSymlink
	case old.isDir():
		err = vfs.ErrIsDir
	case !old.mode().IsRegular():
		err = vfs.ErrNotRegular
	}
	if err != nil {
		return &fs.PathError{Op: op, Path: name, Err: err}
	}
	now := time.Now()
	n := &onode{mode: opts.Perm & modeBits, uid: max(opts.UID, 0), gid: max(opts.GID, 0), modTime: now, atime: now, data: data, hasData: !streamed, streamed: streamed, size: int64(len(data))}
	if exists && opts.Policy == vfs.Append {
		switch on := old.node; {
		case streamed || (on != nil && on.streamed && on.reopen == nil):
			n.hasData, n.streamed, n.data = false, true, nil
		default:
			f, err := o.Open(ctx, name)
			if err != nil {
				return err
			}
			prev, err := io.ReadAll(f)
			f.Close()
			if err != nil {
				return &fs.PathError{Op: op, Path: name, Err: err}
			}
			n.data = append(prev, data...)
			n.size = int64(len(n.data))
		}
	}
	if n.streamed && opts.Policy != vfs.Append {
		n.reopen = reopen
	}
	if exists && opts.Inherit {
		on := o.materialize(old)
		n.mode, n.uid, n.gid = on.mode, on.uid, on.gid
	}
	o.setNode(vfs.Join(dir.path, base), n)
	return nil
}

// Chmod implements vfs.FS, in memory.
func (o *overlay) Chmod(ctx context.Context, name string, mode fs.FileMode) error {
	const op = "chmod"
	if err := o.begin(ctx, op, name); err != nil {
		return err
	}
	p, err := o.resolve(ctx, name, false)
	if err == nil && p.isSymlink() {
		err = vfs.ErrIsSymlink
	}
	if err != nil {
		return &fs.PathError{Op: op, Path: name, Err: err}
	}
	n := o.materialize(p)
	n.mode = n.mode.Type() | mode&modeBits
	return nil
}

// Lchown implements vfs.FS, in memory, clearing set-id bits as Linux does.
func (o *overlay) Lchown(ctx context.Context, name string, uid, gid int) error {
	const op = "lchown"
	if err := o.begin(ctx, op, name); err != nil {
		return err
	}
	p, err := o.resolve(ctx, name, false)
	if err != nil {
		return &fs.PathError{Op: op, Path: name, Err: err}
	}
	n := o.materialize(p)
	if uid != -1 {
		n.uid = uid
	}
	if gid != -1 {
		n.gid = gid
	}
	if !n.mode.IsDir() {
		n.mode &^= fs.ModeSetuid
		if n.mode&0o010 != 0 {
			n.mode &^= fs.ModeSetgid
		}
	}
	return nil
}

// Remove implements vfs.FS, in memory.
func (o *overlay) Remove(ctx context.Context, name string) error {
	const op = "remove"
	if err := o.begin(ctx, op, name); err != nil {
		return err
	}
	if name == "/" {
		return &fs.PathError{Op: op, Path: name, Err: fs.ErrPermission}
	}
	p, err := o.resolve(ctx, name, false)
	if err == nil && p.isDir() {
		var entries []fs.DirEntry
		if entries, err = o.entries(ctx, p); err == nil && len(entries) > 0 {
			err = vfs.ErrNotEmpty
		}
	}
	if err != nil {
		return &fs.PathError{Op: op, Path: name, Err: err}
	}
	o.dropBelow(p.path)
	o.setNode(p.path, &onode{gone: true})
	return nil
}

// dropBelow forgets the planned nodes under the directory path.
func (o *overlay) dropBelow(path string) {
	for _, k := range o.below(path) {
		delete(o.nodes, k)
		delete(o.kids, k)
	}
	delete(o.kids, path)
}

// setNode plans n at the canonical path p.
func (o *overlay) setNode(p string, n *onode) {
	o.nodes[p] = n
	for p != "/" {
		dir, base := vfs.Split(p)
		names := o.kids[dir]
		if names == nil {
			names = map[string]bool{}
			o.kids[dir] = names
		}
		if names[base] {
			break // and so are the directories above
		}
		names[base] = true
		p = dir
	}
}

// below lists the paths strictly below the directory dir that lead to
// planned nodes, parents before children.
func (o *overlay) below(dir string) []string {
	var out []string
	for i, next := 0, []string{dir}; i < len(next); i++ {
		for base := range o.kids[next[i]] {
			k := vfs.Join(next[i], base)
			out = append(out, k)
			next = append(next, k)
		}
	}
	return out
}

// under reports whether k is strictly below the directory dir.
func under(k, dir string) bool {
	if dir == "/" {
		return k != "/"
	}
	return strings.HasPrefix(k, dir+"/")
}

// Symlink implements vfs.SymlinkFS, in memory.
func (o *overlay) Symlink(ctx context.Context, target, name string) error {
	const op = "symlink"
	if err := o.begin(ctx, op, name); err != nil {
		return err
	}
	if name == "/" {
		return &fs.PathError{Op: op, Path: name, Err: fs.ErrExist}
	}
	dir, base, err := o.freeName(ctx, name)
	if err != nil {
		return &fs.PathError{Op: op, Path: name, Err: err}
	}
	now := time.Now()
	o.setNode(vfs.Join(dir.path, base), &onode{mode: fs.ModeSymlink | 0o777, target: target, size: int64(len(target)), modTime: now, atime: now})
	return nil
}

// freeName resolves the parent of name and checks that nothing is there
// under name: what a new node needs.
func (o *overlay) freeName(ctx context.Context, name string) (dir place, base string, err error) {
	dir, base, err = o.parentOf(ctx, name)
	if err != nil {
		return dir, base, err
	}
	if _, lerr := o.child(ctx, dir, base); lerr == nil {
		return dir, base, fs.ErrExist
	} else if !errors.Is(lerr, fs.ErrNotExist) {
		return dir, base, lerr
	}
	return dir, base, nil
}

// Rename implements vfs.RenameFS, in memory: the node and every planned
// node below it change path; guest content stays where the guest has it.
func (o *overlay) Rename(ctx context.Context, oldname, newname string) error {
	const op = "rename"
	if err := vfs.CheckPath(op, newname); err != nil {
		return err
	}
	if err := o.begin(ctx, op, oldname); err != nil {
		return err
	}
	if oldname == "/" || newname == "/" {
		return &fs.PathError{Op: op, Path: oldname, Err: fs.ErrInvalid}
	}
	src, err := o.resolve(ctx, oldname, false)
	if err != nil {
		return &fs.PathError{Op: op, Path: oldname, Err: err}
	}
	dir, base, err := o.freeName(ctx, newname)
	if err != nil {
		return &fs.PathError{Op: op, Path: newname, Err: err}
	}
	dst := vfs.Join(dir.path, base)
	if src.isDir() && (dst == src.path || under(dst, src.path)) {
		return &fs.PathError{Op: op, Path: oldname, Err: fs.ErrInvalid}
	}
	n := o.materialize(src)
	moved := map[string]*onode{}
	for _, k := range o.below(src.path) {
		if c, ok := o.nodes[k]; ok {
			moved[dst+k[len(src.path):]] = c
		}
	}
	o.dropBelow(src.path)
	o.setNode(src.path, &onode{gone: true})
	for k, c := range moved {
		o.setNode(k, c)
	}
	o.setNode(dst, n)
	return nil
}

// Lchtimes implements vfs.TimesFS, in memory: the times of name itself,
// a final symlink not followed; a zero time leaves that one.
func (o *overlay) Lchtimes(ctx context.Context, name string, atime, mtime time.Time) error {
	const op = "lchtimes"
	if err := o.begin(ctx, op, name); err != nil {
		return err
	}
	p, err := o.resolve(ctx, name, false)
	if err != nil {
		return &fs.PathError{Op: op, Path: name, Err: err}
	}
	n := o.materialize(p)
	if !atime.IsZero() {
		n.atime = atime.Round(0)
	}
	if !mtime.IsZero() {
		n.modTime = mtime.Round(0)
	}
	return nil
}

// Close implements vfs.FS; the guest below is the caller's to close.
func (o *overlay) Close() error { return nil }

// namedInfo is a guest FileInfo under the name the overlay knows it by.
type namedInfo struct {
	fs.FileInfo
	name string
}

func (i namedInfo) Name() string { return i.name }

// nodeInfo describes a planned node.
type nodeInfo struct {
	name string
	n    onode
}

func (i *nodeInfo) Name() string       { return i.name }
func (i *nodeInfo) Size() int64        { return i.n.size }
func (i *nodeInfo) Mode() fs.FileMode  { return i.n.mode }
func (i *nodeInfo) ModTime() time.Time { return i.n.modTime }
func (i *nodeInfo) IsDir() bool        { return i.n.mode.IsDir() }
func (i *nodeInfo) Sys() any {
	if i.n.uid < 0 || i.n.gid < 0 {
		return nil
	}
	return &vfs.Attr{UID: i.n.uid, GID: i.n.gid, Nlink: 1, Atime: i.n.atime}
}

// plannedFile is planned content opened for reading.
type plannedFile struct {
	*bytes.Reader
	info fs.FileInfo
}

func (f *plannedFile) Stat() (fs.FileInfo, error) { return f.info, nil }
func (f *plannedFile) Close() error               { return nil }

// remember returns f, which keeps its content in o.contents under lower
// when it is read whole, small enough and while the cache has room.
func (o *overlay) remember(lower string, f vfs.File) vfs.File {
	info, err := f.Stat()
	if err != nil || info.Size() > maxCachedFile || o.contentBytes+maxCachedFile > maxCachedContents {
		return f
	}
	return &recordingFile{File: f, done: func(data []byte) {
		if _, ok := o.contents[lower]; !ok && o.contentBytes+len(data) <= maxCachedContents {
			o.contents[lower] = cachedContent{data: data, info: info}
			o.contentBytes += len(data)
		}
	}}
}

// recordingFile is a guest file whose content is kept as it is read; a
// read to its end within maxCachedFile bytes hands the content to done.
type recordingFile struct {
	vfs.File
	data []byte
	over bool // more than maxCachedFile, or a read failed: nothing is kept
	done func(data []byte)
}

func (f *recordingFile) Read(p []byte) (int, error) {
	n, err := f.File.Read(p)
	if f.over {
		return n, err
	}
	if len(f.data)+n > maxCachedFile {
		f.over, f.data = true, nil
		return n, err
	}
	f.data = append(f.data, p[:n]...)
	switch {
	case err == io.EOF:
		f.over = true // handed over once
		f.done(f.data)
	case err != nil:
		f.over, f.data = true, nil
	}
	return n, err
}

// streamedFile is streamed content read again while planning.
type streamedFile struct {
	io.Reader
	info fs.FileInfo
}

func (f *streamedFile) Stat() (fs.FileInfo, error) { return f.info, nil }

func (f *streamedFile) Close() error {
	if c, ok := f.Reader.(io.Closer); ok {
		return c.Close()
	}
	return nil
}
