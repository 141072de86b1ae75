package appliance_test

import (
	"bytes"
	"debug/elf"
	"encoding/binary"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/guestinject/guestinject/appliance"
	"github.com/guestinject/guestinject/internal/testsupport/testimage"
	"github.com/guestinject/guestinject/vfs"
)

// busyboxTree lays out a small guest userland under dir: a static
// busybox as /bin/busybox, /bin/sh and every applet linked to it, and the
// directories a command's mounts go on. files adds to it.
func busyboxTree(t *testing.T, dir string, files map[string]string) {
	t.Helper()
	busybox := testimage.NeedTool(t, "busybox")
	data, err := os.ReadFile(busybox)
	if err != nil {
		t.Fatal(err)
	}
	base := map[string]string{"proc/": "", "sys/": "", "dev/": "", "run/": "", "tmp/": "", "root/": "", "etc/": "",
		"usr/bin/": "", "sbin/": "", "usr/sbin/": "", "bin/": ""}
	for k, v := range files {
		base[k] = v
	}
	writeTree(t, dir, base)
	if err := os.WriteFile(filepath.Join(dir, "bin/busybox"), data, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, applet := range strings.Fields(run(t, busybox, "--list")) {
		if applet == "busybox" {
			continue
		}
		if err := os.Symlink("busybox", filepath.Join(dir, "bin", applet)); err != nil && !errors.Is(err, os.ErrExist) {
			t.Fatal(err)
		}
	}
}

// TestRunCommand runs the guest's own commands in the appliance and reads
// the committed image back with debugfs: a command that edits a guest
// file with the guest's sed and sees its own /proc, /dev and private
// /tmp; an output flood cut to the bound and counted; a sleep past the
// time limit, with a background child, killed; a fork bomb ended at the
// time limit, after which a command still runs.
func TestRunCommand(t *testing.T) {
	needE2E(t)
	dir := t.TempDir()
	tree := filepath.Join(dir, "tree")
	busyboxTree(t, tree, map[string]string{"etc/motd": "hello world\n", "tmp/guest-file": "kept\n"})
	img := filepath.Join(dir, "disk.raw")
	ext4Image(t, img, tree, 64)

	ctx, s := openRaw(t, img)
	res, err := s.RunCommand(ctx, vfs.Command{Shell: `set -e
sed -i 's/world/guest/' /etc/motd
echo "pid $$"
test -c /dev/null && test -c /dev/urandom && head -c 8 /dev/urandom | wc -c
ls /tmp | wc -l
echo scratch > /tmp/scratch
echo to-stderr >&2
cat /proc/self/comm
ls /sys/class/net`})
	if err != nil {
		t.Fatal(err)
	}
	if !res.Success() {
		t.Fatalf("command failed: %+v\n%s", res, res.Output)
	}
	// The shell is process 1 of its own PID namespace; /tmp is an empty
	// tmpfs over the guest's; the network namespace has loopback alone.
	if want := "pid 1\n8\n0\nto-stderr\ncat\nlo\n"; string(res.Output) != want {
		t.Errorf("output %q, want %q", res.Output, want)
	}

	res, err = s.RunCommand(ctx, vfs.Command{Shell: "yes 0123456789 | head -c 3000000", MaxOutput: 1000})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Output) != 1000 || res.Dropped != 3000000-1000 || !res.Success() {
		t.Errorf("flood: %d bytes kept, %d dropped, exit %d; want 1000, %d, 0", len(res.Output), res.Dropped, res.ExitStatus, 3000000-1000)
	}
	if !strings.HasPrefix(string(res.Output), "0123456789\n0123456789\n") {
		t.Errorf("flood: kept %q...", res.Output[:min(len(res.Output), 30)])
	}

	start := time.Now()
	res, err = s.RunCommand(ctx, vfs.Command{Shell: "sleep 300 & echo started; sleep 300", Timeout: 3 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	if !res.TimedOut || res.ExitStatus != -1 || string(res.Output) != "started\n" {
		t.Errorf("sleep: %+v, want timed out with its output", res)
	}
	if took := time.Since(start); took > 30*time.Second {
		t.Errorf("sleep: killed after %v", took)
	}

	// /proc/loadavg counts every thread of the VM, whatever the PID
	// namespace: the fork bomb must leave none behind.
	threads := func() int {
		t.Helper()
		res, err := s.RunCommand(ctx, vfs.Command{Shell: "cat /proc/loadavg"})
		if err != nil {
			t.Fatal(err)
		}
		f := strings.Fields(string(res.Output))
		_, total, ok := strings.Cut(f[min(3, len(f)-1)], "/")
		n, err := strconv.Atoi(total)
		if !ok || err != nil {
			t.Fatalf("loadavg %q", res.Output)
		}
		return n
	}
	before := threads()
	start = time.Now()
	res, err = s.RunCommand(ctx, vfs.Command{Shell: "bomb() { bomb | bomb & }; bomb; sleep 300", Timeout: 5 * time.Second, MaxProcs: 64})
	if err != nil {
		t.Fatal(err)
	}
	if !res.TimedOut {
		t.Errorf("fork bomb: %+v, want timed out", res)
	}
	if took := time.Since(start); took > 60*time.Second {
		t.Errorf("fork bomb: ended after %v", took)
	}
	// The VM is still the agent's: a command runs, and no process of
	// the bomb is left.
	after := threads()
	t.Logf("threads in the VM: %d before the fork bomb, %d after", before, after)
	if after > before+2 {
		t.Errorf("after the fork bomb the VM has %d threads, %d before", after, before)
	}

	if err := s.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	if got := debugfs(t, img, "cat /etc/motd"); got != "hello guest\n" {
		t.Errorf("/etc/motd is %q", got)
	}
	// The private /tmp took the scratch file; the guest's own is as it was.
	if ls := debugfs(t, img, "ls /tmp"); strings.Contains(ls, "scratch") || !strings.Contains(ls, "guest-file") {
		t.Errorf("guest /tmp: %s", ls)
	}
	if ls := debugfs(t, img, "ls /dev"); strings.Contains(ls, "null") {
		t.Errorf("guest /dev holds the command's nodes: %s", ls)
	}
}

// TestRunCommandFailureDiscarded: a command that changes a file and
// fails reports its status; closing the session leaves the image
// byte-identical.
func TestRunCommandFailureDiscarded(t *testing.T) {
	needE2E(t)
	dir := t.TempDir()
	tree := filepath.Join(dir, "tree")
	busyboxTree(t, tree, map[string]string{"etc/motd": "hello\n"})
	img := filepath.Join(dir, "disk.raw")
	ext4Image(t, img, tree, 64)
	before := fileHash(t, img)

	ctx, s := openRaw(t, img)
	res, err := s.RunCommand(ctx, vfs.Command{Script: []byte("#!/bin/sh\necho changed > /etc/motd\necho failing\nexit 3\n")})
	if err != nil {
		t.Fatal(err)
	}
	if res.ExitStatus != 3 || res.Success() || string(res.Output) != "failing\n" {
		t.Errorf("got %+v %q, want exit 3 and its output", res, res.Output)
	}
	s.Close()
	if fileHash(t, img) != before {
		t.Error("the image changed")
	}
}

// TestRunCommandRefused: a guest without /bin/sh, or whose /bin/sh is for
// another machine, is refused before anything runs.
func TestRunCommandRefused(t *testing.T) {
	needE2E(t)
	aarch64 := make([]byte, 64)
	copy(aarch64, elf.ELFMAG)
	aarch64[elf.EI_CLASS], aarch64[elf.EI_DATA], aarch64[elf.EI_VERSION] = byte(elf.ELFCLASS64), byte(elf.ELFDATA2LSB), 1
	binary.LittleEndian.PutUint16(aarch64[16:], uint16(elf.ET_EXEC))
	binary.LittleEndian.PutUint16(aarch64[18:], uint16(elf.EM_AARCH64))
	x86 := slices.Clone(aarch64)
	binary.LittleEndian.PutUint16(x86[18:], uint16(elf.EM_X86_64))
	for _, tc := range []struct {
		name  string
		files map[string]string
		want  string
	}{
		{"no shell", map[string]string{"etc/motd": "x\n", "bin/": ""}, "no /bin/sh"},
		{"aarch64 shell", map[string]string{"etc/motd": "x\n", "bin/sh": string(aarch64)}, "EM_AARCH64"},
		// The header says x86-64; the kernel finds no program behind it.
		{"damaged shell", map[string]string{"etc/motd": "x\n", "bin/sh": string(x86), "tmp/": "", "proc/": ""}, "exec format error"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			tree := filepath.Join(dir, "tree")
			writeTree(t, tree, tc.files)
			if err := os.Chmod(filepath.Join(tree, "bin/sh"), 0o755); err != nil && !errors.Is(err, os.ErrNotExist) {
				t.Fatal(err)
			}
			img := filepath.Join(dir, "disk.raw")
			ext4Image(t, img, tree, 16)
			ctx, s := openRaw(t, img)
			res, err := s.RunCommand(ctx, vfs.Command{Shell: "echo ran > /etc/motd"})
			if !errors.Is(err, vfs.ErrCannotRun) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got %+v, %v; want ErrCannotRun saying %q", res, err, tc.want)
			}
			// The session is still usable, and nothing ran.
			data, err := vfs.ReadFile(ctx, s, "/etc/motd", 100)
			if err != nil || string(data) != "x\n" {
				t.Errorf("/etc/motd: %q, %v", data, err)
			}
		})
	}
}

