package mount_test

import (
	"bytes"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/guestinject/guestinject/internal/testsupport/testimage"
)

// needHostMount skips the test when the machine cannot mount images (not
// root, no loop devices, a missing tool), or fails it under
// GUESTINJECT_E2E=1.
func needHostMount(t testing.TB, tools ...string) {
	t.Helper()
	var missing []string
	if os.Geteuid() != 0 {
		missing = append(missing, "root")
	}
	if _, err := os.Stat("/dev/loop-control"); err != nil {
		missing = append(missing, "/dev/loop-control")
	}
	for _, tool := range append([]string{"mkfs.ext4", "debugfs"}, tools...) {
		if testimage.Tool(tool) == "" {
			missing = append(missing, tool)
		}
	}
	testimage.Need(t, missing...)
}

// needFUSEExport is needHostMount for sessions through an overlay.
func needFUSEExport(t testing.TB, tools ...string) {
	t.Helper()
	needHostMount(t, append([]string{"qemu-storage-daemon", "qemu-img"}, tools...)...)
	if _, err := os.Stat("/dev/fuse"); err != nil {
		testimage.Need(t, "/dev/fuse")
	}
}

// stateDir returns a fresh state directory and checks, when the test ends,
// that nothing a session made is left: no session directory, no mount
// under it, no loop device bound to a file in it or to any file in
// imageDirs, no child process.
func stateDir(t testing.TB, imageDirs ...string) string {
	t.Helper()
	dir := t.TempDir()
	t.Cleanup(func() { assertNoLeaks(t, dir, imageDirs...) })
	return dir
}

func assertNoLeaks(t testing.TB, stateDir string, imageDirs ...string) {
	t.Helper()
	for _, p := range append([]string{stateDir}, imageDirs...) {
		if loops := loopsBackedBy(p); len(loops) > 0 {
			t.Errorf("loop devices left bound to files in %s: %v", p, loops)
		}
		if mounts := mountsUnder(t, p); len(mounts) > 0 {
			t.Errorf("mounts left under %s: %v", p, mounts)
		}
	}
	entries, err := os.ReadDir(stateDir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		t.Errorf("left in the state directory: %s", e.Name())
	}
	if kids := children(); len(kids) > 0 {
		t.Errorf("child processes left: %v", kids)
	}
}

// loopsBackedBy lists the loop devices whose backing file is under dir, as
// losetup -a would show them. Detaching completes asynchronously on some
// kernels, so it gives them a moment.
func loopsBackedBy(dir string) []string {
	var found []string
	for range 100 {
		found = found[:0]
		files, _ := filepath.Glob("/sys/block/loop*/loop/backing_file")
		for _, f := range files {
			b, err := os.ReadFile(f)
			if err == nil && strings.HasPrefix(strings.TrimSpace(string(b)), dir+"/") {
				found = append(found, filepath.Base(filepath.Dir(filepath.Dir(f)))+" -> "+strings.TrimSpace(string(b)))
			}
		}
		if len(found) == 0 {
			return nil
		}
		time.Sleep(10 * time.Millisecond)
	}
	return found
}

// mountsUnder lists mount points at or below dir in /proc/self/mountinfo.
func mountsUnder(t testing.TB, dir string) []string {
	t.Helper()
	b, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		t.Fatal(err)
	}
	var found []string
	for _, line := range strings.Split(string(b), "\n") {
		fields := strings.Fields(line)
		if len(fields) > 4 && (fields[4] == dir || strings.HasPrefix(fields[4], dir+"/")) {
			found = append(found, fields[4])
		}
	}
	return found
}

// children lists the live child processes of this process.
func children() []string {
	var kids []string
	self := os.Getpid()
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		if _, err := strconv.Atoi(e.Name()); err != nil {
			continue
		}
		b, err := os.ReadFile(filepath.Join("/proc", e.Name(), "stat"))
		if err != nil {
			continue
		}
		i := bytes.LastIndexByte(b, ')')
		if i < 0 {
			continue
		}
		fields := strings.Fields(string(b[i+1:]))
		if len(fields) > 1 && fields[1] == strconv.Itoa(self) {
			kids = append(kids, e.Name()+" "+string(b[bytes.IndexByte(b, '('):i+1]))
		}
	}
	slices.Sort(kids)
	return kids
}
