package main

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/guestinject/guestinject/internal/testsupport/guestimage"
	"github.com/guestinject/guestinject/internal/testsupport/testimage"
)

// busyboxImage builds a raw ext4 guest with a static busybox as its
// userland (/bin/sh and every applet linked to it) and /etc/motd.
func busyboxImage(t *testing.T) string {
	t.Helper()
	busybox := testimage.NeedTool(t, "busybox")
	dir := t.TempDir()
	tree := filepath.Join(dir, "tree")
	testimage.WriteTree(t, tree, map[string]string{"bin/": "", "etc/motd": "hello\n", "proc/": "", "sys/": "", "dev/": "",
		"run/": "", "tmp/": "", "root/": ""})
	data, err := os.ReadFile(busybox)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(tree, "bin/busybox"), data, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, applet := range strings.Fields(testimage.Run(t, busybox, "--list")) {
		if err := os.Symlink("busybox", filepath.Join(tree, "bin", applet)); err != nil && !errors.Is(err, os.ErrExist) {
			t.Fatal(err)
		}
	}
	img := filepath.Join(dir, "guest.img")
	testimage.Ext4(t, img, tree, 64)
	return img
}

// TestE2ERunCommand runs --run-command and --run through the appliance,
// in order with a file operation, and reads the image back with debugfs;
// then a failing command, which leaves the image byte-identical and
// shows its output.
func TestE2ERunCommand(t *testing.T) {
	guestimage.NeedAppliance(t)
	img := busyboxImage(t)
	dir := t.TempDir()
	script := writeFile(t, dir, "fix.sh", "#!/bin/sh\nset -e\nsed -i 's/^written$/edited by the script/' /etc/after\necho script ran\n")

	r := cli(t, "", "inject", img, "--format", "raw", "--command-timeout", "2m",
		"--run-command", "sed -i s/hello/changed/ /etc/motd && echo motd done",
		"--write", "/etc/after:written",
		"--run", script,
	)
	if r.code != exitOK {
		t.Fatalf("inject: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	for _, want := range []string{"run     /bin/sh -c 'sed -i s/hello/changed/ /etc/motd && echo motd done'", "| motd done", "/bin/sh on script fix.sh", "| script ran", "exit status 0"} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("output lacks %q:\n%s", want, r.stdout)
		}
	}
	if got := guestimage.Cat(t, img, "/etc/motd"); got != "changed\n" {
		t.Errorf("/etc/motd = %q", got)
	}
	if got := guestimage.Cat(t, img, "/etc/after"); got != "edited by the script" {
		t.Errorf("/etc/after = %q", got)
	}

	// The dry run plans up to the first command and says what waits.
	r = cli(t, "", "inject", img, "--format", "raw", "--dry-run", "--run-command", "true", "--mkdir", "/srv/x")
	if r.code != exitOK || !strings.Contains(r.stdout, "run     /bin/sh -c 'true'") || !strings.Contains(r.stdout, "1 more operations (operations[1] (mkdir))") {
		t.Errorf("dry run: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}

	before := testimage.FileHash(t, img)
	r = cli(t, "", "inject", img, "--format", "raw", "--write", "/etc/motd:overwritten",
		"--run-command", "echo broken > /etc/after; echo oops \x1b[2J; exit 4", "--mkdir", "/never")
	if r.code != exitFailed || !strings.Contains(r.stderr, "exit status 4") || !strings.Contains(r.stderr, "| oops \uFFFD[2J") {
		t.Errorf("failing command: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	if testimage.FileHash(t, img) != before {
		t.Error("a failed command changed the image")
	}

	// A command that fills the disk is stopped by --max-overlay.
	r = cli(t, "", "inject", img, "--format", "raw", "--max-overlay", "8M",
		"--run-command", "dd if=/dev/urandom of=/big bs=1M count=40 conv=fsync; sleep 120")
	if r.code != exitFailed || !strings.Contains(r.stderr, "over its limit of 8388608") {
		t.Errorf("--max-overlay: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	if testimage.FileHash(t, img) != before {
		t.Error("a stopped command changed the image")
	}
}
