// Package hotplugprobe measures how soon a guest sees a hot-plugged disk
// on each bus the appliance pool could use. It boots the appliance's own
// kernel (the PVH copy initramfs.Build extracts, qboot as the appliance
// boots it) with a purpose-built initramfs whose /init (probeinit) loads
// a variant's modules, timing each, and then polls /sys/block; the host
// hot-plugs a disk over QMP (internal/qmp, on a socket pair QEMU
// inherits, as the pool does) and times the QMP commands' start to the
// init's line naming the disk on the serial console.
package hotplugprobe

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/guestinject/guestinject/appliance"
	"github.com/guestinject/guestinject/internal/firmware"
	"github.com/guestinject/guestinject/internal/initramfs"
	"github.com/guestinject/guestinject/internal/qmp"
	"github.com/guestinject/guestinject/internal/testsupport/testimage"
	"github.com/guestinject/guestinject/internal/testsupport/testvm"
)

// ErrNoDisk means the guest named no new disk before the wait ended.
var ErrNoDisk = errors.New("hotplugprobe: no disk appeared")

// Variant is a way of giving the guest a disk after boot.
type Variant struct {
	// Name names the variant in results and its module group in the
	// initramfs.
	Name string
	// BootArgs are the QEMU arguments for what the machine has at boot
	// for the variant (controller, ports, globals).
	BootArgs []string
	// Modules are the kernel modules the guest loads for the variant
	// (with their dependencies), before it looks for disks.
	Modules []string
	// DiskPrefix starts the guest's name of the variant's disks.
	DiskPrefix string
	// Device is the device_add arguments of hot-plugged disk i on the
	// block node drive; nil for a variant that plugs nothing.
	Device func(i int, drive, serial string) map[string]any
}

// rootPorts are the pool's empty PCIe root ports, as the appliance
// launcher declares them.
func rootPorts() []string {
	var args []string
	for i := range appliance.DefaultPoolMaxDisks {
		args = append(args, "-device", fmt.Sprintf("pcie-root-port,id=%s,bus=pcie.0,chassis=%d", appliance.HotplugBus(i), i+1))
	}
	return args
}

func virtioBlk(i int, drive, serial string) map[string]any {
	return map[string]any{"driver": "virtio-blk-pci", "id": fmt.Sprintf("vd%d", i), "bus": appliance.HotplugBus(i), "drive": drive, "serial": serial}
}

// scsiController is the id of the SCSI variant's controller.
const scsiController = "scsi0"

var (
	// Bare boots with no controller and no port and plugs nothing: the
	// boot time the others are compared with.
	Bare = Variant{Name: "bare"}
	// BlkACPI is the pool's bus: virtio-blk-pci on empty PCIe root
	// ports with QEMU's ACPI PCI hot-plug (q35's default).
	BlkACPI = Variant{Name: "blk-acpi", BootArgs: rootPorts(), Modules: []string{"virtio_pci", "virtio_blk"}, DiskPrefix: "vd", Device: virtioBlk}
	// BlkNative is virtio-blk-pci on the same ports with native PCIe
	// hot-plug (the guest's pciehp).
	BlkNative = Variant{Name: "blk-native",
		BootArgs: append([]string{"-global", "ICH9-LPC.acpi-pci-hotplug-with-bridge-support=off"}, rootPorts()...),
		Modules:  []string{"virtio_pci", "virtio_blk"}, DiskPrefix: "vd", Device: virtioBlk}
	// SCSI is a scsi-hd on a virtio-scsi-pci controller present at boot.
	SCSI = Variant{Name: "scsi", BootArgs: []string{"-device", "virtio-scsi-pci,id=" + scsiController + ",bus=pcie.0"},
		Modules: []string{"virtio_pci", "virtio_scsi", "sd_mod"}, DiskPrefix: "sd",
		Device: func(i int, drive, serial string) map[string]any {
			return map[string]any{"driver": "scsi-hd", "id": fmt.Sprintf("sd%d", i), "bus": scsiController + ".0",
				"channel": 0, "scsi-id": 0, "lun": i, "drive": drive, "serial": serial}
		}}
)

// Variants are all the variants, Bare first.
func Variants() []Variant { return []Variant{Bare, BlkACPI, BlkNative, SCSI} }

// DefaultCmdline is the kernel command line when Harness.Cmdline is "".
const DefaultCmdline = "console=ttyS0 quiet panic=-1"

