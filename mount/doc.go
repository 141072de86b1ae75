// Package mount holds guestinject's host backends: vfs.FS implementations
// that work on guest filesystems the host kernel itself parses.
//
// # Images you trust: OpenTrusted
//
// OpenTrusted mounts a guest disk image on the host and returns a Session
// (a vfs.Session) that serves its filesystem. It is fast (milliseconds
// against seconds for a VM) and exists for images the caller produced or
// otherwise controls: the host kernel parses the image's filesystem, and a
// crafted filesystem can attack that kernel, which is what the name says.
// For images from anyone else use the appliance package, which parses them
// in a VM.
//
// Within that limit the mount is as careful as it can be:
//
//   - The format is declared ("raw" or "qcow2"), never probed, and
//     imagecheck verifies that the content agrees and that the image names
//     no other file, on the same descriptor that is then attached.
//   - The partition table (GPT or MBR) is read by this package, and each
//     volume's filesystem type by internal/blkid from its superblock. The
//     volume is the one WithRoot names (by partition, label or UUID), or
//     else the only Linux filesystem; its type must be ext2, ext3, ext4,
//     xfs, btrfs or vfat, and it is mounted with exactly that type, so the
//     kernel never tries its other drivers on the image. A choice that
//     fails is a *RootError wrapping the vfs root errors every image
//     backend returns.
//   - The image is exported as a raw file over FUSE by qemu-storage-daemon
//     with every block node spelled out (explicit driver, no backing file)
//     and a loop device is bound with LOOP_CONFIGURE (autoclear, read-only
//     for Image.ReadOnly) to just the chosen volume of that file, so the
//     kernel's partition parsers never see the image. A read-only raw
//     image is bound directly.
//   - The filesystem is mounted nodev, nosuid, noexec and noatime (and
//     read-only for Image.ReadOnly) on a mount point of mode 0700 inside a
//     private 0700 session directory, and every guest path is resolved
//     inside it with openat2 RESOLVE_IN_ROOT, as DirFS does.
//
// # Changes, Commit and Close
//
// A Session means what every vfs.Session means. Writes land in a private
// qcow2 overlay; Commit merges it into the image with qemu-img commit
// after unmounting, and Close, an error or a crash before the merge leaves
// the image byte-for-byte unchanged.
//
// OpenTrustedInPlace is the other choice, named for what it gives up: a
// raw image is bound to the loop device itself, writes go straight into
// it, and the result, an InPlace, has no Commit: its Close keeps every
// change, since they are already there. It needs no storage daemon and no
// merge; a crash in the middle leaves the image with whatever the kernel
// had written back, some changes and not others, and a filesystem that
// wants its journal replayed on the next mount (ext3/4, xfs) or checking
// (vfat).
//
// # Teardown and crashes
//
// Commit, Close, and a failing or cancelled open undo the attach in
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
// every open runs first on its state directory, finds the directories
// whose owner (pid and start time, so a reused pid does not count) is dead
// and whose lock is free, and unmounts, detaches and removes what is in
// them. Processes therefore never sweep each other's live sessions, and
// concurrent sessions in any number of processes use distinct
// directories, distinct loop devices (LOOP_CONFIGURE on a device another
// process bound first fails and the next free one is tried) and distinct
// daemons.
//
// Both need root (CAP_SYS_ADMIN) and /dev/loop-control; OpenTrusted needs
// qemu-storage-daemon, qemu-img and /dev/fuse as well, except for a
// read-only raw image.
//
// # Trees you already have: DirFS
//
// DirFS is a backend over a directory tree the caller already has — a
// guest filesystem it mounted itself or an unpacked root filesystem. Every
// guest path is resolved inside that directory with openat2(2) and
// RESOLVE_IN_ROOT, so absolute symlinks and ".." climbs in the tree stay
// inside it, and FIFOs and device nodes are never opened. OpenDir writes
// the tree in place; OpenDirSession is the vfs.Session over a tree: it
// works on a copy beside it, Close discards the copy and Commit swaps it
// in for the tree with renameat2(RENAME_EXCHANGE).
//
// Resolution protects the host from the tree's names, not from its
// filesystem: the host kernel parses whatever filesystem the directory lives
// on, so a tree mounted from an untrusted image exposes the host kernel to
// that image. Use DirFS for trees from trusted images, or for trees the
// caller built itself.
package mount
