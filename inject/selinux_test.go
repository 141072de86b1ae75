package inject

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/guestinject/guestinject/internal/testsupport/testimage"
	"github.com/guestinject/guestinject/vfs"
	"github.com/guestinject/guestinject/vfs/memfs"
)

// policyLayout is an SELinux guest with the default policy's
// file_contexts, its setfiles and a /bin/sh.
const policyLayout = debianLayout + `
d /etc/selinux
f /etc/selinux/config data="SELINUX=permissive\nSELINUXTYPE=default\n"
d /etc/selinux/default/contexts/files
f /etc/selinux/default/contexts/files/file_contexts data="/.* system_u:object_r:default_t:s0\n"
d /usr/sbin
f /usr/sbin/setfiles mode=0755 data=ELF
d /bin
f /bin/sh mode=0755 data=ELF
`

const policyFileContexts = "/etc/selinux/default/contexts/files/file_contexts"

// selinuxCommandGuest is policyLayout (edited by edit) behind a backend
// that runs commands; the setfiles run for paths succeeds, and records
// that it ran.
func selinuxCommandGuest(t *testing.T, edit func(string) string, paths ...string) (*commandGuest, *int) {
	t.Helper()
	if edit == nil {
		edit = func(s string) string { return s }
	}
	mem, ok := openMemGuest(t, edit(policyLayout)).(*memfs.FS)
	if !ok {
		t.Fatal("the layout is not a memfs")
	}
	g := &commandGuest{FS: mem, commands: map[string]func(context.Context, vfs.FS) (*vfs.CommandResult, error){}}
	runs := new(int)
	g.commands[setfilesScript("/usr/sbin/setfiles", policyFileContexts, paths)] = func(context.Context, vfs.FS) (*vfs.CommandResult, error) {
		*runs++
		return &vfs.CommandResult{}, nil
	}
	return g, runs
}

// selinuxChanges are the report's changes of the SELinux item.
func selinuxChanges(rep *Report) []Change {
	var out []Change
	for _, c := range rep.Changes {
		if c.Item.Field == FieldSELinux {
			out = append(out, c)
		}
	}
	return out
}

// TestSELinuxRelabelsNow: with a backend that runs commands and a guest
// with setfiles, the created paths (the topmost of nested ones) are
// relabelled by one setfiles run, last, and nothing is left to the first
// boot.
func TestSELinuxRelabelsNow(t *testing.T) {
	g, runs := selinuxCommandGuest(t, nil, "/etc/new", "/root/.ssh")
	got, rep := applyDiff(t, g, Spec{
		SSHKeys: []SSHKeys{{Keys: []string{testKeyA}}},
		Files:   []File{{Path: "/etc/new", Content: []byte("x")}, {Path: "/etc/hostname", Content: []byte("replaced\n")}},
	})
	if *runs != 1 {
		t.Fatalf("setfiles ran %d times; commands run: %q", *runs, g.ran)
	}
	last := rep.Changes[len(rep.Changes)-1]
	if last.Item.Field != FieldSELinux || last.Action != ActionRun || last.Run == nil || !strings.Contains(last.Detail, "relabelled now") {
		t.Errorf("last change %+v, want the setfiles run", last)
	}
	if n := len(selinuxChanges(rep)); n != 1 {
		t.Errorf("%d SELinux changes, want 1", n)
	}
	for name := range got {
		if strings.HasPrefix(name, firstBootDir) || name == autorelabelPath {
			t.Errorf("first-boot relabel planned as well: %s", name)
		}
	}
}

// TestSELinuxRelabelAllNow relabels "/" with setfiles, on a guest whose
// SELinux is disabled too, as virt-customize --selinux-relabel does.
func TestSELinuxRelabelAllNow(t *testing.T) {
	disabled := func(s string) string { return strings.Replace(s, "SELINUX=permissive", "SELINUX=disabled", 1) }
	g, runs := selinuxCommandGuest(t, disabled, "/")
	_, rep := applyDiff(t, g, Spec{SELinux: RelabelAll})
	if *runs != 1 {
		t.Fatalf("setfiles ran %d times; commands run: %q", *runs, g.ran)
	}
	if c := selinuxChanges(rep); len(c) != 1 || !strings.Contains(c[0].Detail, "whole filesystem") {
		t.Errorf("SELinux changes %+v", c)
	}
}

