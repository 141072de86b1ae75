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
// # Using it
//
// InjectImage is the main job in one call: open a disk image (checked
// against its declared format first), apply an inject.Spec, commit. Open
// gives the vfs.Session to work on by hand. Both take the backend as an
// option: Appliance, the default, parses the guest's filesystems in a
// single-use VM; TrustedHostMount lets the host kernel mount images the
// caller trusts. Every backend's session means the same: Commit keeps the
// changes, Close without Commit discards them.
//
// # Packages
//
//   - vfs: the contract every backend implements (vfs.FS, and vfs.Session
//     for image backends), the disk and root types they open, path rules,
//     errors, optional capabilities and an io/fs adapter.
//   - vfs/vfstest: the conformance suite every backend runs, hostile
//     layouts and the session section included.
//   - vfs/memfs: an in-memory reference backend for tests.
//   - vfs/vfsmock: a gomock mock of vfs.FS for interaction tests.
//   - inject: what to put into a guest (Spec), planned and applied through
//     any vfs.FS, with a report of every change.
//   - inject/cidata: a standalone cloud-init NoCloud seed volume (ISO 9660
//     or FAT32, label cidata) for callers who attach the seed instead.
//   - imagecheck: pure-Go inspection of disk image headers and a safety
//     policy for untrusted images, and their checked conversion to raw or
//     qcow2 by qemu-img under resource limits (Convert).
//   - appliance: the default backend, a single-use QEMU VM whose agent
//     serves the guest's filesystems over a private socket and runs guest
//     commands inside the VM; Pool keeps such VMs booted and hot-plugs a
//     session's disks into one; its Launcher interface is the extension
//     point for other ways to start the VM.
//   - appliance/libvirt: a Launcher that has libvirt start the VM, and
//     sessions on the disks of a defined libvirt domain (cgo).
//   - mount: host backends for trusted images and trees: an image mounted
//     by the host kernel (OpenTrusted, OpenTrustedInPlace) and a directory
//     tree served through the in-root resolver (OpenDir, or OpenDirSession
//     for a session on a copy).
//   - examples: runnable programs, the guestinject command line among them.
//   - internal: shared machinery: in-root resolution, the agent and its
//     wire protocol, the host/agent contract (internal/guestabi), the
//     initramfs builder, the accelerator choice, guest /etc parsers, the
//     confined qemu-img runner (internal/qemuimg), the QMP client of pooled
//     VMs (internal/qmp), cloud-init seed validation (internal/cloudinit), the
//     host's proxy of the opt-in package network (internal/pkgproxy); and,
//     under internal/testsupport, what only the tests use.
package guestinject
