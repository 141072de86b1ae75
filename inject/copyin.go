package inject

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"syscall"
	"time"

	"github.com/guestinject/guestinject/vfs"
)

// CopyIn copies a host directory tree, or a single host file or symlink,
// into the existing guest directory Dir, as virt-customize's --copy-in
// LOCALPATH:REMOTEDIR does: Source's base name appears in Dir, and a
// directory brings everything below it.
//
// Regular files, directories and symlinks are copied, with their
// permission and set-id bits; a symlink's target is stored as given,
// never resolved on the host or in the guest. FIFOs, sockets and device
// nodes are refused (no vfs call creates them), and so is a second name
// of a host file (a hard link met twice) unless AllowHardLinks copies it
// again as a separate file. See TreeOptions for owners, times, existing
// names and bounds. virt-customize, whose tar runs as root in its
// appliance, keeps the host's numeric owners and replaces existing files;
// here that takes KeepOwners and Replace.
//
// The host tree is read without following any symlink in it: the walk
// goes through an os.Root at Source, lists and stats each directory it
// enters, and takes every symlink as a link. Planning reads only names and
// metadata, unless a later operation reads a copied file (an Edit or
// AppendLine of it), which then reads it from the host too; file contents
// are streamed at Apply, never held whole in memory. A file is opened
// then through the same os.Root, without
// following a final symlink, and it must still be the file planned (same
// device and inode, size and modification time) and yield exactly its
// planned size, or Apply fails with ErrSourceChanged. The plan holds the
// os.Root open until Apply, or Plan.Close, ends.
type CopyIn struct {
	// Source is the host path; relative paths are taken from the working
	// directory.
	Source string `json:"source"`
	// Dir is the guest directory that receives it.
	Dir string `json:"dir"`
	TreeOptions
}

func (p *planner) planCopyIn(ctx context.Context, item Item, c CopyIn) error {
	maxEntries, maxBytes, err := c.limits(item, c.Dir)
	if err != nil {
		return err
	}
	if err := p.treeDest(ctx, item, c.Dir); err != nil {
		return err
	}
	src, err := filepath.Abs(c.Source)
	if c.Source == "" || err != nil {
		return itemErrf(item, c.Dir, ErrInvalidSpec, "host source %q", c.Source)
	}
	base := filepath.Base(src)
	if base == string(filepath.Separator) || base == "." || base == ".." {
		return itemErrf(item, c.Dir, ErrInvalidSpec, "host source %q has no base name to copy under", c.Source)
	}
	w := hostWalk{item: item, source: src, dir: c.Dir, opts: c.TreeOptions, maxEntries: maxEntries, maxBytes: maxBytes, links: map[devIno]string{}}
	info, err := os.Lstat(src)
	if err != nil {
		return itemErr(item, c.Dir, fmt.Errorf("host source: %w", err))
	}
	switch {
	case info.IsDir():
		root, err := os.OpenRoot(src)
		if err != nil {
			return itemErr(item, c.Dir, fmt.Errorf("host source: %w", err))
		}
		p.closers = append(p.closers, root)
		w.root = root
		if err := w.sameNode(".", info); err != nil {
			return err
		}
		if err := w.add(ctx, ".", base, info); err != nil {
			return err
		}
	default:
		root, err := os.OpenRoot(filepath.Dir(src))
		if err != nil {
			return itemErr(item, c.Dir, fmt.Errorf("host source: %w", err))
		}
		p.closers = append(p.closers, root)
		w.root = root
		if err := w.add(ctx, base, base, info); err != nil {
			return err
		}
	}
	for _, e := range w.entries {
		if h, ok := e.content.(*hostFile); ok {
			p.closers = append(p.closers, h)
		}
	}
	return p.planTree(ctx, item, c.Dir, w.entries, c.TreeOptions)
}

type devIno struct{ dev, ino uint64 }

// hostWalk lists a host tree for CopyIn.
type hostWalk struct {
	item       Item
	source     string // for messages
	dir        string
	root       *os.Root
	opts       TreeOptions
	maxEntries int
	maxBytes   int64
	bytes      int64
	links      map[devIno]string // host files with several names, by identity
	entries    []treeEntry
}

func (w *hostWalk) fail(hostName string, err error) error {
	return itemErr(w.item, w.dir, fmt.Errorf("host %s: %w", filepath.Join(w.source, hostName), err))
}

// sameNode checks that name in the root is still the node info described.
func (w *hostWalk) sameNode(name string, info fs.FileInfo) error {
	now, err := w.root.Lstat(name)
	if err != nil {
		return w.fail(name, err)
	}
	if !os.SameFile(now, info) {
		return w.fail(name, fmt.Errorf("%w: replaced while it was being read", ErrSourceChanged))
	}
	return nil
}

