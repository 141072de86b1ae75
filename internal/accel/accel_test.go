package accel

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/guestinject/guestinject/internal/testsupport/testimage"
)

// fakeHost builds a module tree with mods, a boot id and a device at
// dev (created by the caller, or absent).
func fakeHost(t *testing.T, dev string, mods ...string) Host {
	t.Helper()
	dir := t.TempDir()
	for _, m := range mods {
		if err := os.MkdirAll(filepath.Join(dir, "module", m, "parameters"), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.MkdirAll(filepath.Join(dir, "module", "loop"), 0o755); err != nil {
		t.Fatal(err)
	}
	bootID := filepath.Join(dir, "boot_id")
	if err := os.WriteFile(bootID, []byte("11111111-2222-3333-4444-555555555555\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	return Host{Device: dev, SysModule: filepath.Join(dir, "module"), BootID: bootID}
}

// worksHost is a host whose device passes the ioctls.
func worksHost(t *testing.T) Host {
	h := fakeHost(t, "/dev/null", "kvm", "kvm_intel")
	h.OpenDevice = func(string) error { return nil }
	return h
}

func wantUnusable(t *testing.T, err error, reason string) {
	t.Helper()
	var ue *UnusableError
	if !errors.As(err, &ue) || !errors.Is(err, ErrKVMUnusable) {
		t.Fatalf("error = %v, want an *UnusableError", err)
	}
	if !strings.Contains(ue.Reason, reason) {
		t.Errorf("reason %q does not say %q", ue.Reason, reason)
	}
}

func TestCheck(t *testing.T) {
	dir := t.TempDir()
	missing := filepath.Join(dir, "missing", "kvm")
	notDevice := filepath.Join(dir, "kvm")
	if err := os.WriteFile(notDevice, nil, 0o666); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name   string
		host   Host
		user   *User
		reason string
	}{
		{"pvm", fakeHost(t, "/dev/null", "kvm", "kvm_pvm"), nil, "kvm_pvm"},
		{"no module", fakeHost(t, "/dev/null"), nil, "no KVM module"},
		{"kvm without vendor", fakeHost(t, "/dev/null", "kvm"), nil, "loaded: kvm"},
		{"no device", fakeHost(t, missing, "kvm", "kvm_amd"), nil, "no such file"},
		{"not a device", fakeHost(t, notDevice, "kvm", "kvm_intel"), nil, "not a character device"},
		// /dev/null is a character device, but no KVM: the first ioctl fails.
		{"not kvm", fakeHost(t, "/dev/null", "kvm", "kvm_intel"), nil, "KVM_GET_API_VERSION"},
	} {
		t.Run(tc.name, func(t *testing.T) { wantUnusable(t, tc.host.Check(tc.user), tc.reason) })
	}
}

// TestCheckUserPermissions checks the device against QEMU's user by its
// mode bits, before anything opens it.
func TestCheckUserPermissions(t *testing.T) {
	if os.Geteuid() != 0 {
		testimage.Need(t, "root (mknod)")
	}
	dev := filepath.Join(t.TempDir(), "kvm")
	// 10:232 is /dev/kvm's number; the node is never opened here.
	if err := unix.Mknod(dev, unix.S_IFCHR|0o660, int(unix.Mkdev(10, 232))); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(dev, 0o660); err != nil {
		t.Fatal(err)
	}
	if err := os.Chown(dev, 0, 4242); err != nil {
		t.Fatal(err)
	}
	h := fakeHost(t, dev, "kvm", "kvm_intel")
	h.OpenDevice = func(string) error { return nil }
	wantUnusable(t, h.Check(&User{UID: 5000, GID: 5000}), "uid 5000")
	if err := h.Check(&User{UID: 5000, GID: 5000, Groups: []uint32{4242}}); err != nil {
		t.Errorf("member of the device's group: %v", err)
	}
	if err := h.Check(&User{UID: 0, GID: 0}); err != nil {
		t.Errorf("root: %v", err)
	}
	h.OpenDevice = func(string) error { return errors.New("opening it: permission denied") }
	wantUnusable(t, h.Check(nil), "permission denied")
}

func TestDecideModes(t *testing.T) {
	pvm := fakeHost(t, "/dev/null", "kvm", "kvm_pvm")
	d, err := Decide(Auto, Inputs{Host: pvm, CacheDir: t.TempDir()})
	if err != nil || d.Accel != "tcg" || d.NeedsProof || !strings.Contains(d.Reason, "kvm_pvm") {
		t.Errorf("auto on PVM: %+v, %v", d, err)
	}
	if _, err := Decide(KVM, Inputs{Host: pvm}); !errors.Is(err, ErrKVMUnusable) {
		t.Errorf("forced kvm on PVM: %v, want ErrKVMUnusable", err)
	}
	if d, err := Decide(TCG, Inputs{Host: worksHost(t)}); err != nil || d.Accel != "tcg" || d.NeedsProof {
		t.Errorf("tcg: %+v, %v", d, err)
	}
	if d, err := Decide(KVM, Inputs{Host: worksHost(t)}); err != nil || d.Accel != "kvm" || d.NeedsProof {
		t.Errorf("forced kvm on a working host: %+v, %v", d, err)
	}
	if _, err := Decide("xen", Inputs{}); err == nil {
		t.Error("unknown mode accepted")
	}
}

func TestParseMode(t *testing.T) {
	for in, want := range map[string]Mode{"": Auto, "auto": Auto, "KVM": KVM, " tcg ": TCG} {
		if got, err := ParseMode(in); err != nil || got != want {
			t.Errorf("ParseMode(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	if _, err := ParseMode("kvm:tcg"); err == nil {
		t.Error(`ParseMode("kvm:tcg") accepted`)
	}
	t.Setenv(EnvVar, "bogus")
	if _, err := ModeFromEnv(); err == nil || !strings.Contains(err.Error(), EnvVar) {
		t.Errorf("ModeFromEnv with a bad value: %v", err)
	}
}

// TestVerdictCache follows one key through a proof and shows that a
// change of kernel, QEMU binary, boot id or KVM modules asks for a new
// one, and that a failed proof sends later sessions to TCG.
func TestVerdictCache(t *testing.T) {
	dir := t.TempDir()
	kernel := filepath.Join(dir, "vmlinuz")
	qemu := filepath.Join(dir, "qemu")
	for _, f := range []string{kernel, qemu} {
		if err := os.WriteFile(f, []byte("v1"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	in := Inputs{Host: worksHost(t), CacheDir: filepath.Join(dir, "cache"), Kernel: kernel, QEMU: qemu}
	d, err := Decide(Auto, in)
	if err != nil || !d.NeedsProof || d.Accel != "kvm" {
		t.Fatalf("first decision: %+v, %v", d, err)
	}
	if err := d.Record(nil); err != nil {
		t.Fatal(err)
	}
	if d, _ := Decide(Auto, in); d.NeedsProof || d.Accel != "kvm" {
		t.Fatalf("after a proof: %+v", d)
	}

	changes := map[string]func(){
		"kernel": func() { os.WriteFile(kernel, []byte("version 2"), 0o644) },
		"qemu":   func() { os.WriteFile(qemu, []byte("version 2"), 0o644) },
		"boot":   func() { os.WriteFile(in.Host.BootID, []byte("99999999-2222-3333-4444-555555555555\n"), 0o644) },
		"modules": func() {
			os.MkdirAll(filepath.Join(in.Host.SysModule, "kvm_amd"), 0o755)
		},
	}
	for _, name := range []string{"kernel", "qemu", "boot", "modules"} {
		changes[name]()
		d, err := Decide(Auto, in)
		if err != nil || !d.NeedsProof {
			t.Errorf("after a change of %s: %+v, %v; want a new proof", name, d, err)
		}
		if err := d.Record(nil); err != nil {
			t.Fatal(err)
		}
	}

	d, _ = Decide(Auto, in)
	os.WriteFile(kernel, []byte("version 3"), 0o644)
	d, _ = Decide(Auto, in)
	if err := d.Record(&UnusableError{Reason: "QEMU reported: KVM internal error. Suberror: 1"}); err != nil {
		t.Fatal(err)
	}
	d, err = Decide(Auto, in)
	if err != nil || d.NeedsProof || d.Accel != "tcg" || !strings.Contains(d.Reason, "KVM internal error") {
		t.Errorf("after a failed proof: %+v, %v", d, err)
	}
	// A forced KVM still tries: the caller asked for it.
	if d, err := Decide(KVM, in); err != nil || d.Accel != "kvm" {
		t.Errorf("forced kvm after a failed proof: %+v, %v", d, err)
	}
}

func TestVerdictCacheIgnoresGarbage(t *testing.T) {
	in := Inputs{Host: worksHost(t), CacheDir: t.TempDir()}
	d, _ := Decide(Auto, in)
	if err := os.WriteFile(d.verdictPath, []byte(`{"key": "another", "kvm": true}`), 0o600); err != nil {
		t.Fatal(err)
	}
	if d, _ := Decide(Auto, in); !d.NeedsProof {
		t.Error("a verdict of another key was used")
	}
	if err := os.WriteFile(d.verdictPath, []byte(`{trunc`), 0o600); err != nil {
		t.Fatal(err)
	}
	if d, _ := Decide(Auto, in); !d.NeedsProof {
		t.Error("a broken verdict was used")
	}
}

// proofHelperEnv makes the test binary a process that proves KVM for the
// cache its value names, unless a verdict is there, and prints which.
const proofHelperEnv = "GUESTINJECT_ACCEL_PROOF_HELPER"

func TestMain(m *testing.M) {
	if cache := os.Getenv(proofHelperEnv); cache != "" {
		os.Exit(proofHelper(cache))
	}
	os.Exit(m.Run())
}

func proofHelper(cache string) int {
	h := Host{SysModule: os.Getenv(proofHelperEnv + "_MODULES"), BootID: os.Getenv(proofHelperEnv + "_BOOTID"), Device: "/dev/null",
		OpenDevice: func(string) error { return nil }}
	in := Inputs{Host: h, CacheDir: cache}
	d, err := Decide(Auto, in)
	if err != nil {
		fmt.Println("error", err)
		return 1
	}
	if d.NeedsProof {
		unlock, err := d.Lock(context.Background())
		if err != nil {
			fmt.Println("error", err)
			return 1
		}
		defer unlock()
		if d, err = Decide(Auto, in); err != nil {
			fmt.Println("error", err)
			return 1
		}
		if d.NeedsProof {
			if err := d.Record(nil); err != nil {
				fmt.Println("error", err)
				return 1
			}
			fmt.Println("proved")
			return 0
		}
	}
	fmt.Println("cached", d.Accel)
	return 0
}

// TestVerdictCacheProcesses runs several processes on one cache at once:
// exactly one proves, the rest wait for it and use its verdict.
func TestVerdictCacheProcesses(t *testing.T) {
	h := worksHost(t)
	cache := t.TempDir()
	const n = 6
	cmds := make([]*exec.Cmd, n)
	outs := make([]strings.Builder, n)
	for i := range cmds {
		cmds[i] = exec.Command(os.Args[0], "-test.run=^$")
		cmds[i].Env = append(os.Environ(), proofHelperEnv+"="+cache, proofHelperEnv+"_MODULES="+h.SysModule, proofHelperEnv+"_BOOTID="+h.BootID)
		cmds[i].Stdout, cmds[i].Stderr = &outs[i], &outs[i]
		if err := cmds[i].Start(); err != nil {
			t.Fatal(err)
		}
	}
	proved, cached := 0, 0
	for i, c := range cmds {
		if err := c.Wait(); err != nil {
			t.Fatalf("helper %d: %v\n%s", i, err, outs[i].String())
		}
		switch out := strings.TrimSpace(outs[i].String()); out {
		case "proved":
			proved++
		case "cached kvm":
			cached++
		default:
			t.Errorf("helper %d said %q", i, out)
		}
	}
	if proved != 1 || cached != n-1 {
		t.Errorf("%d proofs and %d cached verdicts, want 1 and %d", proved, cached, n-1)
	}
}

func TestFailureLine(t *testing.T) {
	for _, l := range []string{
		"KVM internal error. Suberror: 1",
		"emulation failure",
		"KVM: entry failed, hardware error 0x80000021",
		"error: kvm run failed Bad address",
		"Could not access KVM kernel module: Permission denied",
		"qemu-system-x86_64: failed to initialize kvm: No such file or directory",
	} {
		if !FailureLine(l) {
			t.Errorf("FailureLine(%q) = false", l)
		}
	}
	for _, l := range []string{"[    0.000000] Linux version 6.1.0", "guestinject-agent: hello", "kvm-clock: Using msrs"} {
		if FailureLine(l) {
			t.Errorf("FailureLine(%q) = true", l)
		}
	}
}
