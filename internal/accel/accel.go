package accel

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/guestinject/guestinject/internal/cachefile"
)

// Mode is what the caller asks for.
type Mode string

const (
	// Auto uses KVM once a boot under it has proven it works on this
	// host for this kernel, and TCG otherwise.
	Auto Mode = "auto"
	// KVM insists on KVM and fails when it cannot work.
	KVM Mode = "kvm"
	// TCG always emulates.
	TCG Mode = "tcg"
)

// EnvVar is the environment variable that sets the mode when the caller
// does not.
const EnvVar = "GUESTINJECT_ACCEL"

// ParseMode reads "auto", "kvm" or "tcg"; "" is Auto.
func ParseMode(s string) (Mode, error) {
	switch m := Mode(strings.ToLower(strings.TrimSpace(s))); m {
	case "":
		return Auto, nil
	case Auto, KVM, TCG:
		return m, nil
	}
	return "", fmt.Errorf("unknown accelerator %q (want auto, kvm or tcg)", s)
}

// ModeFromEnv returns the mode $GUESTINJECT_ACCEL names, Auto when it is
// unset.
func ModeFromEnv() (Mode, error) {
	m, err := ParseMode(os.Getenv(EnvVar))
	if err != nil {
		return "", fmt.Errorf("$%s: %w", EnvVar, err)
	}
	return m, nil
}

// ErrKVMUnusable is matched (errors.Is) by every *UnusableError.
var ErrKVMUnusable = errors.New("KVM cannot run the appliance")

// UnusableError says why KVM cannot run the appliance on this host.
type UnusableError struct {
	// Reason is one sentence: what was checked and what failed.
	Reason string
	// Console is the tail of the VM's console when a boot under KVM
	// failed, else "".
	Console string
}

func (e *UnusableError) Error() string {
	msg := "KVM cannot run the appliance: " + e.Reason
	if e.Console != "" {
		msg += "\nconsole tail:\n" + e.Console
	}
	return msg
}

// Is makes errors.Is(err, ErrKVMUnusable) true.
func (e *UnusableError) Is(target error) bool { return target == ErrKVMUnusable }

// Host is where the cheap checks look; the zero value is this host.
type Host struct {
	Device    string // default /dev/kvm
	SysModule string // default /sys/module
	BootID    string // default /proc/sys/kernel/random/boot_id
	// OpenDevice, when set, replaces the open and the two ioctls on the
	// device (tests of hosts whose KVM passes them); nil means the real
	// ones. Its error is the reason KVM is unusable.
	OpenDevice func(dev string) error
}

func (h Host) device() string    { return cmpOr(h.Device, "/dev/kvm") }
func (h Host) sysModule() string { return cmpOr(h.SysModule, "/sys/module") }
func (h Host) bootID() string    { return cmpOr(h.BootID, "/proc/sys/kernel/random/boot_id") }

func cmpOr(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

// vendorModules run stock guest kernels. kvm_pvm, the other module that
// can serve /dev/kvm, runs only kernels built for it (CONFIG_PVM_GUEST).
var vendorModules = []string{"kvm_intel", "kvm_amd"}

// Modules lists the loaded (or built-in) modules whose name starts with
// kvm, sorted: kvm itself and its vendor or PVM back end.
func (h Host) Modules() []string {
	entries, err := os.ReadDir(h.sysModule())
	if err != nil {
		return nil
	}
	var mods []string
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), "kvm") {
			mods = append(mods, e.Name())
		}
	}
	slices.Sort(mods)
	return mods
}

// User is who QEMU runs as; nil in Check means this process.
type User struct {
	UID, GID uint32
	Groups   []uint32
}

// KVM's ioctls (linux/kvm.h): _IO(KVMIO, 0x00) and _IO(KVMIO, 0x01).
const (
	kvmGetAPIVersion = 0xAE00
	kvmCreateVM      = 0xAE01
	kvmAPIVersion    = 12
)

