// Package appliance is guestinject's safe default backend: a single-use VM
// whose kernel, not the host's, parses the guest filesystem, and whose agent
// serves it to the host as a vfs.FS over a virtio-serial port.
//
// The user API is Open with its Options, the Session it returns (a
// vfs.Session with Inspection, ImageInfo and Accelerator), and the error
// types. Launcher, Machine, MachineSpec, MachineDisk and QEMU are the
// other half: the extension point for starting the VM another way (see
// "Launchers" below); callers who only inject never need them.
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
// What the VM wrote is as hostile as the image. Before merging anything,
// Commit checks every overlay with imagecheck — still qcow2, the virtual
// size the session created, no backing file or data file named in its
// header, no encryption or snapshots, a bounded file size — and refuses
// the lot with ErrOverlayRefused otherwise. qemu-img then merges the
// checked file (inherited as a descriptor, not reopened by name) under
// the address-space and CPU limits imagecheck's cross-check applies.
//
// # Time
//
// The context of Open bounds the boot, and so does WithBootTimeout
// (DefaultBootTimeout). Every later call whose context has no deadline
// gets WithOperationTimeout (DefaultOperationTimeout) — each read of an
// open file counts as a call — and Commit gets WithCommitTimeout
// (DefaultCommitTimeout) for the sync, the VM's end and the merge
// together. (With the direct QEMU launcher the VM ends through QEMU's
// monitor, a private socket pair, as soon as the agent has unmounted the
// guest's filesystems; otherwise the guest powers off.) A
// call that runs out of its default timeout means the VM stopped
// answering: the VM is killed, the session torn down at once and the call
// returns a *TimeoutError with the console tail; the images are unchanged
// unless the merge had begun. A deadline of the caller's own is honoured
// through the protocol's cancellation instead: the call returns at the
// deadline, even when the agent neither answers nor reads what the host
// writes, and the session stays usable if the agent answers the
// cancelled call in time for the next one (see internal/wire).
//
// # Trusting nothing from the VM
//
// The VM may be the attacker's: a crafted filesystem can take over its
// kernel and the agent. The host therefore checks everything that comes
// back — frames, answers and inspection reports against fixed bounds
// before anything is allocated for them (internal/wire), disk indexes
// against the session's, overlays before Commit merges them — and a lie
// ends the session with vfs.ErrIO, a *BootError or ErrOverlayRefused.
// What it cannot check is whether a write the agent reports done was
// made: the image then receives what the VM left in the overlay, which is
// as untrusted as the image itself and no more. The hostile-agent suites
// prove this: internal/wire's (a lying agent on a socket pair, one case
// per lie) and this package's TestHostileAppliance (a Launcher that
// starts no VM and lies on the session's socket and in its overlays), each
// case checking that the host returns within its deadline, that the image
// and a host canary are unchanged and that nothing is left behind.
//
// # Nothing left behind
//
// A session's files (overlays, agent socket, a launcher's own files) live
// in a private directory in os.TempDir() named after the owning process's
// pid and start time and locked by it. If the process dies without Close
// — a panic, a kill — the VM dies with it (parent-death signal), its uid
// reservation ends with both, and the next Open of the same user removes
// the directory.
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
// superblocks, and chooses the guest root: the one Linux filesystem, or,
// when there are several, the one holding /etc/os-release or /etc/fstab
// (each looked at alone, mounted read-only; on btrfs, in the default
// subvolume, else in the first of the top level's "@", "root" and
// "@rootfs" subvolumes that holds them), or the one WithRoot names.
// Logical volumes of LVM guests join the candidates when the appliance
// has the LVM tools; when it has not, or activation fails,
// Inspection().Issues and a *RootError say so (ErrNoLVMTools,
// ErrLVMFailed). It mounts the root with its explicit type, nodev and
// nosuid (read-only for a vfs.Disk marked ReadOnly), then the filesystems
// the root's /etc/fstab names by UUID, LABEL, PARTUUID, PARTLABEL, device
// (sd, vd, xvd, nvme) or LVM name, each on its mount point resolved
// inside the root, parents first, with the agent's own options (vfat
// noexec, root-owned; a validated btrfs subvol= or subvolid=); swap,
// bind, pseudo and network entries, and anything that does not match its
// superblock, are skipped with a reason. Every guest path is resolved
// inside that tree with openat2 RESOLVE_IN_ROOT. Session.Inspection
// reports what it found. If it cannot choose a root it still answers, and
// Open fails with a *RootError wrapping vfs.ErrNoRoot, vfs.ErrAmbiguousRoot
// (with the candidates) or vfs.ErrRootNotFound, the root errors of every
// image backend. The agent reports the same values, carried across the
// wire as codes: what the host and the agent
// must agree on (the port's name, kernel parameters, disk serials, root
// names, the initramfs module list, problem codes, text limits) lives in
// internal/guestabi, and neither side imports the other's code.
//
// # The VM
//
// The default launcher (QEMU) runs qemu-system-x86_64 directly: no
// default devices, no user config, no network (unless WithPackageNetwork,
// below), the seccomp sandbox on,
// under the accelerator chosen for the session (below), 256 MiB of memory. QEMU opens no
// host path of the session: the images (read-only), the overlays, the
// kernel, the initramfs and the payload disk (read-only, see
// MachineSpec.Payload) are opened by the host and inherited as
// descriptors, and the agent's socket arrives connected. When the caller
// is root, QEMU starts unprivileged — the seccomp sandbox forbids it to
// drop privileges itself — under a uid and gid of its own per session,
// taken from DynamicUIDBase onwards and reserved with a lock in
// /run/guestinject (or WithRunAs), with no supplementary group but the
// one that may open /dev/kvm: two compromised VMs cannot signal or trace
// each other, and neither can open a file of the host's that is not
// world-readable. A root-only kernel or initramfs is handed over as a
// sealed memory copy. It is tuned
// for boot time under TCG — a q35 machine, the "max" CPU model (whose
// RDRAND seeds the guest's random pool at once), qboot as firmware when
// QEMU ships it, and the kernel booted uncompressed through its PVH entry
// point when it has one (the initramfs builder extracts it once into the
// cache). The overlay's file node ignores the guest's flushes: it is
// scratch until Commit, which merges it only after the VM exited. The VM
// gets SIGKILL if the process that started it dies. The host listens on a unix
// socket in the session's private 0700 directory and accepts exactly one
// connection.
// The serial console is drained continuously into a bounded in-memory tail
// (and to the logger at debug level); its last lines are part of every
// boot error.
//
// # The guest's own commands
//
// Session.RunCommand (vfs.CommandFS) runs a command of the guest's with
// its own /bin/sh inside the VM, never on the host. Before anything runs,
// the agent resolves /bin/sh in the guest root and reads its ELF header:
// a missing shell, a script, or a program for another machine than the
// appliance kernel's (x86-64 here) fails with vfs.ErrCannotRun. The
// agent then starts a helper as process 1 of new PID, mount, IPC, UTS and
// network namespaces, in a cgroup of its own whose pids.max is the
// command's process bound. The helper mounts, in its own mount namespace
// and on directories resolved in the guest root, a /proc of the new PID
// namespace, a read-only /sys, a /dev tmpfs with null, zero, full,
// random, urandom, tty, a private devpts and shm, and empty tmpfs over
// /run and /tmp (a guest lacking one of these directories goes without
// that mount, since making it would change the guest); it chroots and
// becomes /bin/sh -c, or /bin/sh on a script written to the private
// /tmp. The command runs as root, with no network (the VM has none) and
// a fixed environment; in a session opened WithPackageNetwork it shares
// the VM's network namespace instead, with http_proxy naming the host's
// package proxy. When the shell ends, or at the time limit when the
// agent kills it and the cgroup, the kernel kills every process left in
// the namespace, and the mounts go with it: the guest root the session
// serves, and Commit checks and merges, holds none of them. Standard
// output and error share one pipe; the agent keeps the first MaxOutput
// bytes and counts the rest.
//
// # The package network
//
// WithPackageNetwork, off by default, is the one way a session's VM gets a
// network: a virtio-net device (its module loaded, and the device given
// 10.0.2.15/24 by the agent, only then) on QEMU's user network with
// restrict=on, so the guest opens no connection of its own, not even to
// the host's loopback at the gateway 10.0.2.2. A guestfwd rule hands the
// guest's connections to 10.0.2.100:80 to one socket of this process,
// where internal/pkgproxy serves them as one HTTP/1.1 stream: GET and HEAD
// for the caller's mirror hosts and ports are forwarded (names resolved on
// the host), everything else is answered 403. QEMU carries all the guest's
// connections to that address on the one stream, one after another; a
// guest that opens several at once garbles only its own requests. What it
// still widens: the guest reaches QEMU's user-mode network stack
// (libslirp: ARP, IPv4, TCP, UDP, DHCP parsing, in the sandboxed QEMU
// process), the proxy's HTTP parsing (Go's net/http, bounded), and the
// mirrors, to which it can send any GET or HEAD it likes, including data
// it encodes in the path, as many as its command's time limit allows.
// The allow-list is of names and ports: a mirror's name is resolved on
// the host at each request, so a name that resolves to an address inside
// the host's network reaches that address. Commands share the VM's
// network namespace, so a command can reconfigure the device, which
// gains it nothing the restricted network does not give. Package managers
// must use one connection at a time (inject's Install sets apt's
// Queue-Mode=access and dnf's max_parallel_downloads=1).
//
// The host trusts none of this: a command runs as root in a VM that may
// be the guest's from then on. The host bounds the call with its own
// clock (the command's timeout plus the operation timeout, then the VM is
// killed and the session ended), refuses a result it could not have
// asked for (more output than the bound, an exit status or signal out of
// range), and keeps each overlay's allocation on the host under the bound
// WithOverlayLimit sets: measured every 50 ms while a command runs (the
// VM is killed the moment one is over, *OverlayLimitError) and again
// before Commit merges anything.
//
// # Launchers
//
// Open describes the VM it needs in a MachineSpec (kernel, initramfs,
// command line, accelerator, disks as overlay-on-base pairs with their
// serials, the agent's socket, a console writer, a private directory)
// and hands it to a Launcher, which starts it and returns a Machine that
// Open waits for or kills. QEMU is the default Launcher;
// appliance/libvirt's Launcher has libvirt start the same VM. A Launcher
// of your own must attach exactly what the spec says (the base
// read-only, with its declared format and never a backing file, the
// overlay as the only writable node), use exactly the accelerator given,
// connect the virtio-serial port named PortName to AgentSocket, drain the
// console continuously, and never let the VM outlive the Machine.
//
// # A pool of pre-booted VMs
//
// A boot is most of a session's time under TCG, and it does not depend
// on the image. NewPool keeps a number of VMs booted to the point where
// their agent waits for disks; Pool.Open takes one, checks the images as
// Open does, hot-plugs them and returns the same Session, with the same
// inspection, Commit, Close, timeouts and guarantees. The single-use rule
// stays: a VM takes one set of disks, once, and is destroyed with its
// session; the pool boots a replacement in the background when the
// session ends (or a second after it began, if it runs longer). When no
// VM is ready, or the session needs what a pooled VM cannot give (WithRoot,
// which is a kernel parameter, more disks than WithPoolMaxDisks, another
// kernel, memory, user or launcher), Pool.Open boots as Open does and
// never waits for the pool (Session.Pooled tells which). Pool.Close
// stops every VM it still holds. examples/poolinject drives a pool as an
// orchestrator does: many images, bounded concurrency, progress and a
// latency summary.
//
// How the disks go in: each pooled VM boots with empty PCIe root ports
// (one per disk it can take, using QEMU's ACPI PCI hot-plug, which gave
// the guest a disk sooner than native PCIe hot-plug under TCG; virtio-scsi,
// sooner still, was measured and not taken: BenchmarkHotplugBus and
// BENCHMARKS.md) and a QMP
// monitor that is one end of a socket pair QEMU inherits, so no path
// exists that another process could connect to (internal/qmp). The
// images and overlays are opened by the host and passed over it as
// descriptors (add-fd with SCM_RIGHTS); the block nodes are spelled out
// exactly as at boot (the image read-only in its declared format, never
// a backing file, the private qcow2 overlay on top), and each
// virtio-blk device carries a serial that tells the agent which disk of
// how many it is (guestabi.HotplugDiskSerial). The kernel parameter
// guestabi.HotplugParam tells the agent to wait for them, within
// WithPoolMaxIdle; a VM past that powers off, and the pool hands out no
// VM near the end of it. The agent answers the host's hello before it
// waits: that is when a pooled VM is ready, and a session's first request
// then waits only for the disks and the agent's setup.
//
// A VM the pool boots while none of its sessions runs (pooled, or booted
// by Pool.Open on a VM of their own) also warms up
// before that hello (guestabi.WarmUpParam): the agent runs a session's
// setup once — listing and probing volumes, mounting an ext4 root and its
// fstab, reading, writing and unmounting — on a 16 MiB disk of its own
// (embedded in the agent, on a loop device over a copy in its tmpfs,
// released before the hello). Under TCG the first run of each of those
// kernel and agent paths costs its translation into host code, which QEMU
// keeps for the VM's life, so the session that takes a warmed VM does not
// pay it: the first answer came in about half the time and a Nova-style
// injection took about 0.15 s less (BENCHMARKS.md). It costs the VM about
// 0.2 s more of boot and 11 MiB more memory, and it is not a second
// image: the disk is the agent's, and the session's inspection and fstab
// see only the session's disks. A VM booted while they run skips it:
// then the CPU is better spent having VMs ready at all, as a burst would
// otherwise find fewer of them (BenchmarkPoolThroughput).
//
// Only the direct QEMU launcher boots pooled VMs (ErrPoolLauncher):
// libvirt would have libvirtd open the hot-plugged images by path, and
// its monitor belongs to libvirtd.
//
// # Choosing the accelerator
//
// A /dev/kvm that opens does not mean KVM runs the appliance: a PVM
// hypervisor (kvm_pvm) serves one but runs only kernels built for it, and
// a broken nested setup fails at the guest's first exit; QEMU's own
// fallback covers neither, and the VM would hang before its agent speaks.
// With AccelAuto (the default; WithAccelerator or $GUESTINJECT_ACCEL
// choose "kvm" or "tcg") a session first makes the cheap checks — a
// vendor module (kvm_intel, kvm_amd) rather than kvm_pvm or none, a
// character device that QEMU's user can open read-write,
// KVM_GET_API_VERSION 12, KVM_CREATE_VM — and, when they pass, proves KVM
// with its own boot: the agent must say hello within 10 s while the
// console is watched for KVM's failure reports. The verdict is kept in the
// cache, keyed by the kernel, the QEMU binary, the host's boot id and its
// KVM modules, so only the first session after a change pays; sessions
// that start together wait for one proof. A proof that fails costs one
// failed boot: the session kills that VM, discards its overlays and boots
// again under TCG. AccelKVM skips the proof and fails fast with a
// *KVMError (errors.Is ErrKVMUnusable) carrying the failed check or
// QEMU's report and the console tail; AccelTCG never touches /dev/kvm.
// Session.Accelerator says which one a session runs under and why. Every
// launcher runs the decision: the libvirt one as the domain type (kvm or
// qemu), failing when libvirt's capabilities lack it.
//
// # Kernel and agent
//
// The appliance boots WithKernel's kernel or $GUESTINJECT_KERNEL's; else
// its own kernel when `make kernel` has built it into the cache; else the
// newest /boot/vmlinuz-* of the host whose modules are installed (it must
// be readable by the caller). Session.Kernel says which one a session
// booted.
//
// Its own kernel is Linux from the distribution's linux-source package,
// configured by scripts/kernel/appliance.config: allnoconfig plus what the
// appliance uses — virtio disks, console, entropy and network, ACPI and
// PCIe hot-plug, the guest filesystems it mounts, device-mapper, the
// namespaces and pids cgroup of guest commands — all built in, so it
// loads no modules. Under TCG it reaches the agent in half the time of a
// distribution's kernel, which probes and initialises far more (see
// BENCHMARKS.md). It is built without the mitigations of speculative-
// execution attacks (Spectre, Meltdown and their kin): they protect the
// guest kernel and processes from each other, and this guest has nothing
// to protect from itself — one image, one agent, the VM discarded after
// and nothing in it trusted by the host ("Trusting nothing from the VM"
// above) — while they cost every emulated boot and system call. The
// host's isolation from the guest is the hypervisor's and the host
// kernel's and does not change. Stack protector, hardened usercopy,
// FORTIFY_SOURCE and the slab freelist hardening stay on.
//
// The kernel boots with an initramfs built on first use into
// os.UserCacheDir()/guestinject and reused after, and a read-only payload
// disk built with it that holds what the agent loads only on demand (the
// modules beyond the core ones, the LVM tools; see MachineSpec.Payload). The agent in it is built
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
