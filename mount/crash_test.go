package mount_test

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/guestinject/guestinject/imagecheck"
	"github.com/guestinject/guestinject/internal/testsupport/testimage"
	"github.com/guestinject/guestinject/mount"
	"github.com/guestinject/guestinject/vfs"
)

// helperEnv carries a job for TestHelperProcess: "mode state image format".
const helperEnv = "GUESTINJECT_MOUNT_HELPER"

// TestHelperProcess is not a test: it is the child process the crash and
// concurrency tests start. In mode "hold" it opens a session, writes a
// file, reports "attached" and waits to be killed; in mode "cycle" it opens,
// writes and commits three times.
func TestHelperProcess(t *testing.T) {
	job := os.Getenv(helperEnv)
	if job == "" {
		t.Skip("helper for TestCrash* and TestConcurrentProcesses")
	}
	var mode, state, img string
	var format imagecheck.Format
	if _, err := fmt.Sscan(job, &mode, &state, &img, &format); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	open := func() *mount.Session {
		s, err := mount.OpenTrusted(ctx, vfs.Disk{Path: img, Format: format}, mount.WithStateDir(state))
		if err != nil {
			t.Fatal(err)
		}
		if err := s.WriteFile(ctx, "/etc/hostname", strings.NewReader("from "+mode+"\n"), vfs.WriteOptions{Perm: 0o644}); err != nil {
			t.Fatal(err)
		}
		return s
	}
	switch mode {
	case "hold":
		open()
		fmt.Println("attached")
		time.Sleep(time.Hour)
	case "cycle":
		for range 3 {
			if err := open().Commit(ctx); err != nil {
				t.Fatal(err)
			}
		}
	default:
		t.Fatalf("unknown helper mode %q", mode)
	}
}

func helper(t *testing.T, mode, state, img string, format imagecheck.Format) *exec.Cmd {
	cmd := exec.Command(os.Args[0], "-test.run=^TestHelperProcess$", "-test.count=1")
	cmd.Env = append(os.Environ(), fmt.Sprintf("%s=%s %s %s %s", helperEnv, mode, state, img, format))
	cmd.Stderr = os.Stderr
	return cmd
}

// TestCrashThenNextOpenCleansUp kills a process holding a session (image
// attached and mounted, and for qcow2 a storage daemon and its FUSE
// export) and checks that the next Open in the same state directory
// releases all of it, and that an overlay's changes never reach the image.
func TestCrashThenNextOpenCleansUp(t *testing.T) {
	needFUSEExport(t)
	for _, format := range []imagecheck.Format{imagecheck.Raw, imagecheck.QCOW2} {
		t.Run(string(format), func(t *testing.T) {
			img := smallExt4(t)
			if format == imagecheck.QCOW2 {
				q := img + ".qcow2"
				testimage.Qcow2(t, img, q)
				img = q
			}
			before := testimage.FileHash(t, img)
			state := stateDir(t, filepath.Dir(img))

			cmd := helper(t, "hold", state, img, format)
			out, err := cmd.StdoutPipe()
			if err != nil {
				t.Fatal(err)
			}
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			line, _ := bufio.NewReader(out).ReadString('\n')
			if line != "attached\n" {
				cmd.Process.Kill()
				cmd.Wait()
				t.Fatalf("helper said %q, want attached", line)
			}
			cmd.Process.Kill()
			cmd.Wait()

			// The crash left the mount behind: the kernel does not
			// unmount for a dead process.
			if len(mountsUnder(t, state)) == 0 {
				t.Fatal("nothing left mounted after the crash; the test proves nothing")
			}
			s, err := mount.OpenTrusted(t.Context(), vfs.Disk{Path: img, Format: format, ReadOnly: true}, mount.WithStateDir(state))
			if err != nil {
				t.Fatal(err)
			}
			data, err := vfs.ReadFile(t.Context(), s, "/etc/hostname", 100)
			if err != nil {
				t.Fatal(err)
			}
			if err := s.Close(); err != nil {
				t.Fatal(err)
			}
			if string(data) != "guest\n" || testimage.FileHash(t, img) != before {
				t.Errorf("crashed session changed the image (hostname %q)", data)
			}
		})
	}
}

// TestConcurrentProcesses runs sessions in several processes at once, all
// sharing one state directory, so each also sweeps while the others work.
func TestConcurrentProcesses(t *testing.T) {
	needFUSEExport(t)
	dir := t.TempDir()
	state := stateDir(t, dir)
	var wg sync.WaitGroup
	for i, format := range []imagecheck.Format{imagecheck.Raw, imagecheck.Raw, imagecheck.QCOW2} {
		img := smallExt4(t)
		if format == imagecheck.QCOW2 {
			testimage.Qcow2(t, img, img+".qcow2")
			img += ".qcow2"
		}
		cmd := helper(t, "cycle", state, img, format)
		wg.Go(func() {
			if out, err := cmd.Output(); err != nil {
				t.Errorf("process %d (%s): %v\n%s", i, format, err, out)
			}
		})
		t.Cleanup(func() { assertNoLeaks(t, state, filepath.Dir(img)) })
	}
	wg.Wait()
}
