package appliance_test

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/guestinject/guestinject/appliance"
	"github.com/guestinject/guestinject/internal/testsupport/inroottest"
	"github.com/guestinject/guestinject/internal/wire"
	"github.com/guestinject/guestinject/vfs"
)

// privateTemp points the session's temporary files at a fresh directory,
// so the test can see what is left behind and which processes use it.
func privateTemp(t *testing.T) string {
	t.Helper()
	tmp := t.TempDir()
	t.Setenv("TMPDIR", tmp)
	return tmp
}

// processesUsing lists the pids whose command line mentions dir.
func processesUsing(dir string) []int {
	var pids []int
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		cmdline, err := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
		if err == nil && strings.Contains(string(cmdline), dir) {
			pids = append(pids, pid)
		}
	}
	return pids
}

// assertNothingLeft checks that no process uses tmp and nothing is in it.
func assertNothingLeft(t *testing.T, tmp string) {
	t.Helper()
	if pids := processesUsing(tmp); len(pids) > 0 {
		t.Errorf("processes left behind: %v", pids)
	}
	entries, err := os.ReadDir(tmp)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		t.Errorf("left behind in the temporary directory: %s", e.Name())
	}
}

// smallImage builds a 32 MiB ext4 image with /etc/hostname.
func smallImage(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	writeTree(t, filepath.Join(dir, "tree"), map[string]string{"etc/hostname": "guest\n"})
	img := filepath.Join(dir, "disk.raw")
	ext4Image(t, img, filepath.Join(dir, "tree"), 32)
	return img
}

func TestCloseWithoutCommitLeavesImageUnchanged(t *testing.T) {
	needE2E(t)
	img := smallImage(t)
	tmp := privateTemp(t)
	before := fileHash(t, img)
	ctx := context.Background()
	s, err := appliance.Open(ctx, []vfs.Disk{{Path: img, Format: "raw"}})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.WriteFile(ctx, "/etc/hostname", strings.NewReader("changed\n"), vfs.WriteOptions{Perm: 0o644}); err != nil {
		t.Fatal(err)
	}
	if err := s.Remove(ctx, "/etc/hostname"); err != nil {
		t.Fatal(err)
	}
	if err := s.Sync(ctx); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if after := fileHash(t, img); after != before {
		t.Error("image changed without Commit")
	}
	if _, err := s.Stat(ctx, "/"); !errors.Is(err, vfs.ErrClosed) {
		t.Errorf("Stat after Close = %v, want ErrClosed", err)
	}
	assertNothingLeft(t, tmp)
}

func TestCancelDuringBoot(t *testing.T) {
	needE2E(t)
	img := smallImage(t)
	before := fileHash(t, img)
	tmp := privateTemp(t)
	ctx, cancel := context.WithCancel(context.Background())
	// Cancel once QEMU is running, mid-boot.
	go func() {
		for deadline := time.Now().Add(time.Minute); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
			if len(processesUsing(tmp)) > 0 {
				time.Sleep(300 * time.Millisecond)
				break
			}
		}
		cancel()
	}()
	s, err := appliance.Open(ctx, []vfs.Disk{{Path: img, Format: "raw"}})
	if err == nil {
		s.Close()
		t.Fatal("Open succeeded despite cancellation")
	}
	if !errors.Is(err, context.Canceled) {
		t.Errorf("Open = %v, want context.Canceled", err)
	}
	assertNothingLeft(t, tmp)
	if fileHash(t, img) != before {
		t.Error("image changed")
	}
}

func TestBootTimeout(t *testing.T) {
	needE2E(t)
	img := smallImage(t)
	tmp := privateTemp(t)
	_, err := appliance.Open(context.Background(), []vfs.Disk{{Path: img, Format: "raw"}}, appliance.WithBootTimeout(200*time.Millisecond))
	var be *appliance.BootError
	if !errors.Is(err, context.DeadlineExceeded) || !errors.As(err, &be) {
		t.Errorf("Open = %v, want a BootError wrapping DeadlineExceeded", err)
	}
	assertNothingLeft(t, tmp)
}

