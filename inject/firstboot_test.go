package inject

import (
	"context"
	"errors"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/guestinject/guestinject/internal/testsupport/testimage"
	"github.com/guestinject/guestinject/vfs"
)

const selinuxLayout = debianLayout + `
d /etc/selinux
f /etc/selinux/config data="# comment\nSELINUX=enforcing\nSELINUXTYPE=targeted\n"
`

func TestFirstBootSystemd(t *testing.T) {
	forEachBackend(t, func(t *testing.T, open func(*testing.T, string) vfs.FS) {
		fsys := open(t, debianLayout+"d /var/lib/guestinject/firstboot mode=0700\nf /var/lib/guestinject/firstboot/007-earlier mode=0700 data=x\n")
		got, rep := applyDiff(t, fsys, Spec{FirstBoot: []Command{{Name: "hello", Script: "echo hello"}, {Name: "second.step", Script: "echo 2"}}})
		wantTreeDiff(t, map[string]node{
			"/var/lib/guestinject/firstboot/008-hello":       {Mode: 0o700, Data: "#!/bin/sh\necho hello\n"},
			"/var/lib/guestinject/firstboot/009-second.step": {Mode: 0o700, Data: "#!/bin/sh\necho 2\n"},
			"/usr/local":                            {Mode: fs.ModeDir | 0o755},
			"/usr/local/sbin":                       {Mode: fs.ModeDir | 0o755},
			"/usr/local/sbin/guestinject-firstboot": {Mode: 0o755, Data: runnerScript},
			"/etc/systemd/system/guestinject-firstboot.service":                         {Mode: 0o644, Data: unitFile},
			"/etc/systemd/system/multi-user.target.wants":                               {Mode: fs.ModeDir | 0o755},
			"/etc/systemd/system/multi-user.target.wants/guestinject-firstboot.service": {Mode: fs.ModeSymlink | 0o777, Target: firstBootUnit},
		}, got)
		if last := rep.Changes[len(rep.Changes)-1]; last.Action != ActionSymlink {
			t.Errorf("the boot hook must be the last change, got %+v", last)
		}
	})
}

func TestFirstBootSysvinit(t *testing.T) {
	layout := strings.Replace(debianLayout, "f /usr/lib/systemd/systemd mode=0755\n", "d /etc/init.d\nd /etc/rc2.d\n", 1)
	fsys := openMemGuest(t, layout)
	got, _ := applyDiff(t, fsys, Spec{FirstBoot: []Command{{Name: "x", Script: "true"}}})
	for _, rl := range sysvRunlevels {
		if n := got["/etc/rc"+rl+".d/S99guestinject-firstboot"]; n.Target != "../init.d/guestinject-firstboot" {
			t.Errorf("runlevel %s link: %+v", rl, n)
		}
	}
	if got[firstBootInitD].Data != initScript || got[firstBootInitD].Mode != 0o755 {
		t.Errorf("init script: %+v", got[firstBootInitD])
	}
}

func TestFirstBootRefusals(t *testing.T) {
	fsys := openMemGuest(t, debianLayout)
	wantPlanErr(t, fsys, Spec{FirstBoot: []Command{{Name: "../escape", Script: "x"}}}, ErrInvalidSpec)
	noInit := strings.Replace(debianLayout, "f /usr/lib/systemd/systemd mode=0755\n", "", 1)
	wantPlanErr(t, openMemGuest(t, noInit), Spec{FirstBoot: []Command{{Name: "a", Script: "x"}}}, ErrUnsupported)
	wantPlanErr(t, withoutSymlinks{openMemGuest(t, debianLayout)}, Spec{FirstBoot: []Command{{Name: "a", Script: "x"}}}, ErrUnsupported)
}

