// Package appliance is guestinject's safe default backend: a single-use VM
// whose kernel, not the host's, parses the guest filesystem, and whose agent
// serves it to the host as a vfs.FS over a virtio-serial port.
//
// # A session
//
// Open attaches each image through a private qcow2 overlay, boots the
// appliance and returns a Session once the agent has answered. Every write
// lands in the overlays. Commit makes the agent sync, unmount and power
// off, and then merges the overlays into the images with qemu-img commit;
// Close without Commit kills the VM and deletes the overlays, so the images
// stay byte-for-byte unchanged — also when QEMU, the guest kernel or the
// agent fails, or a context ends, at any point before the merge.
//
// Nothing is probed. Each image is opened with its declared format ("raw"
// or "qcow2"); an image whose header names a backing file or a data file is
// refused. QEMU gets every block node spelled out (file, format, overlay,
// backing link; no backing for the image itself), and the commit names
// the same nodes, so no file name or format is ever read from a header.
// Check the content against the declared format with imagecheck first.
//
// Inside the VM the agent (internal/agent/cmd/guestinject-agent) finds the
// disks and partitions through sysfs, identifies filesystems by their
// superblocks, mounts the one Linux filesystem with its explicit type,
// nodev and nosuid (read-only for a Disk marked ReadOnly), and resolves
// every guest path inside that root with openat2 RESOLVE_IN_ROOT. If it
// cannot find exactly one root it still answers, and the host's Open fails
// with the agent's reason.
//
// # The VM
//
// The default launcher (QEMU) runs qemu-system-x86_64 directly: no
// default devices, no user config, no network, the seccomp sandbox on,
// KVM when available and TCG otherwise, 256 MiB of memory. It is tuned
// for boot time under TCG — a q35 machine, the "max" CPU model (whose
// RDRAND seeds the guest's random pool at once), qboot as firmware when
// QEMU ships it, and the kernel booted uncompressed through its PVH entry
// point when it has one (the initramfs builder extracts it once into the
// cache). The overlay's file node ignores the guest's flushes: it is
// scratch until Commit, which merges it only after the VM exited. The VM
// gets SIGKILL if the process that started it dies. The host listens on a unix
// socket in a private 0700 directory and accepts exactly one connection.
// The serial console is drained continuously into a bounded in-memory tail
// (and to the logger at debug level); its last lines are part of every
// boot error. Other launchers (libvirt) implement Launcher.
//
// # Kernel and agent
//
// The appliance boots a kernel of the host (WithKernel, $GUESTINJECT_KERNEL,
// or the newest /boot/vmlinuz-* whose modules are installed; it must be
// readable by the caller) with an initramfs built on first use into
// os.UserCacheDir()/guestinject and reused after. The agent in it is built
// from this module's source with the go command (CGO_ENABLED=0): from the
// source tree when running in it, as tests do, or else from the module
// cache copy of the version the program depends on, which needs the go
// command and the module in the main module's go.sum. A program deployed
// without a Go toolchain takes one step instead: build the agent once,
//
//	CGO_ENABLED=0 go build -trimpath -o guestinject-agent github.com/guestinject/guestinject/internal/agent/cmd/guestinject-agent
//
// and pass it with WithAgent or $GUESTINJECT_AGENT. The host checks the
// agent's protocol version at the handshake.
package appliance