// TestSELinuxRelabelFallbacks: without setfiles, without a policy's
// file_contexts, with a policy name that climbs out of /etc/selinux, or
// on a backend that cannot run commands, the relabel is left to the first
// boot and the report says so; RelabelNone plans neither.
func TestSELinuxRelabelFallbacks(t *testing.T) {
	noSetfiles := func(s string) string { return strings.Replace(s, "f /usr/sbin/setfiles mode=0755 data=ELF\n", "", 1) }
	noContexts := func(s string) string {
		return strings.Replace(s, "f /etc/selinux/default/contexts/files/file_contexts data=\"/.* system_u:object_r:default_t:s0\\n\"\n", "", 1)
	}
	climb := func(s string) string {
		return strings.Replace(s, "SELINUXTYPE=default", "SELINUXTYPE=../selinux/default", 1)
	}
	spec := Spec{Files: []File{{Path: "/etc/new", Content: []byte("x")}}}
	for name, edit := range map[string]func(string) string{"no setfiles": noSetfiles, "no file_contexts": noContexts, "climbing policy name": climb} {
		t.Run(name, func(t *testing.T) {
			g, runs := selinuxCommandGuest(t, edit, "/etc/new")
			got, rep := applyDiff(t, g, spec)
			if *runs != 0 || len(g.ran) != 0 {
				t.Errorf("commands ran: %q", g.ran)
			}
			if _, ok := got[firstBootDir+"/001-selinux-relabel"]; !ok {
				t.Errorf("no first-boot relabel in %v", got)
			}
			if c := selinuxChanges(rep); len(c) == 0 || !strings.Contains(c[len(c)-1].Detail, "at first boot") {
				t.Errorf("SELinux changes %+v", c)
			}
		})
	}
	t.Run("no commands, relabel all", func(t *testing.T) {
		got, rep := applyDiff(t, openMemGuest(t, policyLayout), Spec{SELinux: RelabelAll})
		wantTreeDiff(t, map[string]node{autorelabelPath: {Mode: 0o644}}, got)
		if c := selinuxChanges(rep); len(c) != 1 || !strings.Contains(c[0].Detail, "whole filesystem at first boot") {
			t.Errorf("SELinux changes %+v", c)
		}
	})
	t.Run("none", func(t *testing.T) {
		g, _ := selinuxCommandGuest(t, nil)
		got, rep := applyDiff(t, g, Spec{SELinux: RelabelNone, Files: spec.Files})
		wantTreeDiff(t, map[string]node{"/etc/new": {Mode: 0o644, Data: "x"}}, got)
		if len(g.ran) != 0 || len(selinuxChanges(rep)) != 0 {
			t.Errorf("ran %q, changes %+v", g.ran, rep.Changes)
		}
	})
	t.Run("unknown mode", func(t *testing.T) {
		wantPlanErr(t, openMemGuest(t, policyLayout), Spec{SELinux: 7, Files: spec.Files}, ErrInvalidSpec)
	})
}

// cannotRunGuest is a command backend whose guest programs are for
// another architecture.
type cannotRunGuest struct{ *commandGuest }

func (g cannotRunGuest) RunCommand(context.Context, vfs.Command) (*vfs.CommandResult, error) {
	return nil, &fs.PathError{Op: "run", Path: "/bin/sh", Err: fmt.Errorf("%w: not an x86-64 program", vfs.ErrCannotRun)}
}

// TestSELinuxRelabelCannotRun: a guest whose setfiles cannot run in the
// appliance gets /.autorelabel at Apply time, reported as such.
func TestSELinuxRelabelCannotRun(t *testing.T) {
	g, _ := selinuxCommandGuest(t, nil, "/etc/new")
	got, rep := applyDiff(t, cannotRunGuest{g}, Spec{Files: []File{{Path: "/etc/new", Content: []byte("x")}}})
	wantTreeDiff(t, map[string]node{"/etc/new": {Mode: 0o644, Data: "x"}, autorelabelPath: {Mode: 0o644}}, got)
	c := selinuxChanges(rep)
	if len(c) != 1 || c[0].Path != autorelabelPath || !strings.Contains(c[0].Detail, "cannot run") {
		t.Errorf("SELinux changes %+v", c)
	}
}

// TestSELinuxRelabelFailureFails: setfiles failing fails Apply with a
// *CommandError.
func TestSELinuxRelabelFailureFails(t *testing.T) {
	g, _ := selinuxCommandGuest(t, nil) // no script registered: status 127
	_, err := Apply(context.Background(), g, Spec{Files: []File{{Path: "/etc/new", Content: []byte("x")}}})
	var ce *CommandError
	if !errors.As(err, &ce) || !errors.Is(err, ErrCommandFailed) {
		t.Fatalf("Apply error %v, want a *CommandError", err)
	}
}

// TestSetfilesScriptQuotes: paths reach setfiles as single words however
// they are spelt.
func TestSetfilesScriptQuotes(t *testing.T) {
	s := setfilesScript("/sbin/setfiles", policyFileContexts, []string{"/etc/a b", "/etc/it's", "/etc/$(reboot)"})
	for _, want := range []string{`'/etc/a b'`, `'/etc/it'\''s'`, `'/etc/$(reboot)'`, "-F -e /proc -e /sys -e /dev"} {
		if !strings.Contains(s, want) {
			t.Errorf("script lacks %s:\n%s", want, s)
		}
	}
}

