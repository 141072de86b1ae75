package appliance_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/guestinject/guestinject/appliance"
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
	s, err := appliance.Open(ctx, []appliance.Disk{{Path: img, Format: "raw"}})
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
	s, err := appliance.Open(ctx, []appliance.Disk{{Path: img, Format: "raw"}})
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
	_, err := appliance.Open(context.Background(), []appliance.Disk{{Path: img, Format: "raw"}}, appliance.WithBootTimeout(200*time.Millisecond))
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
	s, err := appliance.Open(ctx, []appliance.Disk{{Path: img, Format: "raw"}})
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
	_, err := appliance.Open(context.Background(), []appliance.Disk{{Path: img, Format: "raw"}})
	if !errors.Is(err, vfs.ErrIO) || !strings.Contains(err.Error(), "no Linux filesystem") {
		t.Errorf("Open = %v, want the agent's reason", err)
	}
	assertNothingLeft(t, tmp)
}

func TestUnsupportedFormat(t *testing.T) {
	img := filepath.Join(t.TempDir(), "disk.vmdk")
	if err := os.WriteFile(img, make([]byte, 4096), 0o644); err != nil {
		t.Fatal(err)
	}
	_, err := appliance.Open(context.Background(), []appliance.Disk{{Path: img, Format: "vmdk"}},
		appliance.WithKernel("/nonexistent-kernel-for-this-test"))
	if err == nil {
		t.Fatal("Open accepted vmdk")
	}
}