func TestSELinuxRelabelsCreatedFiles(t *testing.T) {
	forEachBackend(t, func(t *testing.T, open func(*testing.T, string) vfs.FS) {
		fsys := open(t, selinuxLayout+"f /etc/labelled data=old xattr.user.label=keep\n")
		got, _ := applyDiff(t, fsys, Spec{
			SSHKeys: []SSHKeys{{Keys: []string{testKeyA}}},
			Files:   []File{{Path: "/etc/labelled", Content: []byte("new")}},
		})
		want := "#!/bin/sh\n# Labels the files guestinject created.\nif command -v restorecon >/dev/null 2>&1; then\n\trestorecon -F -v -- '/root/.ssh' '/root/.ssh/authorized_keys'\nelse\n\ttouch /.autorelabel\nfi\n"
		if n := got["/var/lib/guestinject/firstboot/001-selinux-relabel"]; n.Data != want {
			t.Errorf("relabel script:\n%s\nwant:\n%s", n.Data, want)
		}
		if _, ok := got[autorelabelPath]; ok {
			t.Error("a full relabel was requested although a targeted one is scheduled")
		}
		if _, ok := fsys.(vfs.XattrFS); ok {
			label, err := vfs.Lgetxattr(context.Background(), fsys, "/etc/labelled", "user.label")
			if err != nil || string(label) != "keep" {
				t.Errorf("replaced file lost its xattr: %q, %v", label, err)
			}
		}
	})
}

func TestSELinuxFallsBackToAutorelabel(t *testing.T) {
	fsys := withoutSymlinks{openMemGuest(t, selinuxLayout)}
	got, _ := applyDiff(t, fsys, Spec{Files: []File{{Path: "/etc/new", Content: []byte("x")}}})
	wantTreeDiff(t, map[string]node{"/etc/new": {Mode: 0o644, Data: "x"}, "/.autorelabel": {Mode: 0o644}}, got)
}

func TestSELinuxDisabledSchedulesNothing(t *testing.T) {
	fsys := openMemGuest(t, strings.Replace(selinuxLayout, "SELINUX=enforcing", "SELINUX=disabled", 1))
	got, _ := applyDiff(t, fsys, Spec{Files: []File{{Path: "/etc/new", Content: []byte("x")}}})
	wantTreeDiff(t, map[string]node{"/etc/new": {Mode: 0o644, Data: "x"}}, got)
}

// withoutSymlinks hides the optional capabilities of a backend.
type withoutSymlinks struct{ vfs.FS }

// TestRunnerScriptRunsOnce runs the real runner with /bin/sh over a
// temporary directory standing for the guest root.
func TestRunnerScriptRunsOnce(t *testing.T) {
	sh := testimage.NeedTool(t, "sh")
	root := t.TempDir()
	host := func(p string) string { return filepath.Join(root, filepath.FromSlash(p)) }
	script := runnerScript
	for _, p := range []string{firstBootDir, firstBootLog, firstBootWants, firstBootUnit, firstBootInitD, firstBootRunner, "/etc/rc[2345].d"} {
		script = strings.ReplaceAll(script, p, host(p))
	}
	for p, content := range map[string]string{
		firstBootDir + "/001-a":         "echo first; exit 3\n",
		firstBootDir + "/002-b":         "echo second\n",
		firstBootDir + "/notnumbered":   "echo never\n",
		firstBootWants:                  "unit",
		firstBootUnit:                   "unit",
		"/etc/rc2.d/" + firstBootRcLink: "link",
		firstBootRunner:                 script,
	} {
		if err := os.MkdirAll(filepath.Dir(host(p)), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(host(p), []byte(content), 0o700); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.MkdirAll(filepath.Dir(host(firstBootLog)), 0o755); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command(sh, host(firstBootRunner)).CombinedOutput(); err != nil {
		t.Fatalf("runner: %v\n%s", err, out)
	}
	logData, err := os.ReadFile(host(firstBootLog))
	if err != nil {
		t.Fatal(err)
	}
	log := string(logData)
	first, second := strings.Index(log, "first\n"), strings.Index(log, "second\n")
	if first < 0 || second < first || !strings.Contains(log, "001-a status 3") || !strings.Contains(log, "002-b status 0") || strings.Contains(log, "never") {
		t.Errorf("log:\n%s", log)
	}
	for _, p := range []string{firstBootDir + "/001-a", firstBootDir + "/002-b", firstBootWants, firstBootUnit, "/etc/rc2.d/" + firstBootRcLink, firstBootRunner} {
		if _, err := os.Lstat(host(p)); !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("%s still there after the run: %v", p, err)
		}
	}
}
