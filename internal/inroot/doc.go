// Package inroot is the directory-tree backend of guestinject: a vfs.FS over
// a host directory in which every guest path is resolved inside that
// directory, as if it were "/".
//
// It uses only golang.org/x/sys/unix and no cgo, so the same code serves the
// host's mount package and the agent inside the appliance.
//
// # Resolution
//
// Root keeps an O_PATH descriptor of the directory. Names are resolved with
// openat2(2) and RESOLVE_IN_ROOT|RESOLVE_NO_MAGICLINKS, so absolute symlinks
// and ".." climbs are clamped to the root and proc-style magic links are
// refused; openat2's EAGAIN (a concurrent rename seen while resolving "..")
// is retried a bounded number of times.
//
// Calls that must not follow a final symlink resolve the parent directory
// in the root to an O_PATH descriptor and act on the final component with
// *at calls and AT_SYMLINK_NOFOLLOW, or on an O_PATH|O_NOFOLLOW descriptor
// of it. Nothing is ever opened for reading or writing before fstat has
// shown it to be a regular file (or, for listing, a directory): a regular
// file is reopened through its O_PATH descriptor under /proc/self/fd, so
// FIFOs and device nodes are never opened. Changing the mode of an O_PATH
// descriptor uses fchmodat2(AT_EMPTY_PATH), or /proc/self/fd on kernels
// without it; extended attributes are read and set through
// /proc/self/fd/<parent>/<name> with the l*xattr calls, which pin the parent
// directory and never follow the final name. Open therefore needs procfs at
// /proc, which it checks. Times are set with utimensat(AT_SYMLINK_NOFOLLOW)
// on the final name in its parent's descriptor.
//
// # Writes
//
// WriteFile writes a temporary file named ".guestinject-<random>.tmp" in the
// target's directory, gives it its owner, extended attributes and mode (in
// that order, because chown clears set-id bits), syncs it and renames it over
// the name, or with RENAME_NOREPLACE for vfs.Exclusive; then it syncs the
// directory. On any failure or cancellation the temporary file is removed.
package inroot
