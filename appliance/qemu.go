package appliance

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"sync"
	"syscall"
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
	// Accel is the -machine accel list; "" means "kvm:tcg".
	Accel string
	// Machine is the machine type, "q35" (when "") or "pc".
	Machine string
	// CPU is the -cpu model; "" means "max".
	CPU string
	// Firmware is the -bios image; "" means qboot.rom from QEMU's data
	// directory when it is there, else QEMU's default (SeaBIOS), and
	// "default" always QEMU's default.
	Firmware string
}

// qbootPaths are where distributions install QEMU's qboot firmware, a
// minimal BIOS that starts a -kernel in a few milliseconds where SeaBIOS
// takes a few hundred under TCG.
var qbootPaths = []string{"/usr/share/qemu/qboot.rom", "/usr/local/share/qemu/qboot.rom", "/usr/share/qemu-kvm/qboot.rom"}

func (q QEMU) firmware() string {
	switch q.Firmware {
	case "default":
		return ""
	case "":
		for _, p := range qbootPaths {
			if fi, err := os.Stat(p); err == nil && fi.Mode().IsRegular() {
				return p
			}
		}
		return ""
	}
	return q.Firmware
}

// Launch implements Launcher.
func (q QEMU) Launch(ctx context.Context, spec MachineSpec) (Machine, error) {
	bin := q.Binary
	if bin == "" {
		bin = "qemu-system-x86_64"
	}
	args, err := q.args(spec)
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(bin, args...)
	cmd.Stdout = spec.Console
	cmd.Stderr = spec.Console
	// The VM dies with the process that started it.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("appliance: starting QEMU: %w", err)
	}
	m := &qemuMachine{cmd: cmd, done: make(chan struct{})}
	go func() {
		m.err = cmd.Wait()
		close(m.done)
	}()
	return m, nil
}

func (q QEMU) args(spec MachineSpec) ([]string, error) {
	accel := cmp.Or(q.Accel, "kvm:tcg")
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
		"-kernel", cmp.Or(spec.KernelELF, spec.Kernel), "-initrd", spec.Initramfs, "-append", spec.Cmdline,
		"-chardev", "stdio,id=console,signal=off", "-serial", "chardev:console",
		"-chardev", "socket,id=agent,path=" + commaSafe(spec.AgentSocket),
		"-device", "virtio-serial-pci,id=serial0",
		"-device", "virtserialport,chardev=agent,name=" + spec.PortName,
	}
	if fw := q.firmware(); fw != "" {
		args = append(args, "-bios", fw)
	}
	for i, d := range spec.Disks {
		base := map[string]any{"driver": d.BaseFormat, "node-name": fmt.Sprintf("base%d", i), "read-only": true,
			"file": map[string]any{"driver": "file", "filename": d.Base, "read-only": true}}
		switch d.BaseFormat {
		case "raw":
		case "qcow2":
			// Never follow a backing file or data file named in the
			// image's header.
			base["backing"] = nil
		default:
			return nil, fmt.Errorf("appliance: launcher cannot attach format %q", d.BaseFormat)
		}
		// The overlay is scratch until Commit merges it after the VM has
		// exited, so the guest's many fsyncs need not reach the host disk.
		overlay := map[string]any{"driver": "qcow2", "node-name": fmt.Sprintf("disk%d", i),
			"file":    map[string]any{"driver": "file", "filename": d.Overlay, "cache": map[string]any{"no-flush": true}},
			"backing": fmt.Sprintf("base%d", i)}
		for _, node := range []map[string]any{base, overlay} {
			j, err := json.Marshal(node)
			if err != nil {
				return nil, err
			}
			args = append(args, "-blockdev", string(j))
		}
		args = append(args, "-device", fmt.Sprintf("virtio-blk-pci,drive=disk%d,serial=%s", i, d.Serial))
	}
	return args, nil
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