func TestQEMUKilledMidSession(t *testing.T) {
	needE2E(t)
	img := smallImage(t)
	before := fileHash(t, img)
	tmp := privateTemp(t)
	ctx := context.Background()
	s, err := appliance.Open(ctx, []vfs.Disk{{Path: img, Format: "raw"}})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if err := s.WriteFile(ctx, "/etc/hostname", strings.NewReader("changed\n"), vfs.WriteOptions{Perm: 0o644}); err != nil {
		t.Fatal(err)
	}
	pids := processesUsing(tmp)
	if len(pids) != 1 {
		t.Fatalf("QEMU processes: %v, want one", pids)
	}
	if err := syscall.Kill(pids[0], syscall.SIGKILL); err != nil {
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
	assertNothingLeft(t, tmp)
}

func TestNoFilesystemIsReported(t *testing.T) {
	needE2E(t)
	img := filepath.Join(t.TempDir(), "blank.raw")
	if err := os.WriteFile(img, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(img, 16<<20); err != nil {
		t.Fatal(err)
	}
	tmp := privateTemp(t)
	_, err := appliance.Open(context.Background(), []vfs.Disk{{Path: img, Format: "raw"}})
	if !errors.Is(err, vfs.ErrNoRoot) || !strings.Contains(err.Error(), "no Linux filesystem") {
		t.Errorf("Open = %v, want ErrNoRoot with the agent's reason", err)
	}
	assertNothingLeft(t, tmp)
}

func TestUnsupportedFormat(t *testing.T) {
	img := filepath.Join(t.TempDir(), "disk.vmdk")
	if err := os.WriteFile(img, make([]byte, 4096), 0o644); err != nil {
		t.Fatal(err)
	}
	_, err := appliance.Open(context.Background(), []vfs.Disk{{Path: img, Format: "vmdk"}},
		appliance.WithKernel("/nonexistent-kernel-for-this-test"))
	if err == nil {
		t.Fatal("Open accepted vmdk")
	}
}

// qemuIDs returns the real, effective, saved and filesystem uids and gids
// and the supplementary groups of process pid.
func qemuIDs(t *testing.T, pid int) (uids, gids, groups []string) {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		k, v, _ := strings.Cut(line, ":")
		switch k {
		case "Uid":
			uids = strings.Fields(v)
		case "Gid":
			gids = strings.Fields(v)
		case "Groups":
			groups = strings.Fields(v)
		}
	}
	return uids, gids, groups
}

// TestQEMURunsUnprivileged opens two sessions at once as root and checks
// that each QEMU runs under a uid and gid of its own, neither root, with
// no supplementary group.
func TestQEMURunsUnprivileged(t *testing.T) {
	needE2E(t)
	inroottest.RequireRoot(t)
	tmp := privateTemp(t)
	ctx := context.Background()
	seen := map[string]bool{}
	for i := range 2 {
		s, err := appliance.Open(ctx, []vfs.Disk{{Path: smallImage(t), Format: "raw"}})
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		if got, err := vfs.ReadFile(ctx, s, "/etc/hostname", 100); err != nil || string(got) != "guest\n" {
			t.Fatalf("session %d: ReadFile = %q, %v", i, got, err)
		}
		pids := processesUsing(tmp)
		if len(pids) != i+1 {
			t.Fatalf("QEMU processes %v, want %d", pids, i+1)
		}
		slices.Sort(pids)
		uids, gids, groups := qemuIDs(t, pids[i])
		if len(uids) != 4 || len(gids) != 4 {
			t.Fatalf("status of %d: Uid %v Gid %v", pids[i], uids, gids)
		}
		for _, id := range append(uids, gids...) {
			if id == "0" {
				t.Errorf("session %d: QEMU runs with uids %v gids %v", i, uids, gids)
			}
		}
		if slices.ContainsFunc(uids, func(u string) bool { return u != uids[0] }) {
			t.Errorf("session %d: mixed uids %v", i, uids)
		}
		if len(groups) != 0 {
			t.Errorf("session %d: supplementary groups %v", i, groups)
		}
		if seen[uids[0]] || seen["g"+gids[0]] {
			t.Errorf("session %d shares uid %s / gid %s with another session", i, uids[0], gids[0])
		}
		seen[uids[0]], seen["g"+gids[0]] = true, true
	}
}

// TestRunAs starts QEMU as a fixed user.
func TestRunAs(t *testing.T) {
	needE2E(t)
	inroottest.RequireRoot(t)
	tmp := privateTemp(t)
	ctx := context.Background()
	s, err := appliance.Open(ctx, []vfs.Disk{{Path: smallImage(t), Format: "raw"}}, appliance.WithRunAs(inroottest.Nobody, inroottest.Nobody))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	pids := processesUsing(tmp)
	if len(pids) != 1 {
		t.Fatalf("QEMU processes %v, want one", pids)
	}
	want := strconv.Itoa(inroottest.Nobody)
	if uids, gids, _ := qemuIDs(t, pids[0]); uids[0] != want || gids[0] != want {
		t.Errorf("QEMU runs as uid %v gid %v, want %s", uids, gids, want)
	}
}

// TestRootOnlyFiles checks that an image, a kernel and an initramfs that
// only root may read (0600 in 0700 directories) still serve a VM that
// runs unprivileged, and that Commit writes such an image.
func TestRootOnlyFiles(t *testing.T) {
	needE2E(t)
	inroottest.RequireRoot(t)
	img := smallImage(t)
	for _, p := range []string{img, filepath.Dir(img)} {
		if err := os.Chmod(p, map[bool]os.FileMode{true: 0o600, false: 0o700}[p == img]); err != nil {
			t.Fatal(err)
		}
	}
	cache := t.TempDir()
	ctx := context.Background()
	// The first session fills the cache; the files in it are then made
	// root's alone.
	s, err := appliance.Open(ctx, []vfs.Disk{{Path: img, Format: "raw"}}, appliance.WithCacheDir(cache))
	if err != nil {
		t.Fatal(err)
	}
	s.Close()
	restricted := 0
	filepath.WalkDir(cache, func(p string, d fs.DirEntry, err error) error {
		if err == nil && d.Type().IsRegular() {
			if err := os.Chmod(p, 0o600); err != nil {
				t.Fatal(err)
			}
			restricted++
		}
		return nil
	})
	if restricted == 0 {
		t.Fatal("nothing in the cache")
	}
	s, err = appliance.Open(ctx, []vfs.Disk{{Path: img, Format: "raw"}}, appliance.WithCacheDir(cache))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	filepath.WalkDir(cache, func(p string, d fs.DirEntry, err error) error {
		if fi, err := os.Stat(p); err == nil && fi.Mode().IsRegular() && fi.Mode().Perm() != 0o600 {
			t.Errorf("%s: mode %v: the cache was rebuilt, the test proves nothing", p, fi.Mode())
		}
		return nil
	})
	if err := s.WriteFile(ctx, "/etc/hostname", strings.NewReader("root-only\n"), vfs.WriteOptions{Perm: 0o644}); err != nil {
		t.Fatal(err)
	}
	if err := s.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	if got := debugfs(t, img, "cat /etc/hostname"); got != "root-only\n" {
		t.Errorf("image holds hostname %q after Commit", got)
	}
}

// patchQcow2 applies edit to the first cluster of the qcow2 file at path.
func patchQcow2(t *testing.T, path string, edit func(h []byte)) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	h := make([]byte, 4096)
	if _, err := f.ReadAt(h, 0); err != nil {
		t.Fatal(err)
	}
	if string(h[:4]) != "QFI\xfb" {
		t.Fatalf("%s is not qcow2", path)
	}
	edit(h)
	if _, err := f.WriteAt(h, 0); err != nil {
		t.Fatal(err)
	}
}

