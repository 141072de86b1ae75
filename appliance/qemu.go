package appliance

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"syscall"

	"golang.org/x/sys/unix"

	"github.com/guestinject/guestinject/imagecheck"
	"github.com/guestinject/guestinject/internal/firmware"
	"github.com/guestinject/guestinject/internal/guestabi"
)

// QEMU launches appliances by running qemu-system-x86_64 directly: no
// daemon, no default devices, no user configuration, no network, the
// seccomp sandbox on, and every disk node spelled out so QEMU probes
// nothing.
//
// The defaults are chosen for boot time under TCG: a q35 machine, whose
// PCI interrupts need no ACPI link evaluation (on pc that alone costs a
// third of a second of emulated AML per device), the "max" CPU model,
// whose RDRAND seeds the guest kernel's random pool at once instead of
// after seconds, and qboot as firmware when QEMU ships it.
type QEMU struct {
	// Binary is the QEMU system emulator; "" means qemu-system-x86_64
	// from PATH.
	Binary string
	// Machine is the machine type, "q35" (when "") or "pc".
	Machine string
	// CPU is the -cpu model; "" means "max".
	CPU string
	// Firmware is the -bios image; "" means qboot.rom from QEMU's data
	// directory when it is there, else QEMU's default (SeaBIOS), and
	// "default" always QEMU's default.
	Firmware string
	// NativeHotplug makes the root ports of a pooled VM use native PCIe
	// hot-plug (the guest's pciehp) instead of QEMU's ACPI PCI hot-plug,
	// which gives the guest a disk sooner under TCG.
	NativeHotplug bool
}

// Launch implements Launcher.
//
// QEMU opens no host path of the session: the images, the overlays, the
// kernel and the initramfs are opened here and inherited as descriptors
// (the block nodes name /dev/fdset/N, the kernel and initramfs
// /proc/self/fd/N), and the agent's socket is connected here and handed
// over. When the caller is root, QEMU starts as a user of its own (see
// WithRunAs and DynamicUIDBase) with no supplementary group but the one
// that may open /dev/kvm, so it can reach nothing else on the host.
func (q QEMU) Launch(ctx context.Context, spec MachineSpec) (_ Machine, err error) {
	bin := q.Binary
	if bin == "" {
		bin = "qemu-system-x86_64"
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	fds := &inheritedFiles{}
	// The VM holds its own copies once started; ours go either way.
	defer fds.close()
	var (
		user        *User
		reservation *os.File
	)
	switch {
	case spec.RunAs != nil:
		user = spec.RunAs
	case os.Geteuid() == 0:
		res, rerr := reserveDynamicUser()
		if rerr != nil {
			return nil, rerr
		}
		// This process holds the lock until the VM has exited. The VM
		// must not inherit it: with the lock file open it could lock
		// every slot and starve other sessions. Should this process die
		// first, the VM dies with it, and the next reservation of the
		// uid waits for it in uidInUse.
		reservation = res.lock
		defer func() {
			if err != nil {
				reservation.Close()
			}
		}()
		user = &res.User
	}
	files, err := q.openFiles(spec, fds, user != nil && user.UID != uint32(os.Geteuid()))
	if err != nil {
		return nil, err
	}
	args, err := q.args(spec, files)
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(bin, args...)
	cmd.Stdout = spec.Console
	cmd.Stderr = spec.Console
	cmd.Dir = "/"
	cmd.ExtraFiles = fds.files
	// The VM dies with the process that started it.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if user != nil {
		groups := []uint32{}
		if spec.Accelerator == "kvm" {
			groups = kvmGroups()
		}
		cmd.SysProcAttr.Credential = &syscall.Credential{Uid: user.UID, Gid: user.GID, Groups: groups}
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("appliance: starting QEMU: %w", err)
	}
	m := &qemuMachine{cmd: cmd, done: make(chan struct{})}
	go func() {
		m.err = cmd.Wait()
		if reservation != nil {
			reservation.Close()
		}
		close(m.done)
	}()
	return m, nil
}

// inheritedFiles are the descriptors QEMU inherits: the i-th is its fd
// 3+i.
type inheritedFiles struct{ files []*os.File }

func (f *inheritedFiles) add(file *os.File) int {
	f.files = append(f.files, file)
	return 2 + len(f.files)
}

func (f *inheritedFiles) close() {
	for _, file := range f.files {
		file.Close()
	}
}

