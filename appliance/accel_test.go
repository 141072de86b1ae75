package appliance_test

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/guestinject/guestinject/appliance"
	"github.com/guestinject/guestinject/internal/accel"
	"github.com/guestinject/guestinject/vfs"
)

// accelImage builds a small ext4 image to boot sessions on.
func accelImage(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	tree := filepath.Join(dir, "tree")
	writeTree(t, tree, map[string]string{"etc/hostname": "accel\n"})
	img := filepath.Join(dir, "disk.raw")
	ext4Image(t, img, tree, 32)
	return img
}

// readHostname proves the session serves the guest.
func readHostname(ctx context.Context, t *testing.T, s *appliance.Session) {
	t.Helper()
	f, err := s.Open(ctx, "/etc/hostname")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var b [16]byte
	n, _ := f.Read(b[:])
	if string(b[:n]) != "accel\n" {
		t.Fatalf("/etc/hostname = %q", b[:n])
	}
}

// TestAcceleratorOnThisHost runs the default decision on the real host:
// the accelerator is the one the host checks allow, the session works,
// and a second session decides from the cache without a proof of its own.
func TestAcceleratorOnThisHost(t *testing.T) {
	needE2E(t)
	img := accelImage(t)
	cache := t.TempDir()
	ctx, s := openRaw(t, img, appliance.WithCacheDir(cache), appliance.WithAccelerator(appliance.AccelAuto))
	readHostname(ctx, t, s)
	first := s.Accelerator()
	s.Close()
	hostErr := accel.Host{}.Check(nil)
	if hostErr != nil && (first.Name != "tcg" || first.Probed) {
		t.Errorf("host checks fail (%v) but the session chose %+v", hostErr, first)
	}
	if first.Reason == "" {
		t.Error("no reason given for the accelerator")
	}
	ctx, s2 := openRaw(t, img, appliance.WithCacheDir(cache))
	readHostname(ctx, t, s2)
	if second := s2.Accelerator(); second.Probed || second.Name != first.Name {
		t.Errorf("second session: %+v after %+v; want the same accelerator, no proof", second, first)
	}
}

// TestAcceleratorForced runs forced TCG and forced KVM on the real host:
// TCG always works; KVM works exactly when the host checks pass, and
// otherwise fails with the typed error saying why.
func TestAcceleratorForced(t *testing.T) {
	needE2E(t)
	img := accelImage(t)
	ctx, s := openRaw(t, img, appliance.WithAccelerator(appliance.AccelTCG))
	readHostname(ctx, t, s)
	if c := s.Accelerator(); c.Name != "tcg" || c.Probed {
		t.Errorf("forced tcg: %+v", c)
	}
	s.Close()

	hostErr := accel.Host{}.Check(nil)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	k, err := appliance.Open(ctx, []vfs.Disk{{Path: img, Format: "raw"}}, appliance.WithAccelerator(appliance.AccelKVM))
	if err == nil {
		defer k.Close()
		if c := k.Accelerator(); c.Name != "kvm" {
			t.Errorf("forced kvm: %+v", c)
		}
		return
	}
	var ke *appliance.KVMError
	if !errors.Is(err, appliance.ErrKVMUnusable) || !errors.As(err, &ke) || ke.Reason == "" {
		t.Fatalf("forced kvm: %v; want a *KVMError", err)
	}
	if hostErr == nil {
		t.Logf("KVM passed the host checks but failed to boot the appliance: %v", err)
	}
}