// TestCommitRefusesTamperedOverlay has the "VM" name a host file in its
// overlay's header, or change its size, once it has exited, and checks
// that Commit refuses to merge: the image and the host file are unchanged.
// A cold session and a pooled one are checked alike.
func TestCommitRefusesTamperedOverlay(t *testing.T) {
	needE2E(t)
	victimDir := t.TempDir()
	victim := filepath.Join(victimDir, "host-file")
	if err := os.WriteFile(victim, bytes.Repeat([]byte("host data\n"), 1<<16), 0o644); err != nil {
		t.Fatal(err)
	}
	be := binary.BigEndian
	edits := map[string]func(h []byte){
		"data file": func(h []byte) {
			// Incompatible feature "external data file", and the
			// extension naming it, in place of any extensions.
			be.PutUint64(h[72:], be.Uint64(h[72:])|1<<2)
			ext := h[be.Uint32(h[100:]):]
			clear(ext[:512])
			be.PutUint32(ext, 0x44415441)
			be.PutUint32(ext[4:], uint32(len(victim)))
			copy(ext[8:], victim)
		},
		"backing file": func(h []byte) {
			be.PutUint64(h[8:], 2048)
			be.PutUint32(h[16:], uint32(len(victim)))
			copy(h[2048:], victim)
		},
		"virtual size": func(h []byte) {
			be.PutUint64(h[24:], be.Uint64(h[24:])*2)
		},
	}
	ctx := context.Background()
	var pool *appliance.Pool
	for _, pooled := range []bool{false, true} {
		if pooled {
			pool = newPool(t, 1)
		}
		for name, edit := range edits {
			t.Run(map[bool]string{false: "cold", true: "pooled"}[pooled]+"/"+name, func(t *testing.T) {
				img := smallImage(t)
				before, victimBefore := fileHash(t, img), fileHash(t, victim)
				// A pooled VM's directory is made at its boot: only a
				// cold session's is in this test's TMPDIR.
				var tmp string
				open := appliance.Open
				if !pooled {
					tmp = privateTemp(t)
				} else {
					if err := pool.Wait(ctx); err != nil {
						t.Fatal(err)
					}
					open = pool.Open
				}
				s, err := open(ctx, []vfs.Disk{{Path: img, Format: "raw"}})
				if err != nil {
					t.Fatal(err)
				}
				defer s.Close()
				if s.Pooled() != pooled {
					t.Fatalf("Pooled() = %v", s.Pooled())
				}
				appliance.SetAfterExit(s, func(overlays []string) { patchQcow2(t, overlays[0], edit) })
				if err := s.WriteFile(ctx, "/etc/hostname", strings.NewReader("tampered\n"), vfs.WriteOptions{Perm: 0o644}); err != nil {
					t.Fatal(err)
				}
				err = s.Commit(ctx)
				if !errors.Is(err, appliance.ErrOverlayRefused) {
					t.Fatalf("Commit = %v, want ErrOverlayRefused", err)
				}
				t.Logf("Commit: %v", err)
				if fileHash(t, img) != before {
					t.Error("image changed")
				}
				if fileHash(t, victim) != victimBefore {
					t.Error("host file changed")
				}
				if tmp != "" {
					assertNothingLeft(t, tmp)
				}
			})
		}
	}
}