// launchFiles are the names QEMU opens, all of inherited descriptors.
type launchFiles struct {
	kernel, initramfs string
	agentFD           int
	monitorFD         int
	packageProxyFD    int
	addFD             []string // -add-fd values
	disks             []launchDisk
	payload           string // fd set of the payload image, "" for none
}

type launchDisk struct{ base, overlay string }

// openFiles opens everything the VM needs and adds it to fds. private
// says QEMU will run as another user, who may lack the right to read the
// kernel or initramfs: those are then copied into sealed memory files.
func (q QEMU) openFiles(spec MachineSpec, fds *inheritedFiles, private bool) (*launchFiles, error) {
	lf := &launchFiles{}
	var err error
	if lf.kernel, err = openForVM(fds, cmp.Or(spec.KernelELF, spec.Kernel), private); err != nil {
		return nil, err
	}
	if lf.initramfs, err = openForVM(fds, spec.Initramfs, private); err != nil {
		return nil, err
	}
	set := 0
	fdset := func(path string, flag int, opaque string) (string, error) {
		f, err := os.OpenFile(path, flag|unix.O_NOFOLLOW, 0)
		if err != nil {
			return "", fmt.Errorf("appliance: %w", err)
		}
		set++
		lf.addFD = append(lf.addFD, fmt.Sprintf("fd=%d,set=%d,opaque=%s", fds.add(f), set, opaque))
		return "/dev/fdset/" + strconv.Itoa(set), nil
	}
	for i, d := range spec.Disks {
		var ld launchDisk
		// The base is opened read-only, and only that way: QEMU never
		// gets a descriptor that could write the image.
		if ld.base, err = fdset(d.Base, os.O_RDONLY, fmt.Sprintf("base%d", i)); err != nil {
			return nil, err
		}
		if ld.overlay, err = fdset(d.Overlay, os.O_RDWR, fmt.Sprintf("overlay%d", i)); err != nil {
			return nil, err
		}
		lf.disks = append(lf.disks, ld)
	}
	if spec.Payload != "" {
		// Read-only and only that way, like the images.
		if lf.payload, err = fdset(spec.Payload, os.O_RDONLY, "payload"); err != nil {
			return nil, err
		}
	}
	conn, err := dialUnix(spec.AgentSocket)
	if err != nil {
		return nil, fmt.Errorf("appliance: connecting the agent socket: %w", err)
	}
	agent, err := conn.File()
	conn.Close()
	if err != nil {
		return nil, fmt.Errorf("appliance: %w", err)
	}
	lf.agentFD = fds.add(agent)
	if spec.Monitor != nil {
		// A copy: fds are closed after the launch, the caller's file is
		// the caller's.
		mon, err := dupFile(spec.Monitor)
		if err != nil {
			return nil, err
		}
		lf.monitorFD = fds.add(mon)
	}
	if spec.PackageProxy != nil {
		proxy, err := dupFile(spec.PackageProxy)
		if err != nil {
			return nil, err
		}
		lf.packageProxyFD = fds.add(proxy)
	}
	return lf, nil
}

// openForVM opens path for QEMU to read as /proc/self/fd/N. A file that
// not everyone may read is reopened by that name with the permissions of
// QEMU's user, so for a VM of its own user it is copied into a sealed
// memory file first.
func openForVM(fds *inheritedFiles, path string, private bool) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", fmt.Errorf("appliance: %w", err)
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return "", fmt.Errorf("appliance: %w", err)
	}
	if private && fi.Mode().Perm()&0o004 == 0 {
		mem, err := sealedCopy(f, filepath.Base(path))
		f.Close()
		if err != nil {
			return "", &fs.PathError{Op: "copy", Path: path, Err: err}
		}
		f = mem
	}
	return "/proc/self/fd/" + strconv.Itoa(fds.add(f)), nil
}

// agentPortID is the QEMU id of the agent's port.
const agentPortID = "agent0"

// dupFile returns a new descriptor for f's open file.
func dupFile(f *os.File) (*os.File, error) {
	fd, err := unix.FcntlInt(f.Fd(), unix.F_DUPFD_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("appliance: %w", err)
	}
	return os.NewFile(uintptr(fd), f.Name()), nil
}