// Check does the cheap checks, in this order: a vendor module that runs
// stock kernels is loaded, the device is a character device that QEMU's
// user may open read-write, it speaks KVM API version 12, and it creates
// a VM. nil means KVM may work and a boot must prove it; otherwise the
// error is an *UnusableError saying which check failed.
func (h Host) Check(user *User) error {
	mods := h.Modules()
	vendor := false
	for _, m := range vendorModules {
		vendor = vendor || slices.Contains(mods, m)
	}
	if !vendor {
		switch {
		case slices.Contains(mods, "kvm_pvm"):
			return &UnusableError{Reason: "KVM is served by kvm_pvm, which runs only guest kernels built for PVM; kvm_intel and kvm_amd are not loaded"}
		case len(mods) == 0:
			return &UnusableError{Reason: "no KVM module is loaded (kvm_intel or kvm_amd)"}
		default:
			return &UnusableError{Reason: fmt.Sprintf("no vendor KVM module is loaded (kvm_intel or kvm_amd; loaded: %s)", strings.Join(mods, ", "))}
		}
	}
	dev := h.device()
	fi, err := os.Stat(dev)
	if err != nil {
		return &UnusableError{Reason: fmt.Sprintf("%s: %v", dev, errors.Unwrap(err))}
	}
	if fi.Mode()&fs.ModeCharDevice == 0 {
		return &UnusableError{Reason: dev + " is not a character device"}
	}
	if user != nil && !mayReadWrite(fi, user) {
		return &UnusableError{Reason: fmt.Sprintf("%s (mode %v) cannot be opened read-write by uid %d gid %d, the user QEMU runs as", dev, fi.Mode().Perm(), user.UID, user.GID)}
	}
	if h.OpenDevice != nil {
		if err := h.OpenDevice(dev); err != nil {
			return &UnusableError{Reason: err.Error()}
		}
		return nil
	}
	return openDevice(dev)
}

// openDevice opens dev read-write and asks it for its API version and a
// VM.
func openDevice(dev string) error {
	f, err := os.OpenFile(dev, os.O_RDWR|unix.O_CLOEXEC, 0)
	if err != nil {
		return &UnusableError{Reason: fmt.Sprintf("opening %s: %v", dev, errors.Unwrap(err))}
	}
	defer f.Close()
	v, err := unix.IoctlRetInt(int(f.Fd()), kvmGetAPIVersion)
	if err != nil {
		return &UnusableError{Reason: fmt.Sprintf("%s: KVM_GET_API_VERSION: %v", dev, err)}
	}
	if v != kvmAPIVersion {
		return &UnusableError{Reason: fmt.Sprintf("%s: KVM API version %d, want %d", dev, v, kvmAPIVersion)}
	}
	vm, err := unix.IoctlRetInt(int(f.Fd()), kvmCreateVM)
	if err != nil {
		return &UnusableError{Reason: fmt.Sprintf("%s: KVM_CREATE_VM: %v", dev, err)}
	}
	unix.Close(vm)
	return nil
}

// mayReadWrite says whether user may open the file read-write by its
// permission bits.
func mayReadWrite(fi fs.FileInfo, u *User) bool {
	if u.UID == 0 {
		return true
	}
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return false
	}
	perm := fi.Mode().Perm()
	switch {
	case st.Uid == u.UID:
		return perm&0o600 == 0o600
	case st.Gid == u.GID || slices.Contains(u.Groups, st.Gid):
		return perm&0o060 == 0o060
	}
	return perm&0o006 == 0o006
}

// Inputs are what a verdict depends on: when any changes, KVM is proven
// again.
type Inputs struct {
	Host Host
	// CacheDir holds the verdicts ("" is the per-user cache).
	CacheDir string
	// Kernel is the appliance kernel image, QEMU the emulator binary.
	Kernel, QEMU string
	// User is who QEMU runs as; nil means this process.
	User *User
}

// Decision is the accelerator a session uses and why.
type Decision struct {
	// Accel is "kvm" or "tcg".
	Accel string
	// Reason says why, in one sentence.
	Reason string
	// NeedsProof is set when KVM passed the cheap checks and no verdict
	// is cached: the caller boots under KVM within ProbeTimeout and
	// reports the outcome with Record.
	NeedsProof bool

	verdictPath string
	keyText     string
}

// ProbeTimeout bounds the proving boot: under a KVM that works the
// appliance answers in well under a second.
const ProbeTimeout = 10 * time.Second

// verdict is the cached outcome of one proving boot.
type verdict struct {
	Key    string    `json:"key"`
	KVM    bool      `json:"kvm"`
	Reason string    `json:"reason"`
	Proved time.Time `json:"proved"`
}