// Harness boots probe VMs.
type Harness struct {
	// Cmdline is the kernel command line (the appliance's, for
	// comparable numbers); "" means DefaultCmdline.
	Cmdline string
	// BuiltIn is true when the kernel has every variant's modules built
	// in (the appliance's own kernel): the VMs then load none.
	BuiltIn   bool
	qemu      string
	accel     string
	kernel    string
	initramfs string
	memoryMiB int
}

// probeInit is the package of the VMs' /init.
const probeInit = initramfs.ModulePath + "/internal/testsupport/hotplugprobe/probeinit"

var (
	buildOnce sync.Once
	built     *initramfs.Appliance
	buildErr  error
)

// New returns a harness for this host, building the probe's init and
// initramfs once per process. It skips t when QEMU or a kernel is
// missing, and fails it then under GUESTINJECT_E2E=1.
func New(t testing.TB) *Harness {
	t.Helper()
	var missing []string
	qemu := testimage.Tool("qemu-system-x86_64")
	if qemu == "" {
		missing = append(missing, "qemu-system-x86_64")
	}
	if kernels, _ := filepath.Glob("/boot/vmlinuz-*"); len(kernels) == 0 && os.Getenv(initramfs.KernelEnv) == "" {
		missing = append(missing, "a kernel in /boot")
	}
	testimage.Need(t, missing...)
	buildOnce.Do(func() { built, buildErr = build() })
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	kernel := built.Kernel
	if built.KernelELF != "" {
		kernel = built.KernelELF
	}
	return &Harness{BuiltIn: built.OwnKernel, qemu: qemu, accel: testvm.Accelerator(t, built.Kernel, qemu), kernel: kernel,
		initramfs: built.Initramfs, memoryMiB: appliance.DefaultMemoryMiB}
}