// sealedCopy copies r into a memory file that can no longer change.
func sealedCopy(r io.Reader, name string) (*os.File, error) {
	fd, err := unix.MemfdCreate("guestinject-"+name, unix.MFD_CLOEXEC|unix.MFD_ALLOW_SEALING)
	if err != nil {
		return nil, err
	}
	mem := os.NewFile(uintptr(fd), "memfd:"+name)
	if _, err := io.Copy(mem, r); err != nil {
		mem.Close()
		return nil, err
	}
	if _, err := unix.FcntlInt(mem.Fd(), unix.F_ADD_SEALS, unix.F_SEAL_SHRINK|unix.F_SEAL_GROW|unix.F_SEAL_WRITE|unix.F_SEAL_SEAL); err != nil {
		mem.Close()
		return nil, err
	}
	return mem, nil
}

// kvmGroups returns the supplementary groups an unprivileged QEMU needs
// for KVM: the group of /dev/kvm when only that group may open it, else
// none.
func kvmGroups() []uint32 {
	fi, err := os.Stat("/dev/kvm")
	if err != nil || fi.Mode()&fs.ModeCharDevice == 0 || fi.Mode().Perm()&0o006 == 0o006 || fi.Mode().Perm()&0o060 != 0o060 {
		return []uint32{}
	}
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok || st.Gid == 0 {
		return []uint32{}
	}
	return []uint32{st.Gid}
}

func (q QEMU) args(spec MachineSpec, lf *launchFiles) ([]string, error) {
	accel := cmp.Or(spec.Accelerator, "tcg")
	if accel != "kvm" && accel != "tcg" {
		return nil, fmt.Errorf("appliance: launcher: unsupported accelerator %q (want kvm or tcg)", accel)
	}
	machine := cmp.Or(q.Machine, "q35")
	if machine != "q35" && machine != "pc" {
		return nil, fmt.Errorf("appliance: launcher: unsupported machine type %q (want q35 or pc)", machine)
	}
	args := []string{
		"-nodefaults", "-no-user-config", "-display", "none",
		"-machine", machine + ",accel=" + accel,
		"-cpu", cmp.Or(q.CPU, "max"),
		"-sandbox", "on,obsolete=deny,elevateprivileges=deny,spawn=deny,resourcecontrol=deny",
		"-m", strconv.Itoa(spec.MemoryMiB), "-smp", "1",
		"-no-reboot", "-nic", "none",
		"-kernel", lf.kernel, "-initrd", lf.initramfs, "-append", spec.Cmdline,
		"-chardev", "stdio,id=console,signal=off", "-serial", "chardev:console",
		"-chardev", "socket,id=agent,fd=" + strconv.Itoa(lf.agentFD),
		"-device", "virtio-serial-pci,id=serial0",
		"-device", "virtserialport,chardev=agent,id=" + agentPortID + ",name=" + spec.PortName,
	}
	if spec.PackageProxy != nil {
		// restrict=on: the guest opens no connection of its own, to the
		// host's loopback (the gateway) or anywhere; the one guestfwd
		// address is the host's proxy. No IPv6, whose stack restrict
		// would also have to cover.
		args = append(args,
			"-chardev", "socket,id=pkgproxy,fd="+strconv.Itoa(lf.packageProxyFD),
			"-netdev", fmt.Sprintf("user,id=pkgnet,restrict=on,ipv6=off,guestfwd=tcp:%s:%d-chardev:pkgproxy", guestabi.ProxyAddr, guestabi.ProxyPort),
			"-device", "virtio-net-pci,netdev=pkgnet")
	}
	if fw := firmware.Path(q.Firmware); fw != "" {
		args = append(args, "-bios", fw)
	}
	if spec.Dir != "" {
		// Names the session on the process list, so that a VM can be
		// told apart and found, though it opens nothing there.
		args = append(args, "-name", commaSafe(spec.Dir))
	}
	for _, a := range lf.addFD {
		args = append(args, "-add-fd", a)
	}
	for i, d := range spec.Disks {
		nodes, err := diskNodes(i, d.BaseFormat, lf.disks[i].base, lf.disks[i].overlay)
		if err != nil {
			return nil, err
		}
		for _, node := range nodes {
			j, err := json.Marshal(node)
			if err != nil {
				return nil, err
			}
			args = append(args, "-blockdev", string(j))
		}
		args = append(args, "-device", fmt.Sprintf("virtio-blk-pci,drive=%s,serial=%s", diskNode(i), d.Serial))
	}
	if lf.payload != "" {
		// On the root bus from the start, so never in a hot-plug slot.
		j, err := json.Marshal(payloadNode(lf.payload))
		if err != nil {
			return nil, err
		}
		args = append(args, "-blockdev", string(j),
			"-device", fmt.Sprintf("virtio-blk-pci,drive=%s,serial=%s", payloadNodeName, guestabi.PayloadSerial))
	}
	if spec.HotplugSlots > 0 && (spec.Monitor == nil || machine != "q35") {
		return nil, errors.New("appliance: launcher: hot-plug needs a monitor and the q35 machine")
	}
	if spec.Monitor != nil {
		args = append(args, "-chardev", "socket,id=qmp,fd="+strconv.Itoa(lf.monitorFD), "-mon", "chardev=qmp,mode=control")
	}
	if spec.HotplugSlots > 0 {
		// The root ports use QEMU's ACPI PCI hot-plug (q35's default):
		// measured under TCG, the guest has the disk sooner than with
		// native PCIe hot-plug, whose pciehp waits for the link (see
		// BENCHMARKS.md).
		if q.NativeHotplug {
			args = append(args, "-global", "ICH9-LPC.acpi-pci-hotplug-with-bridge-support=off")
		}
		for i := range spec.HotplugSlots {
			args = append(args, "-device", fmt.Sprintf("pcie-root-port,id=%s,bus=pcie.0,chassis=%d", HotplugBus(i), i+1))
		}
	}
	return args, nil
}