// Decide chooses the accelerator for mode. A KVM mode whose cheap checks
// fail returns the *UnusableError; Auto falls back to TCG instead.
func Decide(mode Mode, in Inputs) (Decision, error) {
	switch mode {
	case TCG:
		return Decision{Accel: "tcg", Reason: "TCG was asked for"}, nil
	case KVM, Auto, "":
	default:
		return Decision{}, fmt.Errorf("unknown accelerator %q", mode)
	}
	if err := in.Host.Check(in.User); err != nil {
		if mode == KVM {
			return Decision{}, err
		}
		var ue *UnusableError
		errors.As(err, &ue)
		return Decision{Accel: "tcg", Reason: ue.Reason}, nil
	}
	if mode == KVM {
		return Decision{Accel: "kvm", Reason: "KVM was asked for"}, nil
	}
	d := Decision{Accel: "kvm", keyText: in.key()}
	cache, err := cachefile.Dir(in.CacheDir)
	if err != nil {
		// Without a cache every session proves KVM again; that costs
		// time, not correctness.
		d.NeedsProof, d.Reason = true, "KVM passed the host checks; no cache to keep a verdict in"
		return d, nil
	}
	sum := sha256.Sum256([]byte(d.keyText))
	d.verdictPath = filepath.Join(cache, "accel-"+hex.EncodeToString(sum[:12])+".json")
	if v, ok := readVerdict(d.verdictPath, d.keyText); ok {
		if v.KVM {
			d.Reason = "KVM booted this kernel on this host before (" + v.Proved.Format(time.RFC3339) + ")"
			return d, nil
		}
		return Decision{Accel: "tcg", Reason: v.Reason}, nil
	}
	d.NeedsProof, d.Reason = true, "KVM passed the host checks and is being proven by this boot"
	return d, nil
}

// Lock serialises proving boots of one key across processes, so that
// sessions started together wait for one proof instead of each paying
// for their own. After Lock, call Decide again: another process may have
// recorded the verdict meanwhile.
func (d Decision) Lock(ctx context.Context) (unlock func(), err error) {
	if d.verdictPath == "" {
		return func() {}, nil
	}
	return cachefile.Lock(ctx, d.verdictPath+".lock")
}

// Record keeps the outcome of a proving boot: nil means the agent
// answered under KVM, an error why it did not.
func (d Decision) Record(outcome error) error {
	if d.verdictPath == "" {
		return nil
	}
	v := verdict{Key: d.keyText, KVM: outcome == nil, Proved: time.Now().UTC()}
	if outcome != nil {
		v.Reason = "a boot under KVM failed on this host before: " + firstLine(outcome.Error())
	}
	j, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	return cachefile.WriteAtomic(d.verdictPath, append(j, '\n'), 0o600)
}

func firstLine(s string) string {
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		return s[:i]
	}
	return s
}

func readVerdict(path, key string) (verdict, bool) {
	b, err := os.ReadFile(path)
	if err != nil {
		return verdict{}, false
	}
	var v verdict
	if json.Unmarshal(b, &v) != nil || v.Key != key {
		return verdict{}, false
	}
	return v, true
}

// key names everything a verdict depends on: the kernel and the QEMU
// binary by identity (path, size, modification and change times: an
// upgrade replaces the file), the host's boot id and its KVM modules.
func (in Inputs) key() string {
	var b bytes.Buffer
	fmt.Fprintf(&b, "kernel %s\nqemu %s\n", fileIdentity(in.Kernel), fileIdentity(in.QEMU))
	boot, _ := os.ReadFile(in.Host.bootID())
	fmt.Fprintf(&b, "boot %s\nmodules %s\n", strings.TrimSpace(string(boot)), strings.Join(in.Host.Modules(), ","))
	return b.String()
}

func fileIdentity(path string) string {
	if path == "" {
		return "-"
	}
	abs, err := filepath.EvalSymlinks(path)
	if err != nil {
		return path + " (missing)"
	}
	var st unix.Stat_t
	if err := unix.Stat(abs, &st); err != nil {
		return abs + " (missing)"
	}
	return fmt.Sprintf("%s size=%d ino=%d mtime=%d.%09d ctime=%d.%09d", abs, st.Size, st.Ino,
		st.Mtim.Sec, st.Mtim.Nsec, st.Ctim.Sec, st.Ctim.Nsec)
}

// consoleFailures are what QEMU prints when KVM cannot run the guest
// (accel/kvm/kvm-all.c and target/i386/kvm/kvm.c): the VM then stops and
// QEMU stays alive, so nothing but its output says so.
var consoleFailures = []string{
	"KVM internal error",
	"emulation failure",
	"KVM: entry failed",
	"kvm run failed",
	"Could not access KVM kernel module",
	"failed to initialize kvm",
	"failed to initialize KVM",
	"kvm_init_vcpu failed",
}

// FailureLine reports whether a line of QEMU's output says KVM failed.
func FailureLine(line string) bool {
	for _, p := range consoleFailures {
		if strings.Contains(line, p) {
			return true
		}
	}
	return false
}
