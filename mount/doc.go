// Package mount holds guestinject's host backends: vfs.FS implementations
// that work on guest filesystems the host can reach directly.
//
// Today that is DirFS, a backend over a directory tree the caller already
// has — a guest filesystem it mounted itself or an unpacked root
// filesystem. Every guest path is resolved inside that directory with
// openat2(2) and RESOLVE_IN_ROOT, so absolute symlinks and ".." climbs in
// the tree stay inside it, and FIFOs and device nodes are never opened.
//
// Resolution protects the host from the tree's names, not from its
// filesystem: the host kernel parses whatever filesystem the directory lives
// on, so a tree mounted from an untrusted image exposes the host kernel to
// that image. Use DirFS for trees from trusted images, or for trees the
// caller built itself.
package mount
