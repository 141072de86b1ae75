package memfs

import (
	"fmt"
	"io/fs"
	"strings"

	"github.com/guestinject/guestinject/vfs"
)

// maxLinks is how many symlinks one call may follow, as on Linux.
const maxLinks = 40

// resolve walks the guest path name from the root, following symlinks in
// intermediate components and, when followFinal is set, in the final one.
// Errors wrap the contract's sentinels; callers put them in an
// *fs.PathError.
func (m *FS) resolve(name string, followFinal bool) (*inode, error) {
	cur := m.root
	rest := vfs.Components(name)
	links := 0
	for len(rest) > 0 {
		elem := rest[0]
		rest = rest[1:]
		// Whatever comes next is looked up in cur, so cur must be a
		// directory: "file/x", "file/.", "file/.." and "file/" all fail.
		if !cur.isDir() {
			return nil, vfs.ErrNotDir
		}
		switch elem {
		case "", ".":
			continue
		case "..":
			cur = cur.parent
			continue
		}
		next, ok := cur.children[elem]
		if !ok {
			return nil, fs.ErrNotExist
		}
		if !next.isSymlink() || (len(rest) == 0 && !followFinal) {
			cur = next
			continue
		}
		links++
		if links > maxLinks {
			return nil, fmt.Errorf("%w: more than %d symlinks", vfs.ErrSymlinkLoop, maxLinks)
		}
		target := next.target
		if target == "" {
			return nil, fs.ErrNotExist // as Linux does for an empty link
		}
		if target[0] == '/' {
			cur = m.root // the guest root, never the host's
			target = target[1:]
		}
		// A trailing slash leaves an empty last element, which demands a
		// directory as the walk above does.
		rest = append(strings.Split(target, "/"), rest...)
	}
	return cur, nil
}

// parentDir resolves the directory holding name, following every symlink
// on the way, and returns it with the final component, which it does not
// look up. For "/" it returns the root and "".
func (m *FS) parentDir(name string) (*inode, string, error) {
	if name == "/" {
		return m.root, "", nil
	}
	dir, base := vfs.Split(name)
	d, err := m.resolve(dir, true)
	if err != nil {
		return nil, "", err
	}
	if !d.isDir() {
		return nil, "", vfs.ErrNotDir
	}
	return d, base, nil
}

// final returns name itself, a final symlink included.
func (m *FS) final(name string) (*inode, error) {
	return m.resolve(name, false)
}