func build() (*initramfs.Appliance, error) {
	dir, err := os.MkdirTemp("", "guestinject-probeinit-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	init := filepath.Join(dir, "init")
	cmd := exec.Command("go", "build", "-trimpath", "-ldflags=-s -w", "-o", init, probeInit)
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		return nil, fmt.Errorf("building %s: %w\n%s", probeInit, err, out)
	}
	var groups []initramfs.ModuleGroup
	for _, v := range Variants() {
		if len(v.Modules) > 0 {
			groups = append(groups, initramfs.ModuleGroup{Group: v.Name, Modules: v.Modules})
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	return initramfs.Build(ctx, initramfs.Config{Agent: init, WithoutLVM: true, ExtraModules: groups})
}

// VM is a booted probe VM.
type VM struct {
	variant Variant
	cmd     *exec.Cmd
	mon     *qmp.Monitor
	stderr  strings.Builder
	done    chan struct{}

	mu      sync.Mutex
	lines   []line
	changed chan struct{} // closed and replaced when a line arrives
	next    int           // first line not yet consumed

	// Boot is the time from starting QEMU to the init's first line, and
	// KernelBoot the guest kernel's uptime then (CLOCK_BOOTTIME: the
	// kernel's part, without QEMU's start and the firmware).
	Boot, KernelBoot time.Duration
	// ModuleBytes is the size of the modules the init loaded, and
	// ModuleLoad the guest's time loading them.
	ModuleBytes int64
	ModuleLoad  time.Duration
	// Modules are the modules the init loaded, in order.
	Modules []Module
	// Ready is the time from starting QEMU to the init looking for disks.
	Ready time.Duration
}

// Module is a module the init loaded: its file's name and size, and the
// guest's time in finit_module, which includes the probe of the devices
// it drives that are there at the time.
type Module struct {
	Name  string
	Bytes int64
	Took  time.Duration
}

type line struct {
	at   time.Time
	text string
}

// Boot starts a VM of variant v and waits until its init looks for
// disks.
func (h *Harness) Boot(ctx context.Context, v Variant) (_ *VM, err error) {
	host, qemuEnd, err := qmp.Pair()
	if err != nil {
		return nil, err
	}
	defer qemuEnd.Close()
	cmdline := h.Cmdline
	if cmdline == "" {
		cmdline = DefaultCmdline
	}
	if len(v.Modules) > 0 {
		cmdline += " probe.modules=" + v.Name
	}
	args := []string{
		"-nodefaults", "-no-user-config", "-display", "none",
		"-machine", "q35,accel=" + h.accel, "-cpu", "max",
		"-m", strconv.Itoa(h.memoryMiB), "-smp", "1", "-no-reboot", "-nic", "none",
		"-kernel", h.kernel, "-initrd", h.initramfs, "-append", cmdline,
		"-serial", "stdio",
		"-chardev", "socket,id=qmp,fd=3", "-mon", "chardev=qmp,mode=control",
	}
	if fw := firmware.Path(""); fw != "" {
		args = append(args, "-bios", fw)
	}
	args = append(args, v.BootArgs...)
	vm := &VM{variant: v, changed: make(chan struct{}), done: make(chan struct{})}
	vm.cmd = exec.Command(h.qemu, args...)
	vm.cmd.ExtraFiles = []*os.File{qemuEnd}
	vm.cmd.Stderr = &vm.stderr
	vm.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	out, err := vm.cmd.StdoutPipe()
	if err != nil {
		host.Close()
		return nil, err
	}
	start := time.Now()
	if err := vm.cmd.Start(); err != nil {
		host.Close()
		return nil, fmt.Errorf("hotplugprobe: starting QEMU: %w", err)
	}
	go vm.read(out)
	defer func() {
		if err != nil {
			vm.Close()
		}
	}()
	if vm.mon, err = qmp.Connect(ctx, host); err != nil {
		return nil, err
	}
	first, err := vm.wait(ctx, "probe: init")
	if err != nil {
		return nil, err
	}
	vm.Boot = first.at.Sub(start)
	bootUs, err := strconv.ParseInt(fields(first.text)["boot-us"], 10, 64)
	if err != nil {
		return nil, fmt.Errorf("hotplugprobe: %q: %w", first.text, err)
	}
	vm.KernelBoot = time.Duration(bootUs) * time.Microsecond
	ready, err := vm.wait(ctx, "probe: ready ")
	if err != nil {
		return nil, err
	}
	vm.Ready = ready.at.Sub(start)
	f := fields(ready.text)
	if vm.ModuleBytes, err = strconv.ParseInt(f["bytes"], 10, 64); err != nil {
		return nil, fmt.Errorf("hotplugprobe: %q: %w", ready.text, err)
	}
	us, err := strconv.ParseInt(f["us"], 10, 64)
	if err != nil {
		return nil, fmt.Errorf("hotplugprobe: %q: %w", ready.text, err)
	}
	vm.ModuleLoad = time.Duration(us) * time.Microsecond
	if vm.Modules, err = vm.loaded(); err != nil {
		return nil, err
	}
	return vm, nil
}

// loaded reads the init's module lines.
func (vm *VM) loaded() ([]Module, error) {
	vm.mu.Lock()
	defer vm.mu.Unlock()
	var mods []Module
	for _, l := range vm.lines[:vm.next] {
		rest, ok := strings.CutPrefix(l.text, "probe: module ")
		if !ok {
			continue
		}
		f := fields(rest)
		size, err1 := strconv.ParseInt(f["bytes"], 10, 64)
		us, err2 := strconv.ParseInt(f["us"], 10, 64)
		if err := errors.Join(err1, err2); err != nil {
			return nil, fmt.Errorf("hotplugprobe: %q: %w", l.text, err)
		}
		mods = append(mods, Module{Name: strings.Fields(rest)[0], Bytes: size, Took: time.Duration(us) * time.Microsecond})
	}
	return mods, nil
}

// fields reads the key=value words of a probe line.
func fields(text string) map[string]string {
	m := map[string]string{}
	for f := range strings.FieldsSeq(text) {
		if k, v, ok := strings.Cut(f, "="); ok {
			m[k] = v
		}
	}
	return m
}

// maxTranscript bounds the console lines a VM keeps.
const maxTranscript = 10000

func (vm *VM) read(out io.Reader) {
	sc := bufio.NewScanner(out)
	for sc.Scan() {
		vm.mu.Lock()
		if len(vm.lines) < maxTranscript {
			vm.lines = append(vm.lines, line{at: time.Now(), text: strings.TrimRight(sc.Text(), "\r")})
		}
		close(vm.changed)
		vm.changed = make(chan struct{})
		vm.mu.Unlock()
	}
	vm.cmd.Wait()
	close(vm.done)
}

// wait consumes console lines up to the first that starts with prefix.
// A "probe: error" line ends the wait with that error.
func (vm *VM) wait(ctx context.Context, prefix string) (line, error) {
	for {
		vm.mu.Lock()
		for ; vm.next < len(vm.lines); vm.next++ {
			l := vm.lines[vm.next]
			if strings.HasPrefix(l.text, prefix) {
				vm.next++
				vm.mu.Unlock()
				return l, nil
			}
			if msg, ok := strings.CutPrefix(l.text, "probe: error "); ok {
				vm.next++
				vm.mu.Unlock()
				return line{}, fmt.Errorf("hotplugprobe: guest: %s", msg)
			}
		}
		changed := vm.changed
		vm.mu.Unlock()
		select {
		case <-changed:
		case <-vm.done:
			// Lines read before the exit are in vm.lines already.
			vm.mu.Lock()
			more := vm.next < len(vm.lines)
			vm.mu.Unlock()
			if !more {
				return line{}, fmt.Errorf("hotplugprobe: QEMU exited waiting for %q: %s\n%s", prefix, vm.cmd.ProcessState, vm.Transcript())
			}
		case <-ctx.Done():
			return line{}, fmt.Errorf("hotplugprobe: waiting for %q: %w", prefix, ctx.Err())
		}
	}
}

// Transcript is the console output so far and QEMU's error output.
func (vm *VM) Transcript() string {
	vm.mu.Lock()
	defer vm.mu.Unlock()
	var b strings.Builder
	for _, l := range vm.lines {
		b.WriteString(l.text + "\n")
	}
	select {
	case <-vm.done:
		b.WriteString(vm.stderr.String())
	default:
	}
	return b.String()
}

// Disk is a disk the guest saw.
type Disk struct {
	// Name is the guest's name (vda, sda).
	Name string
	// At is when the init's line naming the disk arrived, and Latency
	// (set by Plug) the time from the start of the QMP commands to then.
	At      time.Time
	Latency time.Duration
	// Attrs are the files under /sys/block/Name that say something of
	// its serial, by path relative to there.
	Attrs map[string]string
}

// Plug hot-plugs image (raw) as disk i with serial and waits for the
// guest to name it.
func (vm *VM) Plug(ctx context.Context, i int, image, serial string) (Disk, error) {
	if vm.variant.Device == nil {
		return Disk{}, fmt.Errorf("hotplugprobe: variant %s plugs nothing", vm.variant.Name)
	}
	drive := fmt.Sprintf("disk%d", i)
	start := time.Now()
	if err := vm.mon.Execute(ctx, "blockdev-add", map[string]any{"driver": "raw", "node-name": drive,
		"file": map[string]any{"driver": "file", "filename": image}}, nil); err != nil {
		return Disk{}, err
	}
	if err := vm.mon.Execute(ctx, "device_add", vm.variant.Device(i, drive, serial), nil); err != nil {
		return Disk{}, err
	}
	d, err := vm.WaitDisk(ctx)
	if err != nil {
		return Disk{}, err
	}
	d.Latency = d.At.Sub(start)
	return d, nil
}

// WaitDisk waits for the guest to name a new disk.
func (vm *VM) WaitDisk(ctx context.Context) (Disk, error) {
	l, err := vm.wait(ctx, "probe: disk ")
	if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled) {
		return Disk{}, fmt.Errorf("%w: %w", ErrNoDisk, err)
	}
	if err != nil {
		return Disk{}, err
	}
	f := strings.Fields(strings.TrimPrefix(l.text, "probe: disk "))
	if len(f) == 0 {
		return Disk{}, fmt.Errorf("hotplugprobe: %q names no disk", l.text)
	}
	name := f[0]
	d := Disk{Name: name, At: l.at, Attrs: map[string]string{}}
	for {
		a, err := vm.wait(ctx, "probe: ")
		if err != nil {
			return Disk{}, err
		}
		if a.text == "probe: done "+name {
			return d, nil
		}
		f := strings.SplitN(a.text, " ", 5) // probe: attr NAME FILE "VALUE"
		if len(f) != 5 || f[1] != "attr" || f[2] != name {
			continue
		}
		if v, err := strconv.Unquote(f[4]); err == nil {
			d.Attrs[f[3]] = v
		}
	}
}

// Close kills the VM.
func (vm *VM) Close() error {
	if vm.mon != nil {
		vm.mon.Close()
	}
	vm.cmd.Process.Kill()
	<-vm.done
	return nil
}

// Serial is the disk's serial as the kernel exposes it: virtio-blk's
// serial attribute, else the unit serial number of a SCSI disk's VPD page
// 0x80 (a 4-byte header whose last two bytes are the length, then the
// serial); "" when neither says.
func (d Disk) Serial() string {
	if s, ok := d.Attrs["serial"]; ok {
		return strings.TrimSpace(s)
	}
	return vpdSerial(d.Attrs["device/vpd_pg80"])
}

// vpdSerial reads the serial of a VPD page 0x80.
func vpdSerial(page string) string {
	if len(page) < 4 || page[1] != 0x80 {
		return ""
	}
	n := int(page[2])<<8 | int(page[3])
	body := page[4:]
	if n < len(body) {
		body = body[:n]
	}
	return strings.TrimSpace(body)
}