// helperEnv carries a job for TestApplianceHelperProcess.
const helperEnv = "GUESTINJECT_APPLIANCE_HELPER"

// TestApplianceHelperProcess is not a test: it is the child process of
// TestPanicLeavesNothingBehind. It opens a session on the image named in
// its environment, says so, and panics without closing it.
func TestApplianceHelperProcess(t *testing.T) {
	img := os.Getenv(helperEnv)
	if img == "" {
		t.Skip("helper for TestPanicLeavesNothingBehind")
	}
	s, err := appliance.Open(context.Background(), []vfs.Disk{{Path: img, Format: "raw"}})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.WriteFile(context.Background(), "/etc/hostname", strings.NewReader("crashed\n"), vfs.WriteOptions{Perm: 0o644}); err != nil {
		t.Fatal(err)
	}
	fmt.Println("open")
	go panic("the caller's goroutine panics with a session open")
	select {}
}

// TestPanicLeavesNothingBehind lets a process panic with a session open:
// its VM must die with it, and the next Open must remove its session
// directory.
func TestPanicLeavesNothingBehind(t *testing.T) {
	needE2E(t)
	panicLeavesNothingBehind(t, "TestApplianceHelperProcess", helperEnv, 1)
}

// panicLeavesNothingBehind runs the helper test helper in a child that
// opens a session on an image, writes to it and panics; every VM must die
// with the child, which must leave wantDirs session directories (at
// least), and the next Open must remove them with the image unchanged.
func panicLeavesNothingBehind(t *testing.T, helper, env string, wantDirs int) {
	img := smallImage(t)
	before := fileHash(t, img)
	tmp := privateTemp(t)
	cmd := exec.Command(os.Args[0], "-test.run=^"+helper+"$", "-test.count=1")
	cmd.Env = append(os.Environ(), env+"="+img)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if !strings.Contains(string(out), "open\n") {
		t.Fatalf("helper did not open a session: %v\n%s%s", err, out, stderr.String())
	}
	if !strings.Contains(stderr.String(), "panic: the caller's goroutine panics") {
		t.Fatalf("helper did not panic: %v\n%s", err, stderr.String())
	}
	// The kernel sends the parent-death signal as the helper exits; the
	// VMs are gone moments later.
	for deadline := time.Now().Add(10 * time.Second); len(processesUsing(tmp)) > 0 && time.Now().Before(deadline); {
		time.Sleep(20 * time.Millisecond)
	}
	if pids := processesUsing(tmp); len(pids) > 0 {
		t.Fatalf("VMs outlived the process that started them: %v", pids)
	}
	stale, _ := filepath.Glob(filepath.Join(tmp, "guestinject-*"))
	if len(stale) < wantDirs {
		t.Fatalf("session directories after the panic: %v, want %d", stale, wantDirs)
	}
	s, err := appliance.Open(context.Background(), []vfs.Disk{{Path: img, Format: "raw", ReadOnly: true}})
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range stale {
		if _, err := os.Stat(d); !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("Open left the dead process's directory %s: %v", d, err)
		}
	}
	if got, err := vfs.ReadFile(context.Background(), s, "/etc/hostname", 100); err != nil || string(got) != "guest\n" {
		t.Errorf("hostname %q, %v: the dead session's write reached the image", got, err)
	}
	s.Close()
	assertNothingLeft(t, tmp)
	if fileHash(t, img) != before {
		t.Error("image changed")
	}
}