// TestOverlayLimit: a command that fills the disk is stopped by the
// host's bound on the overlay, and so is a commit of too many plain
// writes; the image is unchanged either way.
func TestOverlayLimit(t *testing.T) {
	needE2E(t)
	dir := t.TempDir()
	tree := filepath.Join(dir, "tree")
	busyboxTree(t, tree, map[string]string{"etc/motd": "hello\n"})
	img := filepath.Join(dir, "disk.raw")
	ext4Image(t, img, tree, 128)
	before := fileHash(t, img)
	const limit = 16 << 20

	ctx, s := openRaw(t, img, appliance.WithOverlayLimit(limit))
	start := time.Now()
	res, err := s.RunCommand(ctx, vfs.Command{Shell: "dd if=/dev/urandom of=/big bs=1M count=100 conv=fsync; sleep 120", Timeout: 3 * time.Minute})
	var le *appliance.OverlayLimitError
	if !errors.As(err, &le) || !errors.Is(err, appliance.ErrOverlayLimit) || le.Limit != limit || le.Size <= limit {
		t.Fatalf("got %+v, %v; want an *OverlayLimitError", res, err)
	}
	if took := time.Since(start); took > 100*time.Second {
		t.Errorf("stopped after %v", took)
	}
	if _, err := s.Stat(ctx, "/etc/motd"); err == nil {
		t.Error("the session goes on after its overlay went over the limit")
	}
	if fileHash(t, img) != before {
		t.Error("the image changed")
	}

	ctx, s = openRaw(t, img, appliance.WithOverlayLimit(limit))
	big := make([]byte, 24<<20)
	for i := range big {
		big[i] = byte(i*7 + i>>9)
	}
	if err := s.WriteFile(ctx, "/big", bytes.NewReader(big), vfs.WriteOptions{Perm: 0o644, UID: -1, GID: -1}); err != nil {
		t.Fatal(err)
	}
	if err := s.Commit(ctx); !errors.As(err, &le) {
		t.Fatalf("commit: %v, want an *OverlayLimitError", err)
	}
	if fileHash(t, img) != before {
		t.Error("the image changed")
	}
}
