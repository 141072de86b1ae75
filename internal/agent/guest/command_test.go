package guest_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/guestinject/guestinject/internal/agent/guest"
	"github.com/guestinject/guestinject/internal/inroot"
	"github.com/guestinject/guestinject/internal/testsupport/testimage"
	"github.com/guestinject/guestinject/vfs"
)

// TestMain lets the test binary serve as the command helper, as the
// agent's executable does in the appliance.
func TestMain(m *testing.M) {
	if os.Args[0] == guest.CommandHelper {
		guest.RunCommandHelper()
	}
	os.Exit(m.Run())
}

// busyboxRoot lays out a guest root with a static busybox userland under
// a fresh directory, plus extra (path -> content, "/"-suffixed for a
// directory, "->target" for a symlink).
func busyboxRoot(t *testing.T, extra map[string]string) string {
	t.Helper()
	if os.Geteuid() != 0 {
		testimage.Need(t, "root, to mount and chroot")
	}
	busybox := testimage.NeedTool(t, "busybox")
	root := t.TempDir()
	layout := map[string]string{"bin/": "", "etc/": "", "proc/": "", "sys/": "", "dev/": "", "run/": "", "tmp/": "", "etc/motd": "hello\n"}
	for k, v := range extra {
		delete(layout, k+"/")
		layout[k] = v
	}
	for name, content := range layout {
		p := filepath.Join(root, name)
		err := os.MkdirAll(filepath.Dir(p), 0o755)
		switch {
		case err != nil:
		case strings.HasSuffix(name, "/"):
			err = os.MkdirAll(p, 0o755)
		case strings.HasPrefix(content, "->"):
			os.RemoveAll(p)
			err = os.Symlink(content[2:], p)
		default:
			err = os.WriteFile(p, []byte(content), 0o644)
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	data, err := os.ReadFile(busybox)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(root, "bin/busybox"), data, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, applet := range []string{"sh", "cat", "echo", "ls", "sed", "sleep", "wc", "head", "grep", "test", "yes"} {
		if err := os.Symlink("busybox", filepath.Join(root, "bin", applet)); err != nil {
			t.Fatal(err)
		}
	}
	return root
}

func runIn(t *testing.T, root string, c vfs.Command) (string, error) {
	t.Helper()
	r, err := inroot.Open(root)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	c, err = c.WithDefaults()
	if err != nil {
		t.Fatal(err)
	}
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	res, err := (&guest.Runner{Root: r, Dir: root, Exe: exe}).Run(context.Background(), c)
	if err != nil {
		return "", err
	}
	if res.Exit != 0 || res.TimedOut {
		return string(res.Output), errors.New("command failed")
	}
	return string(res.Output), nil
}

// TestRunnerOnHost runs the runner against a directory on this host, in
// namespaces of its own: the command sees its own /proc and /dev and a
// private /tmp, its changes to the root stay, and none of its mounts is
// left in the root.
func TestRunnerOnHost(t *testing.T) {
	root := busyboxRoot(t, map[string]string{"tmp/kept": "guest\n"})
	out, err := runIn(t, root, vfs.Command{Shell: `echo $$; ls /tmp | wc -l; test -c /dev/null && echo null; sed -i s/hello/bye/ /etc/motd; echo x > /tmp/scratch`})
	if err != nil || out != "1\n0\nnull\n" {
		t.Fatalf("got %q, %v", out, err)
	}
	if data, _ := os.ReadFile(filepath.Join(root, "etc/motd")); string(data) != "bye\n" {
		t.Errorf("/etc/motd: %q", data)
	}
	for _, dir := range []string{"proc", "dev", "tmp", "run", "sys"} {
		entries, _ := os.ReadDir(filepath.Join(root, dir))
		if dir == "tmp" && (len(entries) != 1 || entries[0].Name() != "kept") || dir != "tmp" && len(entries) != 0 {
			t.Errorf("/%s holds %v after the command", dir, entries)
		}
	}
	out, err = runIn(t, root, vfs.Command{Script: []byte("#!/bin/sh\necho from script\n")})
	if err != nil || out != "from script\n" {
		t.Errorf("script: %q, %v", out, err)
	}
}

// TestRunnerHostileMountPoints: mount points the guest made symlinks
// stay in the guest root: the command runs or setup fails, and nothing
// lands outside the root.
func TestRunnerHostileMountPoints(t *testing.T) {
	outside := t.TempDir()
	canary := filepath.Join(outside, "canary")
	if err := os.WriteFile(canary, []byte("host"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name  string
		extra map[string]string
		want  string // "" when the command runs, else the setup error
	}{
		{"tmp to a host path", map[string]string{"tmp": "->/root"}, ""},                // the guest's /root, missing: the command goes without /tmp
		{"proc to etc", map[string]string{"proc": "->/etc"}, ""},                       // the command's /etc is a proc; the guest's is kept
		{"run climbing out", map[string]string{"run": "->../../../../" + outside}, ""}, // the climb stops at the root
		{"dev to the root", map[string]string{"dev": "->/"}, "not visible at its mount point"},
		{"no scratch dir", map[string]string{"proc": "->missing", "sys": "->missing", "dev": "->missing", "run": "->missing", "tmp": "->missing"}, "setting up the command"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			root := busyboxRoot(t, tc.extra)
			_, err := runIn(t, root, vfs.Command{Script: []byte("echo ran > /ran\n"), Timeout: 10 * time.Second})
			_, ranErr := os.Stat(filepath.Join(root, "ran"))
			switch {
			case tc.want == "" && (err != nil || ranErr != nil):
				t.Errorf("the command did not run: %v, %v", err, ranErr)
			case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want) || ranErr == nil):
				t.Errorf("got %v (ran: %v), want a setup error saying %q", err, ranErr == nil, tc.want)
			}
			if entries, _ := os.ReadDir(outside); len(entries) != 1 {
				t.Errorf("the host directory holds %v", entries)
			}
			if data, _ := os.ReadFile(canary); string(data) != "host" {
				t.Errorf("canary %q", data)
			}
			if data, _ := os.ReadFile(filepath.Join(root, "etc/motd")); string(data) != "hello\n" {
				t.Errorf("/etc/motd %q", data)
			}
		})
	}
}

// TestRunnerTimeLimit: at the time limit the shell and the children it
// left behind are killed, and the output so far is kept.
func TestRunnerTimeLimit(t *testing.T) {
	root := busyboxRoot(t, nil)
	r, err := inroot.Open(root)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	exe, _ := os.Executable()
	c, _ := vfs.Command{Shell: "sleep 60 & echo started; sleep 60", Timeout: time.Second}.WithDefaults()
	start := time.Now()
	res, err := (&guest.Runner{Root: r, Dir: root, Exe: exe}).Run(context.Background(), c)
	if err != nil {
		t.Fatal(err)
	}
	if !res.TimedOut || res.Exit != -1 || string(res.Output) != "started\n" {
		t.Errorf("got %+v", res)
	}
	if took := time.Since(start); took > 10*time.Second {
		t.Errorf("killed after %v", took)
	}
}