// brokenKVM writes a QEMU wrapper that behaves like a host whose KVM
// initialises and then cannot run the guest (PVM, broken nesting): asked
// for KVM, it prints QEMU's internal-error report and stays alive with the
// VM stopped, or, with silent set, only stays alive. Otherwise it runs the
// real QEMU. Every KVM start is counted in the returned file.
func brokenKVM(t *testing.T, silent bool) (qemu, starts string) {
	t.Helper()
	real, err := exec.LookPath(sbinPath("qemu-system-x86_64"))
	if err != nil {
		t.Fatal(err)
	}
	dir, err := os.MkdirTemp("", "brokenkvm-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	// QEMU runs as a user of its own: the wrapper and its counter must
	// be theirs to use.
	if err := os.Chmod(dir, 0o777); err != nil {
		t.Fatal(err)
	}
	starts = filepath.Join(dir, "kvm-starts")
	if err := os.WriteFile(starts, nil, 0o666); err != nil {
		t.Fatal(err)
	}
	os.Chmod(starts, 0o666)
	report := `echo "KVM internal error. Suberror: 1" >&2; echo "emulation failure" >&2`
	if silent {
		report = ":"
	}
	script := `#!/bin/sh
case "$*" in
*accel=kvm*) echo kvm >> ` + starts + `; ` + report + `; exec sleep 600;;
esac
exec ` + real + ` "$@"
`
	qemu = filepath.Join(dir, "qemu-system-x86_64")
	if err := os.WriteFile(qemu, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	return qemu, starts
}

func kvmStarts(t *testing.T, starts string) int {
	t.Helper()
	b, err := os.ReadFile(starts)
	if err != nil {
		t.Fatal(err)
	}
	return strings.Count(string(b), "kvm\n")
}

// passingHost is a host whose KVM passes every cheap check, so only a
// boot can tell.
func passingHost(t *testing.T) accel.Host {
	dir := t.TempDir()
	for _, m := range []string{"kvm", "kvm_intel"} {
		if err := os.MkdirAll(filepath.Join(dir, m), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	return accel.Host{Device: "/dev/null", SysModule: dir, OpenDevice: func(string) error { return nil }}
}

// TestAcceleratorProofFails is the host the checks cannot judge: auto
// proves KVM with a boot, sees QEMU's internal-error report, kills that
// VM and continues the same Open under TCG; the verdict is cached, so the
// next session pays no proof; forcing KVM fails with the typed error and
// QEMU's report, without waiting for the boot timeout.
func TestAcceleratorProofFails(t *testing.T) {
	needE2E(t)
	img := accelImage(t)
	before := fileHash(t, img)
	qemu, starts := brokenKVM(t, false)
	cache := t.TempDir()
	opts := []appliance.Option{appliance.WithCacheDir(cache), appliance.WithLauncher(appliance.QEMU{Binary: qemu}),
		appliance.WithAccelHost(passingHost(t)), appliance.WithBootTimeout(50 * time.Second)}

	ctx, s := openRaw(t, img, opts...)
	readHostname(ctx, t, s)
	c := s.Accelerator()
	if c.Name != "tcg" || !c.Probed || !strings.Contains(c.Reason, "KVM internal error") {
		t.Errorf("after a failed proof: %+v", c)
	}
	s.Close()
	if n := kvmStarts(t, starts); n != 1 {
		t.Fatalf("%d KVM starts, want 1", n)
	}

	ctx, s = openRaw(t, img, opts...)
	readHostname(ctx, t, s)
	if c := s.Accelerator(); c.Name != "tcg" || c.Probed {
		t.Errorf("second session: %+v, want TCG from the cache", c)
	}
	s.Close()
	if n := kvmStarts(t, starts); n != 1 {
		t.Errorf("%d KVM starts after the second session, want still 1", n)
	}

	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	_, err := appliance.Open(ctx, []vfs.Disk{{Path: img, Format: "raw"}}, append(opts, appliance.WithAccelerator(appliance.AccelKVM))...)
	var ke *appliance.KVMError
	if !errors.As(err, &ke) || !errors.Is(err, appliance.ErrKVMUnusable) || !strings.Contains(ke.Reason, "KVM internal error") {
		t.Fatalf("forced kvm: %v; want a *KVMError with QEMU's report", err)
	}
	if !strings.Contains(ke.Console, "emulation failure") {
		t.Errorf("the error's console tail lacks QEMU's report:\n%s", ke.Console)
	}
	if after := fileHash(t, img); after != before {
		t.Error("the image changed")
	}
}

// TestAcceleratorProofTimesOut is a KVM that says nothing and never
// answers: the proof's deadline sends the session to TCG.
func TestAcceleratorProofTimesOut(t *testing.T) {
	needE2E(t)
	img := accelImage(t)
	qemu, starts := brokenKVM(t, true)
	ctx, s := openRaw(t, img, appliance.WithCacheDir(t.TempDir()), appliance.WithLauncher(appliance.QEMU{Binary: qemu}),
		appliance.WithAccelHost(passingHost(t)), appliance.WithProbeTimeout(2*time.Second))
	readHostname(ctx, t, s)
	if c := s.Accelerator(); c.Name != "tcg" || !c.Probed || !strings.Contains(c.Reason, "did not answer") {
		t.Errorf("after a silent proof: %+v", c)
	}
	if n := kvmStarts(t, starts); n != 1 {
		t.Errorf("%d KVM starts, want 1", n)
	}
}

// TestAcceleratorFromEnv: $GUESTINJECT_ACCEL chooses when no option does,
// and a bad value is refused before anything boots.
func TestAcceleratorFromEnv(t *testing.T) {
	needE2E(t)
	img := accelImage(t)
	t.Setenv(appliance.AcceleratorEnv, "bogus")
	if _, err := appliance.Open(context.Background(), []vfs.Disk{{Path: img, Format: "raw"}}); err == nil || !strings.Contains(err.Error(), appliance.AcceleratorEnv) {
		t.Fatalf("Open with %s=bogus: %v", appliance.AcceleratorEnv, err)
	}
	t.Setenv(appliance.AcceleratorEnv, "tcg")
	ctx, s := openRaw(t, img)
	readHostname(ctx, t, s)
	if c := s.Accelerator(); c.Name != "tcg" || !strings.Contains(c.Reason, "asked") {
		t.Errorf("with %s=tcg: %+v", appliance.AcceleratorEnv, c)
	}
}

// hideKVMEnv marks the child of TestAcceleratorKVMHidden, which runs in a
// mount namespace of its own where /dev/kvm is /dev/null.
const hideKVMEnv = "GUESTINJECT_TEST_KVM_HIDDEN"

// TestAcceleratorKVMHidden runs the no-KVM path on the real host: a child
// test process whose /dev/kvm is /dev/null (or absent, on a host without
// one) chooses TCG without a proof, works, and refuses forced KVM with the
// typed error.
func TestAcceleratorKVMHidden(t *testing.T) {
	needE2E(t)
	if os.Getenv(hideKVMEnv) == "" {
		if os.Geteuid() != 0 {
			t.Fatal("hiding /dev/kvm needs root (a mount namespace)")
		}
		cmd := exec.Command(os.Args[0], "-test.run=^TestAcceleratorKVMHidden$", "-test.count=1", "-test.v")
		cmd.Env = append(os.Environ(), hideKVMEnv+"=1")
		// Go makes the new namespace's mounts private before exec.
		cmd.SysProcAttr = &syscall.SysProcAttr{Unshareflags: syscall.CLONE_NEWNS}
		out, err := cmd.CombinedOutput()
		if err != nil || !strings.Contains(string(out), "--- PASS: TestAcceleratorKVMHidden") {
			t.Fatalf("child with /dev/kvm hidden: %v\n%s", err, out)
		}
		return
	}
	if _, err := os.Stat("/dev/kvm"); err == nil {
		if err := syscall.Mount("/dev/null", "/dev/kvm", "", syscall.MS_BIND, ""); err != nil {
			t.Fatalf("binding /dev/null over /dev/kvm: %v", err)
		}
	}
	img := accelImage(t)
	ctx, s := openRaw(t, img, appliance.WithCacheDir(t.TempDir()), appliance.WithAccelerator(appliance.AccelAuto))
	readHostname(ctx, t, s)
	var hostErr *appliance.KVMError
	if !errors.As(accel.Host{}.Check(nil), &hostErr) {
		t.Fatal("the host checks pass with /dev/kvm hidden")
	}
	if c := s.Accelerator(); c.Name != "tcg" || c.Probed || c.Reason != hostErr.Reason {
		t.Errorf("with /dev/kvm hidden: %+v, want TCG without a proof because %s", c, hostErr.Reason)
	}
	s.Close()

	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	_, err := appliance.Open(ctx, []vfs.Disk{{Path: img, Format: "raw"}}, appliance.WithCacheDir(t.TempDir()), appliance.WithAccelerator(appliance.AccelKVM))
	var ke *appliance.KVMError
	if !errors.As(err, &ke) || !errors.Is(err, appliance.ErrKVMUnusable) {
		t.Fatalf("forced kvm with /dev/kvm hidden: %v; want a *KVMError", err)
	}
}
