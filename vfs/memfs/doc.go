// Package memfs is the in-memory reference backend of guestinject: a
// vfs.FS, vfs.XattrFS, vfs.SymlinkFS, vfs.RenameFS and vfs.TimesFS that holds a
// whole guest tree in memory and resolves names exactly as the vfs package documentation says.
// It is the executable specification the host backends are checked
// against, and the backend for unit tests of code built on vfs.
//
// # Resolution
//
// Names are walked one component at a time from the guest root, as
// openat2(2) with RESOLVE_IN_ROOT does: an absolute symlink target restarts
// at the guest root, ".." at the root stays there, a relative target
// resolves against the link's directory, and more than 40 symlinks in one
// call fail with vfs.ErrSymlinkLoop. A component that is followed by more
// (including a trailing slash in a link target) must be a directory.
//
// # Building hostile trees
//
// FS.Add inserts a Node without resolving anything: symlinks that loop,
// climb with "..", dangle or aim at host paths, FIFOs, sockets, device
// nodes and sparse giant files. Sparse files cost only their data: reads
// yield zeros for the hole.
//
// # Owners and modes
//
// Modes are kept exactly as given, with no umask. memfs runs as root: the
// default owner, used by MkdirAll and Symlink and when WriteOptions.UID or
// GID is -1, is 0:0, except that in a setgid directory new nodes take the
// directory's group, as on Linux. Any owner may be set. Lchown clears set-id bits as chown(2) does on Linux, so
// a mode is set after the owner. The kernel's rule that "user." extended attributes
// live only on regular files and directories is kept; other namespaces,
// such as "security.", are allowed on every node, symlinks included.
//
// # Writes
//
// WriteFile reads the whole content before it changes anything, then
// replaces the node in one step, so a failing reader, a cancelled context or
// an exceeded size limit leaves the tree as it was. Files that were open
// keep reading the content they were opened with.
//
// # Times
//
// Modification and access times are kept to the nanosecond. A written
// file, a new node and a directory whose entries change get the current
// time; reads never move the access time, as on a noatime mount. Lchtimes sets either time of a node, a symlink included,
// and vfs.AttrOf reports the access time.
package memfs