// TestSetfilesScriptStatus runs the script with /bin/sh against a stand-in
// setfiles: -m and -C are passed only where setfiles takes them, and
// status 1 ("relabelling errors only") is success only with -C.
func TestSetfilesScriptStatus(t *testing.T) {
	sh := testimage.NeedTool(t, "sh")
	dir := t.TempDir()
	fake := func(takesC bool, status int) string {
		name := filepath.Join(dir, fmt.Sprintf("setfiles-%v-%d", takesC, status))
		body := "#!/bin/sh\n[ $# = 1 ] && [ \"$1\" = -m ] && { echo usage >&2; exit 1; }\n"
		if !takesC {
			body += "[ $# = 1 ] && [ \"$1\" = -C ] && { echo \"setfiles: invalid option -- 'C'\" >&2; exit 1; }\n"
		}
		body += "[ $# = 1 ] && { echo usage >&2; exit 1; }\necho \"args: $*\" >" + name + ".args\nexit " + fmt.Sprint(status) + "\n"
		if err := os.WriteFile(name, []byte(body), 0o755); err != nil {
			t.Fatal(err)
		}
		return name
	}
	for _, c := range []struct {
		takesC bool
		status int
		wantOK bool
	}{
		{takesC: true, status: 0, wantOK: true},
		{takesC: true, status: 1, wantOK: true},
		{takesC: false, status: 1, wantOK: false},
		{takesC: true, status: 255, wantOK: false},
	} {
		name := fake(c.takesC, c.status)
		script := setfilesScript(name, "/fc", []string{"/a b", "/c"})
		err := exec.Command(sh, "-c", script).Run()
		if (err == nil) != c.wantOK {
			t.Errorf("setfiles taking -C %v, status %d: script error %v", c.takesC, c.status, err)
		}
		args, rerr := os.ReadFile(name + ".args")
		if rerr != nil {
			t.Fatal(rerr)
		}
		if !strings.HasPrefix(string(args), "args: -F -e /proc -e /sys -e /dev -q -m") || !strings.HasSuffix(string(args), " /fc /a b /c\n") {
			t.Errorf("setfiles got %q", args)
		}
		if strings.Contains(string(args), "-C") != c.takesC {
			t.Errorf("setfiles taking -C %v got %q", c.takesC, args)
		}
	}
}

// TestSELinuxRelabelSplitsLongLists: created paths beyond one run's bound
// are relabelled by several setfiles runs, each script within
// vfs.MaxScriptSize, together covering every path once.
func TestSELinuxRelabelSplitsLongLists(t *testing.T) {
	g, _ := selinuxCommandGuest(t, nil)
	var files []File
	long := strings.Repeat("'", 200)
	for i := range 3000 {
		files = append(files, File{Path: fmt.Sprintf("/etc/%s%04d", long, i), Content: []byte("x")})
	}
	plan, err := NewPlan(context.Background(), g, Spec{Files: files})
	if err != nil {
		t.Fatal(err)
	}
	defer plan.Close()
	runs, covered := 0, 0
	for _, s := range plan.steps {
		if s.op != opRelabel {
			continue
		}
		runs++
		if len(s.command.Script) > vfs.MaxScriptSize {
			t.Errorf("script of %d bytes", len(s.command.Script))
		}
		covered += strings.Count(string(s.command.Script), `'/etc/'\''`)
	}
	if runs < 2 || covered != len(files) {
		t.Errorf("%d runs covering %d paths, want several covering %d", runs, covered, len(files))
	}
}

// FuzzSELinuxConfig plans a relabel against a guest whose
// /etc/selinux/config is the input: planning never panics, and a relabel
// planned to run now names a file_contexts inside /etc/selinux, under a
// policy directory of one plain name.
func FuzzSELinuxConfig(f *testing.F) {
	f.Add([]byte("SELINUX=enforcing\nSELINUXTYPE=default\n"))
	f.Add([]byte("SELINUX=permissive\nSELINUXTYPE=../default\n"))
	f.Add([]byte("SELINUXTYPE='default'\nSELINUXTYPE=\"..\"\n"))
	f.Add([]byte("SELINUX\nSELINUXTYPE=default/../default"))
	f.Fuzz(func(t *testing.T, config []byte) {
		g, _ := selinuxCommandGuest(t, nil)
		ctx := context.Background()
		if err := g.WriteFile(ctx, selinuxConfig, strings.NewReader(string(config)), vfs.WriteOptions{Policy: vfs.Replace, Perm: 0o644}); err != nil {
			t.Fatal(err)
		}
		plan, err := NewPlan(ctx, g, Spec{SELinux: RelabelAll})
		if err != nil {
			var ie *ItemError
			if !errors.As(err, &ie) {
				t.Fatalf("error %v is not an *ItemError", err)
			}
			return
		}
		defer plan.Close()
		for _, s := range plan.steps {
			if s.op != opRelabel {
				continue
			}
			script := string(s.command.Script)
			if !strings.Contains(script, " '"+policyFileContexts+"' '/'") {
				t.Errorf("relabel with another file_contexts:\n%s", script)
			}
		}
	})
}
