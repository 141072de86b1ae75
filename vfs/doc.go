// Package vfs defines the contract every guestinject backend implements: FS, a
// guest filesystem whose every path resolves inside the guest root.
//
// # Paths
//
// Names are absolute, clean, slash-separated guest paths such as "/etc/shadow".
// "/" is the guest root. A name that is relative, unclean ("/a/../b", "/a/",
// "//a"), empty, or holds a NUL byte is rejected with ErrInvalidPath before any
// I/O; see CheckPath.
//
// # Resolution
//
// Backends resolve names the way openat2(2) does with RESOLVE_IN_ROOT:
//
//   - Symlinks in intermediate components are followed, absolute or relative, as
//     if the guest root were the host's "/". A link to "/run/x" means
//     <guest root>/run/x, never the host's /run/x.
//   - ".." in a link target never climbs above the guest root; at the root it
//     stays at the root.
//   - Proc-style "magic" links are never followed.
//   - Too many links (a loop) fail with ErrSymlinkLoop.
//
// Reading calls (Stat, Open, ReadDir) follow a final symlink, in the root.
// Lstat, Readlink and every call that changes something (WriteFile, Chmod,
// Lchown, Remove, and the optional Lsetxattr, Symlink, Rename and Lchtimes)
// never follow the final component: WriteFile and Chmod refuse a final symlink
// with ErrIsSymlink, Lchown, Remove, Rename and Lchtimes act on the link
// itself.
//
// # Files
//
// Only regular files are opened or written. A FIFO, socket or device node where
// a file is expected is refused with ErrNotRegular and is never opened, so a
// FIFO cannot block the caller and a device node cannot expose host hardware.
// Use ReadFile with a limit to read guest files whose size the guest controls.
//
// WriteFile is atomic for every policy: the new content goes to a temporary
// file in the same directory, gets its mode and owner, and is then renamed
// over the name (or linked without replacing, for Exclusive). A failed or
// cancelled write leaves the old file, or no file, and no temporary behind.
// When a write is durable is the backend's to say: the host directory and
// mount backends sync each file and its directory, the appliance makes all
// of them durable at once when Commit unmounts the guest's filesystems.
//
// # Errors
//
// Every error from a backend is an *fs.PathError naming the operation and the
// guest path, wrapping one of the sentinels of this package or of io/fs
// (fs.ErrNotExist, fs.ErrExist, fs.ErrPermission, fs.ErrInvalid,
// fs.ErrClosed). Match them with errors.Is.
//
// # Capabilities
//
// Operations only some backends offer live in separate interfaces (XattrFS,
// SymlinkFS, RenameFS, TimesFS), io/fs style; the helpers Lsetxattr,
// Lgetxattr, Llistxattr, Symlink, Rename and Lchtimes use them when present
// and fail with ErrNotSupported otherwise. Rename never replaces an existing
// name, so a move cannot destroy a file the caller has not looked at.
// Lchtimes sets access and modification times, a zero time leaving that one
// as it is; Attr.Atime reads the access time back where a backend reports it.
// LstatManyFS answers the Lstats of many names in one call, for backends
// where each call is a round trip (the appliance); LstatMany falls back to
// one Lstat per name elsewhere.
// CommandFS runs the guest's own programs against its root; only a backend
// that can contain them (the appliance's VM) offers it, and ErrCannotRun
// says the guest's programs cannot run there.
//
// # Context
//
// Every call takes a context.Context first and returns its error once the
// context is done. Reads through an open File are bounded by the caller.
package vfs