// TestOperationTimeout freezes the VM (SIGSTOP) so its agent stops
// answering, and checks that a call without a deadline of its own ends
// after the session's default timeout with a *TimeoutError, the session
// torn down and the image unchanged.
func TestOperationTimeout(t *testing.T) {
	needE2E(t)
	const timeout = 2 * time.Second
	for name, call := range map[string]func(ctx context.Context, s *appliance.Session, f fs.File) error{
		"ReadDir": func(ctx context.Context, s *appliance.Session, _ fs.File) error {
			_, err := s.ReadDir(ctx, "/etc")
			return err
		},
		"WriteFile": func(ctx context.Context, s *appliance.Session, _ fs.File) error {
			return s.WriteFile(ctx, "/etc/hostname", strings.NewReader("late\n"), vfs.WriteOptions{Perm: 0o644})
		},
		"Read": func(ctx context.Context, s *appliance.Session, f fs.File) error {
			_, err := io.ReadAll(f)
			return err
		},
		"Commit": func(ctx context.Context, s *appliance.Session, _ fs.File) error {
			return s.Commit(ctx)
		},
	} {
		t.Run(name, func(t *testing.T) {
			img := smallImage(t)
			before := fileHash(t, img)
			tmp := privateTemp(t)
			ctx := context.Background()
			s, err := appliance.Open(ctx, []vfs.Disk{{Path: img, Format: "raw"}},
				appliance.WithOperationTimeout(timeout), appliance.WithCommitTimeout(timeout))
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			if err := s.WriteFile(ctx, "/etc/hostname", strings.NewReader("changed\n"), vfs.WriteOptions{Perm: 0o644}); err != nil {
				t.Fatal(err)
			}
			// Larger than the first chunk an Open answer carries, so
			// that reading it goes on asking the agent.
			big := strings.Repeat("x", 4*wire.FirstChunkSize)
			if err := s.WriteFile(ctx, "/etc/big", strings.NewReader(big), vfs.WriteOptions{Perm: 0o644}); err != nil {
				t.Fatal(err)
			}
			f, err := s.Open(ctx, "/etc/big")
			if err != nil {
				t.Fatal(err)
			}
			pids := processesUsing(tmp)
			if len(pids) != 1 {
				t.Fatalf("QEMU processes %v, want one", pids)
			}
			if err := syscall.Kill(pids[0], syscall.SIGSTOP); err != nil {
				t.Fatal(err)
			}
			start := time.Now()
			err = call(ctx, s, f)
			took := time.Since(start)
			var te *appliance.TimeoutError
			if !errors.As(err, &te) || !errors.Is(err, context.DeadlineExceeded) {
				t.Fatalf("%s = %v, want a TimeoutError", name, err)
			}
			if !strings.Contains(err.Error(), "console tail") || te.Console == "" {
				t.Errorf("error without the console tail: %v", err)
			}
			if took < timeout {
				t.Errorf("returned after %v, before the timeout", took)
			}
			t.Logf("%s returned after %v: %v", name, took, err)
			// Torn down already, before Close.
			assertNothingLeft(t, tmp)
			if _, err := s.Stat(ctx, "/"); err == nil {
				t.Error("the session still answers after a timeout")
			}
			if err := s.Close(); err != nil {
				t.Errorf("Close = %v", err)
			}
			if fileHash(t, img) != before {
				t.Error("image changed")
			}
		})
	}
}