// add records the node at hostName (relative to the root) as rel, and
// everything below it when it is a directory.
func (w *hostWalk) add(ctx context.Context, hostName, rel string, info fs.FileInfo) error {
	if err := ctx.Err(); err != nil {
		return itemErr(w.item, w.dir, err)
	}
	if len(w.entries) >= w.maxEntries {
		return itemErr(w.item, w.dir, &LimitError{What: "entries", Limit: int64(w.maxEntries)})
	}
	e := treeEntry{rel: rel, mode: info.Mode() & (fs.ModeType | modeBits), mtime: info.ModTime()}
	st, _ := info.Sys().(*syscall.Stat_t)
	if st != nil && w.opts.KeepOwners {
		e.uid, e.gid = int(st.Uid), int(st.Gid)
	}
	switch t := info.Mode().Type(); t {
	case 0:
		if st != nil && st.Nlink > 1 {
			id := devIno{uint64(st.Dev), uint64(st.Ino)}
			if first, ok := w.links[id]; ok && !w.opts.AllowHardLinks {
				return w.fail(hostName, fmt.Errorf("%w: a hard link to %s, met before in the tree (AllowHardLinks copies it as a separate file)", ErrUnsupported, first))
			}
			w.links[id] = rel
		}
		if w.bytes += info.Size(); w.bytes > w.maxBytes {
			return itemErr(w.item, w.dir, &LimitError{What: "bytes", Limit: w.maxBytes})
		}
		e.size = info.Size()
		e.content = &hostFile{root: w.root, name: hostName, planned: info}
		e.reopen = func() io.Reader { return &hostFile{root: w.root, name: hostName, planned: info} }
		w.entries = append(w.entries, e)
	case fs.ModeSymlink:
		target, err := w.root.Readlink(hostName)
		if err != nil {
			return w.fail(hostName, err)
		}
		if target == "" || len(target) > vfs.MaxPathLen {
			return w.fail(hostName, fmt.Errorf("%w: symlink target of %d bytes", ErrInvalidSpec, len(target)))
		}
		e.target = target
		w.entries = append(w.entries, e)
	case fs.ModeDir:
		w.entries = append(w.entries, e)
		return w.addDir(ctx, hostName, rel, info)
	default:
		return w.fail(hostName, fmt.Errorf("%w: %w: a %v; only regular files, directories and symlinks are copied", ErrUnsupported, vfs.ErrNotRegular, t))
	}
	return nil
}

// addDir lists the directory hostName, which must still be the one
// info describes, and adds its entries in name order.
func (w *hostWalk) addDir(ctx context.Context, hostName, rel string, info fs.FileInfo) error {
	f, err := w.root.Open(hostName)
	if err != nil {
		return w.fail(hostName, err)
	}
	defer f.Close()
	if now, err := f.Stat(); err != nil || !os.SameFile(now, info) {
		return w.fail(hostName, fmt.Errorf("%w: replaced while it was being read", ErrSourceChanged))
	}
	var names []string
	for {
		batch, err := f.ReadDir(1024)
		for _, d := range batch {
			names = append(names, d.Name())
		}
		if len(w.entries)+len(names) > w.maxEntries {
			return itemErr(w.item, w.dir, &LimitError{What: "entries", Limit: int64(w.maxEntries)})
		}
		if errors.Is(err, io.EOF) || (err == nil && len(batch) == 0) {
			break
		}
		if err != nil {
			return w.fail(hostName, err)
		}
	}
	slices.Sort(names)
	for _, n := range names {
		child := n
		if hostName != "." {
			child = hostName + "/" + n
		}
		ci, err := w.root.Lstat(child)
		if err != nil {
			return w.fail(child, err)
		}
		if err := w.add(ctx, child, rel+"/"+n, ci); err != nil {
			return err
		}
	}
	return nil
}

// hostFile streams one planned host file at Apply.
type hostFile struct {
	root    *os.Root
	name    string
	planned fs.FileInfo
	f       *os.File
	left    int64
	done    bool
}

func (h *hostFile) Read(b []byte) (int, error) {
	if h.done {
		return 0, io.EOF
	}
	if h.f == nil {
		if err := h.open(); err != nil {
			h.done = true
			return 0, err
		}
	}
	if h.left == 0 {
		// Exactly the planned size, or the file grew.
		var one [1]byte
		n, err := h.f.Read(one[:])
		h.close()
		if n > 0 {
			return 0, h.changed("it grew")
		}
		if err != nil && !errors.Is(err, io.EOF) {
			return 0, err
		}
		return 0, io.EOF
	}
	if int64(len(b)) > h.left {
		b = b[:h.left]
	}
	n, err := h.f.Read(b)
	h.left -= int64(n)
	if errors.Is(err, io.EOF) && h.left > 0 {
		h.close()
		return n, h.changed("it shrank")
	}
	if errors.Is(err, io.EOF) {
		err = nil
	}
	if err != nil {
		h.close()
	}
	return n, err
}

func (h *hostFile) open() error {
	f, err := h.root.OpenFile(h.name, os.O_RDONLY|syscall.O_NOFOLLOW|syscall.O_NONBLOCK, 0)
	if err != nil {
		if now, lerr := h.root.Lstat(h.name); lerr != nil || !os.SameFile(now, h.planned) || !now.Mode().IsRegular() {
			return h.changed(fmt.Sprintf("another file is at its name (%v)", err))
		}
		return fmt.Errorf("host %s: %w", h.name, err)
	}
	info, err := f.Stat()
	switch {
	case err != nil:
		f.Close()
		return fmt.Errorf("host %s: %w", h.name, err)
	case !os.SameFile(info, h.planned) || !info.Mode().IsRegular():
		f.Close()
		return h.changed("another file is at its name")
	case info.Size() != h.planned.Size() || !info.ModTime().Equal(h.planned.ModTime()):
		f.Close()
		return h.changed(fmt.Sprintf("%d bytes modified %s, planned %d bytes modified %s", info.Size(), info.ModTime().Format(time.RFC3339Nano), h.planned.Size(), h.planned.ModTime().Format(time.RFC3339Nano)))
	}
	h.f, h.left = f, info.Size()
	return nil
}

func (h *hostFile) changed(why string) error {
	return fmt.Errorf("host %s: %w: %s", h.name, ErrSourceChanged, why)
}

func (h *hostFile) close() {
	h.done = true
	if h.f != nil {
		h.f.Close()
		h.f = nil
	}
}

// Close releases the file if Apply stopped before its end.
func (h *hostFile) Close() error {
	h.close()
	return nil
}
