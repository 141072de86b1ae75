// Package mount holds guestinject's host backends: vfs.FS implementations
// that work on guest filesystems the host kernel itself parses.
//
// # Images you trust: Open
//
// Open mounts a guest disk image on the host and returns a Session that
// serves its filesystem. It is fast (a few milliseconds for a raw image,
// against seconds for a VM) and exists for images the caller produced or
// otherwise controls: the host kernel parses the image's filesystem, and a
// crafted filesystem can attack that kernel. Open therefore refuses with
// ErrNotTrusted unless it is given AcceptHostKernelRisk. For images from
// anyone else use the appliance package, which parses them in a VM.
//
// Within that limit Open is as careful as it can be:
//
//   - The format is declared ("raw" or "qcow2"), never probed, and
//     imagecheck verifies that the content agrees and that the image names
//     no other file, on the same descriptor that is then attached.
//   - The partition table (GPT or MBR) is read by this package, and each
//     volume's filesystem type by internal/blkid from its superblock. The
//     volume is the one Partition, FilesystemLabel or FilesystemUUID
//     names, or else the only Linux filesystem; its type must be ext2,
//     ext3, ext4, xfs, btrfs or vfat, and it is mounted with exactly that
//     type, so the kernel never tries its other drivers on the image.
//   - A raw image is bound to a loop device with LOOP_CONFIGURE (autoclear,
//     read-only for Image.ReadOnly) spanning just the chosen volume, so the
//     kernel's partition parsers never see the image. A qcow2 image, and
//     any image opened WithOverlay, is exported as a raw file over FUSE by
//     qemu-storage-daemon with every block node spelled out (explicit
//     driver, no backing file) and the loop device is bound to that file.
//   - The filesystem is mounted nodev, nosuid and noexec (and read-only
//     for Image.ReadOnly) on a mount point of mode 0700 inside a private
//     0700 session directory, and every guest path is resolved inside it
//     with openat2 RESOLVE_IN_ROOT, as DirFS does.
//
// # Changes, Commit and Close
//
// Without an overlay (raw images by default) writes go straight into the
// image. Commit flushes and unmounts and is the normal end; Close keeps
// the changes too, since they are already in place. A crash or a kill in
// the middle leaves the image with whatever the kernel had written back:
// some changes and not others, and a filesystem that wants its journal
// replayed on the next mount (ext3/4, xfs) or checking (vfat). Callers who
// need all or nothing use WithOverlay: writes then land in a private qcow2
// overlay, Commit merges it into the image with qemu-img commit after
// unmounting, and Close, an error or a crash before the merge leaves the
// image byte-for-byte unchanged. qcow2 images always use an overlay.
//
// # Teardown and crashes
//
// Commit, Close, and a failing or cancelled Open undo the attach in
// reverse: unmount (retrying while busy, never lazily, and never removing
// anything below a mount that would not go away), detach the loop device
// and wait until the kernel lets go of it, stop the storage daemon (which
// unmounts its export), then remove the session directory's known files
// one by one, never recursively.
//
// Session directories are called "guestinject-mount-<pid>-<start time>-*"
// in the state directory (os.TempDir() or WithStateDir) and hold a file
// "owner" describing the process for people; the owner also holds an
// exclusive flock on the directory while it lives. If the process dies,
// the loop device detaches itself once unmounted (autoclear) and the
// storage daemon dies with its parent, but the mounts stay. Cleanup, which
// every Open runs first on its state directory, finds the directories
// whose owner (pid and start time, so a reused pid does not count) is dead
// and whose lock is free, and unmounts, detaches and removes what is in
// them. Processes therefore never sweep each other's live sessions, and
// concurrent sessions in any number of processes use distinct
// directories, distinct loop devices (LOOP_CONFIGURE on a device another
// process bound first fails and the next free one is tried) and distinct
// daemons.
//
// Open needs root (CAP_SYS_ADMIN), /dev/loop-control and, for qcow2 and
// overlays, qemu-storage-daemon, qemu-img and /dev/fuse.
//
// # Trees you already have: DirFS
//
// DirFS is a backend over a directory tree the caller already has — a
// guest filesystem it mounted itself or an unpacked root filesystem. Every
// guest path is resolved inside that directory with openat2(2) and
// RESOLVE_IN_ROOT, so absolute symlinks and ".." climbs in the tree stay
// inside it, and FIFOs and device nodes are never opened.
//
// Resolution protects the host from the tree's names, not from its
// filesystem: the host kernel parses whatever filesystem the directory lives
// on, so a tree mounted from an untrusted image exposes the host kernel to
// that image. Use DirFS for trees from trusted images, or for trees the
// caller built itself.
package mount
