// Package guestinject puts files into virtual machine disk images before
// first boot — SSH keys, passwords, network configuration, metadata,
// arbitrary files — without exposing the host to the image.
//
// # Threat model
//
// The image is hostile. Its header may name host files (backing files,
// data files, VMDK extents), its content may pretend to be another format
// than the one declared, its virtual size may be absurd, and its filesystem
// may hold symlinks to host paths, ".." chains, loops, FIFOs, device nodes
// and giant files. The kernel's filesystem drivers are attack surface too.
// guestinject therefore never probes a format (the caller declares it and
// the content must agree), never follows a name found inside an image on
// the host, bounds sizes, reads, time and memory, resolves every guest path
// inside the guest root as openat2(2) RESOLVE_IN_ROOT does, and writes each
// file atomically.
//
// # Packages
//
//   - vfs: the contract every backend implements (vfs.FS), its path rules,
//     errors and optional capabilities, and an io/fs adapter.
//   - vfs/vfstest: the conformance suite every backend runs, hostile
//     layouts included.
//   - vfs/memfs: an in-memory reference backend for tests.
//   - vfs/vfsmock: a gomock mock of vfs.FS for interaction tests.
//   - mount: host backends for trees the caller trusts; today a directory
//     tree served through the in-root resolver.
//   - imagecheck: pure-Go inspection of disk image headers and a safety
//     policy for untrusted images.
//   - inject: what to put into a guest (Spec), planned and applied through
//     any vfs.FS, with a report of every change.
//   - internal: shared machinery (in-root resolution, guest /etc parsers).
package guestinject