// nmiLauncher starts QEMU with a human monitor on a socket and a guest
// kernel that panics on an unknown NMI, so a test can make the guest
// kernel panic at a moment of its choosing.
type nmiLauncher struct {
	monitor string
}

func newNMILauncher(t *testing.T) nmiLauncher {
	t.Helper()
	// QEMU runs as a user of its own: the monitor socket and the wrapper
	// must be reachable for it.
	dir, err := os.MkdirTemp("", "guestinject-nmi-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	if err := os.Chmod(dir, 0o777); err != nil {
		t.Fatal(err)
	}
	l := nmiLauncher{monitor: filepath.Join(dir, "monitor")}
	script := "#!/bin/sh\nexec " + sbinPath("qemu-system-x86_64") + ` "$@" -monitor unix:` + l.monitor + ",server=on,wait=off\n"
	if err := os.WriteFile(filepath.Join(dir, "qemu"), []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	return l
}

func (l nmiLauncher) Launch(ctx context.Context, spec appliance.MachineSpec) (appliance.Machine, error) {
	spec.Cmdline += " unknown_nmi_panic"
	return appliance.QEMU{Binary: filepath.Join(filepath.Dir(l.monitor), "qemu")}.Launch(ctx, spec)
}

// nmi sends the guest an NMI through the monitor and returns once the
// monitor has run the command: it prompts again.
func (l nmiLauncher) nmi(t *testing.T) {
	t.Helper()
	conn, err := net.Dial("unix", l.monitor)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(30 * time.Second))
	const prompt = "(qemu) "
	var seen strings.Builder
	waitPrompts := func(n int) {
		buf := make([]byte, 512)
		for strings.Count(seen.String(), prompt) < n {
			k, err := conn.Read(buf)
			seen.Write(buf[:k])
			if err != nil {
				t.Fatalf("monitor: %v after %q", err, seen.String())
			}
		}
	}
	waitPrompts(1)
	if _, err := io.WriteString(conn, "nmi\n"); err != nil {
		t.Fatal(err)
	}
	waitPrompts(2)
}

// TestGuestKernelPanicMidSession panics the appliance's kernel after a
// write: the session fails, the console says why, the image is unchanged
// and nothing is left behind.
func TestGuestKernelPanicMidSession(t *testing.T) {
	needE2E(t)
	img := smallImage(t)
	before := fileHash(t, img)
	launcher := newNMILauncher(t) // before TMPDIR points at a private directory
	tmp := privateTemp(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	s, err := appliance.Open(ctx, []vfs.Disk{{Path: img, Format: "raw"}}, appliance.WithLauncher(launcher))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if err := s.WriteFile(ctx, "/etc/hostname", strings.NewReader("changed\n"), vfs.WriteOptions{Perm: 0o644}); err != nil {
		t.Fatal(err)
	}
	launcher.nmi(t)
	// panic=-1 reboots at once and -no-reboot makes QEMU exit.
	for deadline := time.Now().Add(time.Minute); len(processesUsing(tmp)) > 0; time.Sleep(50 * time.Millisecond) {
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
	assertNothingLeft(t, tmp)
}
