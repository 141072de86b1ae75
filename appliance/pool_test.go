package appliance_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/guestinject/guestinject/appliance"
	"github.com/guestinject/guestinject/internal/qmp"
	"github.com/guestinject/guestinject/internal/testsupport/appliancetest"
	"github.com/guestinject/guestinject/vfs"
)

// newPool makes a pool of size VMs, waits until they are booted and
// closes it when the test ends.
func newPool(t testing.TB, size int, opts ...appliance.Option) *appliance.Pool {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	p, err := appliance.NewPool(ctx, size, opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	if err := p.Wait(ctx); err != nil {
		t.Fatal(err)
	}
	return p
}

// hostImage builds a small ext4 image whose /etc/hostname is name.
func hostImage(t *testing.T, name string) string {
	t.Helper()
	dir := t.TempDir()
	writeTree(t, filepath.Join(dir, "tree"), map[string]string{"etc/hostname": name + "\n", "root/": ""})
	img := filepath.Join(dir, "disk.raw")
	ext4Image(t, img, filepath.Join(dir, "tree"), 32)
	return img
}

// pooledOpen opens img through p and insists the session got a pooled VM.
func pooledOpen(ctx context.Context, t *testing.T, p *appliance.Pool, img string, opts ...appliance.Option) *appliance.Session {
	t.Helper()
	s, err := p.Open(ctx, []vfs.Disk{{Path: img, Format: "raw"}}, opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	if _, err := appliance.BlockNodes(ctx, s); err != nil {
		t.Fatalf("the session did not get a pooled VM: %v", err)
	}
	if !s.Pooled() {
		t.Fatal("Pooled() = false for a session on a pooled VM")
	}
	return s
}

func processGone(pid int) bool {
	return errors.Is(syscall.Kill(pid, 0), syscall.ESRCH)
}

// TestPoolVMServesOneImage proves the single-use rule: a pooled VM holds
// exactly its session's disk, refuses a second set, is gone once the
// session ends, and the next session gets another VM that has seen only
// its own image.
func TestPoolVMServesOneImage(t *testing.T) {
	needE2E(t)
	imgs := []string{hostImage(t, "first"), hostImage(t, "second")}
	p := newPool(t, 1)
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	var pids []int
	for i, img := range imgs {
		if i > 0 {
			if err := p.Wait(ctx); err != nil {
				t.Fatal(err)
			}
		}
		s := pooledOpen(ctx, t, p, img)
		pid := appliance.VMPid(s)
		if slices.Contains(pids, pid) {
			t.Fatalf("session %d got VM %d again", i, pid)
		}
		pids = append(pids, pid)
		nodes, err := appliance.BlockNodes(ctx, s)
		if err != nil {
			t.Fatal(err)
		}
		var named []string
		for _, n := range nodes {
			if !strings.HasPrefix(n, "#") { // QEMU's own names for the file nodes
				named = append(named, n)
			}
		}
		slices.Sort(named)
		// The payload disk is there from the boot, never hot-plugged.
		if !slices.Equal(named, []string{"base0", "disk0", "payload"}) {
			t.Errorf("session %d: the VM holds block nodes %v, want exactly base0, disk0 and the payload", i, nodes)
		}
		want := []string{"first\n", "second\n"}[i]
		if got, err := vfs.ReadFile(ctx, s, "/etc/hostname", 1<<10); err != nil || string(got) != want {
			t.Errorf("session %d: ReadFile = %q, %v; want %q", i, got, err, want)
		}
		if err := appliance.AttachAgain(ctx, s); err == nil {
			t.Errorf("session %d: the VM took a second set of disks", i)
		}
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
		if !processGone(pid) {
			t.Errorf("session %d: VM %d still runs after Close", i, pid)
		}
	}
}

// TestPoolVMWarmsUp: a pooled VM booted while none of the pool's
// sessions runs warms up on the agent's own disk before it is ready, one
// booted while a session runs does not, and nothing of the warm-up disk
// is left for a session: an fstab line naming the warm-up filesystem's
// label finds no volume, and the inspection describes the image alone.
func TestPoolVMWarmsUp(t *testing.T) {
	needE2E(t)
	dir := t.TempDir()
	writeTree(t, filepath.Join(dir, "tree"), map[string]string{
		"etc/hostname":   "guest\n",
		"etc/os-release": "ID=debian\nVERSION_ID=12\n",
		"etc/fstab":      "LABEL=warmup /data ext4 defaults 0 2\n",
		"data/":          "",
	})
	img := filepath.Join(dir, "disk.raw")
	ext4Image(t, img, filepath.Join(dir, "tree"), 32)
	console := &consoleRecorder{}
	p := newPool(t, 1, appliance.WithLogger(slog.New(console)))
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	// booted and warmed count the VMs that got ready and those that
	// warmed up first, from the agents' step timings, printed before
	// their hello.
	counts := func() (booted, warmed int) {
		for _, line := range console.lines() {
			switch {
			case strings.Contains(line, "guestinject-agent: protocol warmed up"):
				booted++
			case strings.Contains(line, "guestinject-agent: setup warmed up"):
				warmed++
			case strings.Contains(line, "guestinject-agent: warm-up:"):
				t.Errorf("a warm-up failed: %s", line)
			}
		}
		return booted, warmed
	}
	check := func(s *appliance.Session) {
		t.Helper()
		in := s.Inspection()
		if in.OS.ID != "debian" || len(in.Filesystems) != 1 || in.Filesystems[0].Disk != 0 {
			t.Errorf("inspection: %+v; want the image's Debian alone", in)
		}
		if len(in.Fstab) != 1 || in.Fstab[0].Mounted || in.Fstab[0].Device != "" {
			t.Errorf("fstab: %+v; want LABEL=warmup to name no volume", in.Fstab)
		}
		if got, err := vfs.ReadFile(ctx, s, "/etc/hostname", 1<<10); err != nil || string(got) != "guest\n" {
			t.Errorf("ReadFile = %q, %v", got, err)
		}
	}
	// The console reaches the host a little after the hello.
	want := func(what string, booted, warmed int) {
		t.Helper()
		var b, w int
		for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
			if b, w = counts(); b == booted && w == warmed {
				return
			}
		}
		t.Errorf("%s: %d VMs booted, %d warmed up; want %d, %d", what, b, w, booted, warmed)
	}
	want("the pool's first VM", 1, 1)
	// The replacement boots at once, while the session runs.
	appliance.SetReplaceDelay(p, 0)
	s := pooledOpen(ctx, t, p, img)
	check(s)
	if err := p.Wait(ctx); err != nil {
		t.Fatal(err)
	}
	want("a replacement booted during a session", 2, 1)
	s.Close()
	// That VM serves a session as well, and its replacement, booted
	// once nothing runs, warms up.
	appliance.SetReplaceDelay(p, time.Minute)
	s = pooledOpen(ctx, t, p, img)
	check(s)
	s.Close()
	if err := p.Wait(ctx); err != nil {
		t.Fatal(err)
	}
	want("a replacement booted after the sessions", 3, 2)
	// A session booted cold because no VM was ready counts as running
	// too: the replacement booted while it runs does not warm up.
	s = pooledOpen(ctx, t, p, img)
	coldImg := filepath.Join(dir, "cold.raw")
	ext4Image(t, coldImg, filepath.Join(dir, "tree"), 32)
	cold, err := p.Open(ctx, []vfs.Disk{{Path: coldImg, Format: "raw"}})
	if err != nil {
		t.Fatal(err)
	}
	defer cold.Close()
	if cold.Pooled() {
		t.Fatal("a second session got a pooled VM from a pool of one")
	}
	s.Close()
	if err := p.Wait(ctx); err != nil {
		t.Fatal(err)
	}
	want("a replacement booted while a cold session runs", 4, 2)
	check(cold)
}

// TestPoolCommitAndClose: Commit keeps the changes, Close without Commit
// leaves the image unchanged, and neither leaves the VM running.
func TestPoolCommitAndClose(t *testing.T) {
	needE2E(t)
	p := newPool(t, 1)
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()

	img := hostImage(t, "old-host")
	s := pooledOpen(ctx, t, p, img)
	pid := appliance.VMPid(s)
	appliancetest.ReadWriteCommit(ctx, t, s, img)
	if !processGone(pid) {
		t.Errorf("VM %d still runs after Commit", pid)
	}
	checkStoppedByMonitor(t, s)
	if err := s.Commit(ctx); !errors.Is(err, vfs.ErrClosed) {
		t.Errorf("second Commit = %v, want ErrClosed", err)
	}

	if err := p.Wait(ctx); err != nil {
		t.Fatal(err)
	}
	img = hostImage(t, "kept")
	before := fileHash(t, img)
	s = pooledOpen(ctx, t, p, img)
	if err := s.WriteFile(ctx, "/etc/hostname", strings.NewReader("discarded\n"), vfs.WriteOptions{Perm: 0o644}); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if fileHash(t, img) != before {
		t.Error("Close without Commit changed the image")
	}
}

// TestPoolReplacesAfterTheSession: the replacement of a taken VM boots
// when its session ends, not while it runs (on few cores the two would
// compete), unless the session outlasts the replace delay; Wait starts it
// at once.
func TestPoolReplacesAfterTheSession(t *testing.T) {
	needE2E(t)
	p := newPool(t, 1)
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()

	appliance.SetReplaceDelay(p, time.Hour)
	s := pooledOpen(ctx, t, p, hostImage(t, "a"))
	if n := appliance.PoolBooting(p); n != 0 {
		t.Errorf("%d VMs booting while the session runs, want 0", n)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if n, ready := appliance.PoolBooting(p), p.Ready(); n+ready != 1 {
		t.Errorf("after Close: %d booting, %d ready; want the replacement", n, ready)
	}
	if err := p.Wait(ctx); err != nil {
		t.Fatal(err)
	}

	// A session that outlasts the delay gets its replacement meanwhile.
	appliance.SetReplaceDelay(p, 100*time.Millisecond)
	s = pooledOpen(ctx, t, p, hostImage(t, "b"))
	deadline := time.Now().Add(30 * time.Second)
	for appliance.PoolBooting(p)+p.Ready() == 0 {
		if time.Now().After(deadline) {
			t.Fatal("no replacement while a long session runs")
		}
		time.Sleep(10 * time.Millisecond)
	}
	s.Close()
	if n, ready := appliance.PoolBooting(p), p.Ready(); n+ready != 1 {
		t.Errorf("after the second Close: %d booting, %d ready; want one VM", n, ready)
	}

	// Wait does not leave a replacement owed.
	appliance.SetReplaceDelay(p, time.Hour)
	if err := p.Wait(ctx); err != nil {
		t.Fatal(err)
	}
	s = pooledOpen(ctx, t, p, hostImage(t, "c"))
	if err := p.Wait(ctx); err != nil {
		t.Fatal(err)
	}
	if p.Ready() != 1 {
		t.Errorf("Wait returned with %d ready", p.Ready())
	}
	s.Close()
	if n, ready := appliance.PoolBooting(p), p.Ready(); n+ready != 1 {
		t.Errorf("after the third Close: %d booting, %d ready; want one VM", n, ready)
	}
}

// TestPoolFallsBackToBoot: with no VM ready, or options a pooled VM
// cannot serve, Open boots a VM of its own instead of waiting.
func TestPoolFallsBackToBoot(t *testing.T) {
	needE2E(t)
	img := smallImage(t)
	p := newPool(t, 1)
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	pooledOpen(ctx, t, p, img)
	// The only VM is taken; its replacement is still booting.
	s, err := p.Open(ctx, []vfs.Disk{{Path: img, Format: "raw", ReadOnly: true}})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if _, err := appliance.BlockNodes(ctx, s); err == nil {
		t.Error("a burst larger than the pool got a pooled VM")
	}
	if s.Pooled() {
		t.Error("Pooled() = true for a session that booted its own VM")
	}
	if got, err := vfs.ReadFile(ctx, s, "/etc/hostname", 1<<10); err != nil || string(got) != "guest\n" {
		t.Errorf("ReadFile = %q, %v", got, err)
	}
}

// TestPoolCloseStopsEverything: closing the pool stops its VMs and leaves
// no file, and a closed pool opens nothing.
func TestPoolCloseStopsEverything(t *testing.T) {
	needE2E(t)
	tmp := privateTemp(t)
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	p, err := appliance.NewPool(ctx, 2)
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Wait(ctx); err != nil {
		t.Fatal(err)
	}
	if n := len(processesUsing(tmp)); n != 2 {
		t.Errorf("%d VMs run for a pool of 2", n)
	}
	if err := p.Close(); err != nil {
		t.Fatal(err)
	}
	assertNothingLeft(t, tmp)
	if _, err := p.Open(ctx, []vfs.Disk{{Path: smallImage(t), Format: "raw"}}); !errors.Is(err, appliance.ErrPoolClosed) {
		t.Errorf("Open on a closed pool = %v, want ErrPoolClosed", err)
	}
}

// TestPoolRefusesLibvirtLikeLaunchers: only the direct launcher can
// hot-plug.
func TestPoolRefusesOtherLaunchers(t *testing.T) {
	_, err := appliance.NewPool(context.Background(), 1, appliance.WithLauncher(bzImageOnly{}))
	if !errors.Is(err, appliance.ErrPoolLauncher) {
		t.Errorf("NewPool with another launcher = %v, want ErrPoolLauncher", err)
	}
}

// TestPoolQEMUKilledMidSession: a pooled VM that dies mid-session fails
// the Commit and leaves the image unchanged and nothing of the session.
func TestPoolQEMUKilledMidSession(t *testing.T) {
	needE2E(t)
	img := smallImage(t)
	before := fileHash(t, img)
	tmp := privateTemp(t)
	p := newPool(t, 1)
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	s := pooledOpen(ctx, t, p, img)
	if err := s.WriteFile(ctx, "/etc/hostname", strings.NewReader("changed\n"), vfs.WriteOptions{Perm: 0o644}); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Kill(appliance.VMPid(s), syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	if err := s.Commit(ctx); err == nil {
		t.Fatal("Commit succeeded after QEMU was killed")
	} else if !errors.Is(err, vfs.ErrIO) {
		t.Errorf("Commit = %v, want ErrIO", err)
	}
	if fileHash(t, img) != before {
		t.Error("image changed")
	}
	p.Close()
	assertNothingLeft(t, tmp)
}

// TestPoolCancelDuringHotplug: a context that ends once the disk is in,
// before the agent answers, ends Open with its error and leaves nothing
// behind.
func TestPoolCancelDuringHotplug(t *testing.T) {
	needE2E(t)
	img := smallImage(t)
	before := fileHash(t, img)
	tmp := privateTemp(t)
	p := newPool(t, 1)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	// The context ends right after the disk's device_add, while the
	// agent sets up.
	appliance.SetAfterPlug(p, func(context.Context, *qmp.Monitor, int) { cancel() })
	s, err := p.Open(ctx, []vfs.Disk{{Path: img, Format: "raw"}})
	if err == nil {
		s.Close()
		t.Fatal("Open succeeded with its context cancelled")
	}
	if !errors.Is(err, context.Canceled) {
		t.Errorf("Open = %v, want Canceled", err)
	}
	if fileHash(t, img) != before {
		t.Error("image changed")
	}
	p.Close()
	assertNothingLeft(t, tmp)
}

// TestPoolConformance runs the vfs conformance suite on pooled sessions.
func TestPoolConformance(t *testing.T) {
	needE2E(t)
	if testing.Short() {
		t.Skip("boots one VM per case; skipped with -short")
	}
	p := newPool(t, 2)
	appliancetest.ConformanceWith(t, p.Open, nil, nil)
}

// TestPoolSession runs vfstest's session section on pooled sessions.
func TestPoolSession(t *testing.T) {
	needE2E(t)
	p := newPool(t, 2)
	appliancetest.SessionWith(t, p.Open, nil, nil)
}

// TestPoolGuestKernelPanicMidSession: a pooled guest whose kernel panics
// ends its VM; Commit fails and the image is unchanged.
func TestPoolGuestKernelPanicMidSession(t *testing.T) {
	needE2E(t)
	img := smallImage(t)
	before := fileHash(t, img)
	tmp := privateTemp(t)
	p := newPool(t, 1, appliance.WithPoolCmdline("unknown_nmi_panic"))
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	s := pooledOpen(ctx, t, p, img)
	if err := s.WriteFile(ctx, "/etc/hostname", strings.NewReader("changed\n"), vfs.WriteOptions{Perm: 0o644}); err != nil {
		t.Fatal(err)
	}
	pid := appliance.VMPid(s)
	if err := appliance.InjectNMI(ctx, s); err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(time.Minute); !processGone(pid); time.Sleep(50 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("QEMU still runs after the guest kernel panicked:\n%s", s.Console())
		}
	}
	if err := s.Commit(ctx); err == nil {
		t.Fatal("Commit succeeded after the guest kernel panicked")
	}
	if !strings.Contains(s.Console(), "Kernel panic") {
		t.Errorf("the console tail does not show the panic:\n%s", s.Console())
	}
	if fileHash(t, img) != before {
		t.Error("image changed")
	}
	p.Close()
	assertNothingLeft(t, tmp)
}

// TestPoolOperationTimeout: a pooled VM that stops answering runs out of
// the operation timeout given to Pool.Open; the session ends, the image
// is unchanged.
func TestPoolOperationTimeout(t *testing.T) {
	needE2E(t)
	const timeout = 2 * time.Second
	img := smallImage(t)
	before := fileHash(t, img)
	tmp := privateTemp(t)
	p := newPool(t, 1)
	ctx := context.Background()
	s := pooledOpen(ctx, t, p, img, appliance.WithOperationTimeout(timeout))
	if err := s.WriteFile(ctx, "/etc/hostname", strings.NewReader("changed\n"), vfs.WriteOptions{Perm: 0o644}); err != nil {
		t.Fatal(err)
	}
	pid := appliance.VMPid(s)
	if err := syscall.Kill(pid, syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	_, err := s.ReadDir(ctx, "/etc")
	var te *appliance.TimeoutError
	if !errors.As(err, &te) || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("ReadDir = %v, want a TimeoutError", err)
	}
	if took := time.Since(start); took < timeout {
		t.Errorf("returned after %v, before the timeout", took)
	}
	if !processGone(pid) {
		t.Error("the VM still runs after the timeout")
	}
	if fileHash(t, img) != before {
		t.Error("image changed")
	}
	p.Close()
	assertNothingLeft(t, tmp)
}

// poolHelperEnv carries a job for TestPoolHelperProcess.
const poolHelperEnv = "GUESTINJECT_POOL_HELPER"

// TestPoolHelperProcess is not a test: it is the child process of
// TestPoolPanicLeavesNothingBehind. It keeps a pool of two, opens a
// pooled session on the image named in its environment, writes to it,
// says so, and panics with the pool and the session open.
func TestPoolHelperProcess(t *testing.T) {
	img := os.Getenv(poolHelperEnv)
	if img == "" {
		t.Skip("helper for TestPoolPanicLeavesNothingBehind")
	}
	p := newPool(t, 2)
	ctx := context.Background()
	s := pooledOpen(ctx, t, p, img)
	if err := s.WriteFile(ctx, "/etc/hostname", strings.NewReader("crashed\n"), vfs.WriteOptions{Perm: 0o644}); err != nil {
		t.Fatal(err)
	}
	fmt.Println("open")
	go panic("the caller's goroutine panics with a pool open")
	select {}
}

// TestPoolPanicLeavesNothingBehind: a process that dies with a pool and a
// pooled session open takes every VM with it, and the next Open's sweep
// removes every session directory; the image is unchanged.
func TestPoolPanicLeavesNothingBehind(t *testing.T) {
	needE2E(t)
	// The session's directory and the pool's.
	panicLeavesNothingBehind(t, "TestPoolHelperProcess", poolHelperEnv, 2)
}

// TestPoolAcceleratorProofFails: a pooled VM's boot proves KVM as a
// session's does; a KVM that fails sends the VM to TCG, and the session
// says so.
func TestPoolAcceleratorProofFails(t *testing.T) {
	needE2E(t)
	img := accelImage(t)
	qemu, starts := brokenKVM(t, false)
	p := newPool(t, 1, appliance.WithCacheDir(t.TempDir()), appliance.WithLauncher(appliance.QEMU{Binary: qemu}),
		appliance.WithAccelHost(passingHost(t)), appliance.WithBootTimeout(50*time.Second))
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	s := pooledOpen(ctx, t, p, img)
	readHostname(ctx, t, s)
	if c := s.Accelerator(); c.Name != "tcg" || !c.Probed || !strings.Contains(c.Reason, "KVM internal error") {
		t.Errorf("after a failed proof: %+v", c)
	}
	if n := kvmStarts(t, starts); n != 1 {
		t.Errorf("%d KVM starts, want 1", n)
	}
}

// TestPoolOverlayLimit: WithOverlayLimit given to Pool.Open bounds a
// pooled session as it bounds a booted one: Commit refuses an overlay
// over the limit and the image is unchanged.
func TestPoolOverlayLimit(t *testing.T) {
	needE2E(t)
	img := smallImage(t)
	before := fileHash(t, img)
	p := newPool(t, 1)
	ctx := context.Background()
	const limit = 8 << 20
	s := pooledOpen(ctx, t, p, img, appliance.WithOverlayLimit(limit))
	big := make([]byte, 24<<20)
	for i := range big {
		big[i] = byte(i*7 + i>>9)
	}
	if err := s.WriteFile(ctx, "/big", bytes.NewReader(big), vfs.WriteOptions{Perm: 0o644, UID: -1, GID: -1}); err != nil {
		t.Fatal(err)
	}
	var le *appliance.OverlayLimitError
	if err := s.Commit(ctx); !errors.As(err, &le) || le.Limit != limit {
		t.Fatalf("commit: %v, want an *OverlayLimitError with limit %d", err, limit)
	}
	if fileHash(t, img) != before {
		t.Error("the image changed")
	}
}