// baseNode and diskNode name disk i's read-only image node and its
// overlay node, the one the device is attached to.
func baseNode(i int) string { return fmt.Sprintf("base%d", i) }
func diskNode(i int) string { return fmt.Sprintf("disk%d", i) }

// diskNodes spells out disk i's block nodes, for -blockdev at boot and
// blockdev-add when hot-plugged alike: the image read-only in its
// declared format, never following a backing or data file its header
// names, and the qcow2 overlay on top whose backing is that node. base and
// overlay are the names QEMU opens them by (fd sets).
func diskNodes(i int, format imagecheck.Format, base, overlay string) ([]map[string]any, error) {
	baseN := map[string]any{"driver": format, "node-name": baseNode(i), "read-only": true,
		"file": map[string]any{"driver": "file", "filename": base, "read-only": true}}
	switch format {
	case imagecheck.Raw:
	case imagecheck.QCOW2:
		// Never follow a backing file or data file named in the
		// image's header.
		baseN["backing"] = nil
	default:
		return nil, fmt.Errorf("appliance: launcher cannot attach format %q", format)
	}
	// The overlay is scratch until Commit merges it after the VM has
	// exited, so the guest's many fsyncs need not reach the host disk.
	overlayN := map[string]any{"driver": "qcow2", "node-name": diskNode(i),
		"file":    map[string]any{"driver": "file", "filename": overlay, "cache": map[string]any{"no-flush": true}},
		"backing": baseNode(i)}
	return []map[string]any{baseN, overlayN}, nil
}

// payloadNodeName is the block node of the payload disk.
const payloadNodeName = "payload"

// payloadNode is the payload disk's block node: raw, read-only in the
// format driver and the file alike, on the fd set name.
func payloadNode(name string) map[string]any {
	return map[string]any{"driver": "raw", "node-name": payloadNodeName, "read-only": true,
		"file": map[string]any{"driver": "file", "filename": name, "read-only": true}}
}

// commaSafe doubles commas, QEMU's escape inside option values.
func commaSafe(s string) string {
	out := make([]byte, 0, len(s))
	for i := 0; i < len(s); i++ {
		if s[i] == ',' {
			out = append(out, ',')
		}
		out = append(out, s[i])
	}
	return string(out)
}

type qemuMachine struct {
	cmd      *exec.Cmd
	done     chan struct{}
	err      error // of cmd.Wait, set before done closes
	killOnce sync.Once
}

func (m *qemuMachine) Wait(ctx context.Context) error {
	select {
	case <-m.done:
		if m.err != nil {
			return fmt.Errorf("appliance: QEMU: %w", m.err)
		}
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (m *qemuMachine) Kill() error {
	m.killOnce.Do(func() {
		if err := m.cmd.Process.Kill(); err != nil && !errors.Is(err, os.ErrProcessDone) {
			return
		}
	})
	<-m.done
	return nil
}
