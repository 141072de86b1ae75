package main

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/guestinject/guestinject/inject"
	"github.com/guestinject/guestinject/vfs"
	"github.com/guestinject/guestinject/vfs/memfs"
)

// injectSpec parses inject's arguments and builds the Spec, as runInject
// does before it opens the image.
func injectSpec(t *testing.T, stdin string, args ...string) (inject.Spec, error) {
	t.Helper()
	var a injectArgs
	if _, err := parseArgs(newInjectFlags(&a), append([]string{"img", "--format", "raw"}, args...), &bytes.Buffer{}); err != nil {
		return inject.Spec{}, err
	}
	spec, opened, err := a.buildSpec(strings.NewReader(stdin))
	closeAll(opened)
	return spec, err
}

// Every file operation lands in Spec.Operations in command-line order,
// across different options and across a commands file, and first-boot
// scripts and commands keep their order too.
func TestCustomizeFlagsKeepTheOrder(t *testing.T) {
	dir := t.TempDir()
	key := writeFile(t, dir, "id.pub", testKey+"\n")
	pw := writeFile(t, dir, "pw", "s3cret-enough\n")
	script := writeFile(t, dir, "setup.sh", "echo setup\n")
	conf := writeFile(t, dir, "app.conf", "listen = 8080\n")
	if err := os.Chmod(conf, 0o640); err != nil {
		t.Fatal(err)
	}
	cmds := writeFile(t, dir, "cmds", "# from a file\ntouch /opt/app/ready\n\nwrite /etc/motd:a \\\nlong line\n")

	spec, err := injectSpec(t, "",
		"--firstboot-command", "echo one",
		"--delete", "/var/cache/old",
		"--hostname", "web-1",
		"--mkdir", "/opt/app",
		"--root-password", "file:"+pw,
		"--upload", conf+":/opt/app/",
		"--firstboot", script,
		"--commands-from-file", cmds,
		"--chmod", "0600:/opt/app/app.conf",
		"--ssh-inject", "root:file:"+key,
		"--link", "/opt/app:/srv/app:/srv/app2",
		"--chown", "1000:debian:/opt/app",
		"--append-line", "/etc/hosts:192.0.2.5 db:5432",
		"--move", "/etc/a:/etc/b",
		"--truncate", "/var/log/x",
		"--edit", "/etc/ssh/sshd_config:s/^#?(PermitRootLogin) .*/$1 no/g",
		"--password", "debian:locked:file:"+pw,
		"--password", "daemon:"+pw,
		"--ssh-inject", "debian:string:"+testKey,
		"--firstboot-command", "echo two",
	)
	if err != nil {
		t.Fatal(err)
	}
	want := []inject.Operation{
		{Delete: &inject.Delete{Path: "/var/cache/old", Recursive: true}},
		{Mkdir: &inject.Mkdir{Path: "/opt/app"}},
		{Write: &inject.Write{Path: "/opt/app/app.conf", Content: []byte("listen = 8080\n")}},
		{Chmod: &inject.Chmod{Path: "/opt/app/app.conf", Mode: 0o640}},
		{Touch: &inject.Touch{Path: "/opt/app/ready"}},
		{Write: &inject.Write{Path: "/etc/motd", Content: []byte("a long line")}},
		{Chmod: &inject.Chmod{Path: "/opt/app/app.conf", Mode: 0o600}},
		{Symlink: &inject.Symlink{Path: "/srv/app", Target: "/opt/app"}},
		{Symlink: &inject.Symlink{Path: "/srv/app2", Target: "/opt/app"}},
		{Chown: &inject.Chown{Path: "/opt/app", UID: 1000, Group: "debian"}},
		{AppendLine: &inject.AppendLine{Path: "/etc/hosts", Line: "192.0.2.5 db:5432"}},
		{Move: &inject.Move{From: "/etc/a", To: "/etc/b"}},
		{Truncate: &inject.Truncate{Path: "/var/log/x"}},
		{Edit: &inject.Edit{Path: "/etc/ssh/sshd_config", Pattern: `^#?(PermitRootLogin) .*`, Replacement: "${1} no", All: true, Lines: true}},
	}
	if diff := cmp.Diff(want, spec.Operations); diff != "" {
		t.Errorf("operations (-want +got):\n%s", diff)
	}
	wantBoot := []inject.Command{
		{Name: "01-command", Script: "echo one"},
		{Name: "02-setup.sh", Script: "echo setup\n"},
		{Name: "03-command", Script: "echo two"},
	}
	if diff := cmp.Diff(wantBoot, spec.FirstBoot); diff != "" {
		t.Errorf("first boot (-want +got):\n%s", diff)
	}
	wantPW := []inject.Password{
		{User: "root", Plaintext: "s3cret-enough"},
		{User: "debian", Plaintext: "s3cret-enough", Lock: inject.Lock},
		{User: "daemon", Plaintext: "s3cret-enough"},
	}
	if diff := cmp.Diff(wantPW, spec.Passwords); diff != "" {
		t.Errorf("passwords (-want +got):\n%s", diff)
	}
	wantKeys := []inject.SSHKeys{{User: "root", Keys: []string{testKey}}, {User: "debian", Keys: []string{testKey}}}
	if diff := cmp.Diff(wantKeys, spec.SSHKeys); diff != "" {
		t.Errorf("SSH keys (-want +got):\n%s", diff)
	}
	if spec.Hostname != "web-1" {
		t.Errorf("hostname %q", spec.Hostname)
	}
}

// Today's options keep their meaning, and mix with the new ones in one
// order.
func TestCustomizeSpecKeepsTodaysOptions(t *testing.T) {
	dir := t.TempDir()
	key := writeFile(t, dir, "id.pub", "# a comment\n\n"+testKey+"\n")
	src := writeFile(t, dir, "motd", "hello\n")
	spec, err := injectSpec(t, "from stdin\n",
		"--ssh-key", "root:"+key, "--password", "root:-", "--meta", "a=b", "--meta", "c=d",
		"--file", src+":/etc/motd:0600", "--hostname", "h1", "--hostname", "h2", "--mkdir", "/x")
	if err != nil {
		t.Fatal(err)
	}
	if len(spec.SSHKeys) != 1 || spec.SSHKeys[0].User != "root" || len(spec.SSHKeys[0].Keys) != 1 ||
		len(spec.Passwords) != 1 || spec.Passwords[0].Plaintext != "from stdin" ||
		len(spec.Files) != 1 || spec.Files[0].Path != "/etc/motd" || spec.Files[0].Mode != 0o600 ||
		spec.Hostname != "h2" || len(spec.Metadata) != 2 || len(spec.Operations) != 1 {
		t.Errorf("spec %+v", spec)
	}
}

// Refusals are usage errors (exit status 2) with a message that says
// what to write instead; a password given on the command line is not
// repeated in the message.
func TestCustomizeRefusals(t *testing.T) {
	dir := t.TempDir()
	img := filepath.Join(dir, "img")
	if err := os.WriteFile(img, make([]byte, 1<<20), 0o644); err != nil {
		t.Fatal(err)
	}
	cmds := func(content string) string { return writeFile(t, t.TempDir(), "cmds", content) }
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--root-password", "password:hunter2hunter2"}, "never taken from the command line"},
		{[]string{"--password", "root:password:hunter2hunter2"}, "never taken from the command line"},
		{[]string{"--password", "root:locked:password:hunter2hunter2"}, "never taken from the command line"},
		{[]string{"--root-password", "random"}, "random passwords are not supported"},
		{[]string{"--password", "root:random"}, "random passwords are not supported"},
		{[]string{"--root-password", "disabled"}, "disabled is not supported"},
		{[]string{"--root-password", "locked:nothing"}, "after locked: want file:FILE"},
		{[]string{"--root-password", "file:"}, "names no file"},
		{[]string{"--ssh-inject", "root"}, "host user's default key"},
		{[]string{"--ssh-inject", "root:id.pub"}, "USER:file:FILE"},
		{[]string{"--chmod", "755:/etc/motd"}, "leading 0"},
		{[]string{"--chmod", "0999:/etc/motd"}, "invalid mode"},
		{[]string{"--chmod", "0644"}, "PERMS:FILE"},
		{[]string{"--chown", "0:0"}, "UID:GID:PATH"},
		{[]string{"--delete", "etc/motd"}, "absolute"},
		{[]string{"--delete", "/"}, "must not be /"},
		{[]string{"--mkdir", "/a/../b"}, "clean"},
		{[]string{"--link", "/target"}, "TARGET:LINK"},
		{[]string{"--move", "/a"}, "SRC:DEST"},
		{[]string{"--upload", "nofile"}, "FILE:DEST"},
		{[]string{"--write", "/etc/motd"}, "FILE:CONTENT"},
		{[]string{"--append-line", "relative:x"}, "absolute"},
		{[]string{"--firstboot-command", " "}, "empty command"},
		{[]string{"--edit", "/etc/motd:s/a(?=b)/x/"}, "lookahead and lookbehind are not supported"},
		{[]string{"--edit", "/etc/motd:s/a/b/e"}, "the e flag"},
		{[]string{"--edit", "/etc/motd"}, "FILE:EXPR"},
		{[]string{"--edit", "etc/motd:s/a/b/"}, "absolute"},
		{[]string{"--commands-from-file", cmds("edit /etc/motd:s/(a)\\1/x/\n")}, "cmds:1: edit"},
		{[]string{"--copy-in", "dir"}, "LOCALPATH:REMOTEDIR"},
		{[]string{"--copy-in", "dir:opt"}, "absolute"},
		{[]string{"--tar-in", "-:/opt"}, "name a host file"},
		{[]string{"--tar-in", "a.tar:"}, "TARFILE:REMOTEDIR"},
		{[]string{"--timezone", "Europe/ Berlin"}, "not a time zone name"},
		{[]string{"--copy", "/a:/b"}, "--copy (virt-customize's) is not supported"},
		{[]string{"--run-command", " "}, "empty command"},
		{[]string{"--install", " , "}, "no packages"},
		{[]string{"--uninstall", ""}, "no packages"},
		{[]string{"--install", "thepkg", "--package-mirror", "https://deb.debian.org/debian"}, "want http://host"},
		{[]string{"--install", "thepkg", "--package-mirror", "http://deb.debian.org/debian", "--backend", "mount", "--trusted"}, "--backend mount cannot have it"},
		{[]string{"--install", "thepkg", "--package-mirror", "http://deb.debian.org/debian", "--backend", "libvirt"}, "--backend libvirt cannot have it"},
		{[]string{"--commands-from-file", "-"}, "name a file"},
		{[]string{"--commands-from-file", cmds("mkdir /a\n\nfrobnicate /x\n")}, "cmds:3: unknown option \"frobnicate\""},
		{[]string{"--commands-from-file", cmds("# c\ncopy a:/b\n")}, "cmds:2: copy is not supported"},
		{[]string{"--commands-from-file", cmds("mkdir /a\nchmod 644:/a\n")}, "cmds:2: chmod"},
		{[]string{"--commands-from-file", cmds("commands-from-file other\n")}, "cannot be nested"},
		{[]string{"--commands-from-file", cmds("format raw\n")}, "cmds:1: unknown option \"format\""},
		{[]string{"--commands-from-file", cmds("touch\n")}, "cmds:1: touch needs an argument"},
		{[]string{"--commands-from-file", cmds("write /a:b\\")}, "continuation"},
		{[]string{"--commands-from-file", cmds("root-password password:hunter2hunter2\n")}, "never taken from the command line"},
	} {
		var out, errOut bytes.Buffer
		args := append([]string{"inject", img, "--format", "raw", "--dry-run"}, tc.args...)
		code := run(context.Background(), args, stdio{in: strings.NewReader(""), out: &out, err: &errOut})
		if code != exitUsage || !strings.Contains(errOut.String(), tc.want) {
			t.Errorf("%q: exit %d, want %d with %q\nstderr: %s", tc.args, code, exitUsage, tc.want, errOut.String())
		}
		if strings.Contains(errOut.String(), "hunter2hunter2") {
			t.Errorf("%q: the message repeats the password: %s", tc.args, errOut.String())
		}
	}
}

// A FILE that looks like a selector is reached with ./; USER:FILE stays.
func TestPasswordSelectorForms(t *testing.T) {
	for in, want := range map[string]struct {
		user, file string
		lock       bool
	}{
		"root:pw.txt":              {"root", "pw.txt", false},
		"root:-":                   {"root", "-", false},
		"root:file:pw.txt":         {"root", "pw.txt", false},
		"root:file:-":              {"root", "-", false},
		"root:locked:file:pw":      {"root", "pw", true},
		"root:./random":            {"root", "./random", false},
		"root:./password:x":        {"root", "./password:x", false},
		"root:dir:with:colons/pw":  {"root", "dir:with:colons/pw", false},
		"alice:file:file:name.txt": {"alice", "file:name.txt", false},
	} {
		user, file, lock, err := parsePasswordArg(in)
		if err != nil || user != want.user || file != want.file || lock != want.lock {
			t.Errorf("parsePasswordArg(%q) = %q, %q, %v, %v; want %+v", in, user, file, lock, err, want)
		}
	}
}

func TestParseCommandsFile(t *testing.T) {
	data := "# virt-customize commands\n" +
		"\n" +
		"   # indented comment\n" +
		"mkdir /opt/app\r\n" +
		"write /etc/motd:hello  world  \n" +
		"--delete /var/tmp/x\n" +
		"append-line\t/etc/hosts:a \\\n" +
		"b\\\n" +
		" c\n" +
		"  chmod 0644:/etc/motd\n" +
		"firstboot-command echo '# not a comment'\n"
	got, err := parseCommandsFile("f", []byte(data))
	if err != nil {
		t.Fatal(err)
	}
	want := []custOpt{
		{name: "mkdir", value: "/opt/app", where: "f:4"},
		{name: "write", value: "/etc/motd:hello  world  ", where: "f:5"},
		{name: "delete", value: "/var/tmp/x", where: "f:6"},
		{name: "append-line", value: "/etc/hosts:a b c", where: "f:7"},
		{name: "chmod", value: "0644:/etc/motd", where: "f:10"},
		{name: "firstboot-command", value: "echo '# not a comment'", where: "f:11"},
	}
	if diff := cmp.Diff(want, got, cmp.AllowUnexported(custOpt{})); diff != "" {
		t.Errorf("parseCommandsFile (-want +got):\n%s", diff)
	}
	if got, err := parseCommandsFile("f", []byte("\n# only comments\n\n")); err != nil || len(got) != 0 {
		t.Errorf("comments only: %v, %v", got, err)
	}
}

// FuzzCommandsFile checks that any file either parses into options that
// pass their own syntax check, in line order, or is refused with a line
// number.
func FuzzCommandsFile(f *testing.F) {
	for _, s := range []string{
		"mkdir /a\n", "write /a:b\\\nc\n", "# x\n\n", "chmod 0755:/a\r\n", "link /t:/a:/b\n",
		"root-password password:x\n", "frob x\n", "touch\n", "a\\", "upload a:/b/\n", "\x00", "chown 0:0:/a\n",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		opts, err := parseCommandsFile("f", data)
		if err != nil {
			if !strings.HasPrefix(err.Error(), "f:") {
				t.Fatalf("error without a line number: %v", err)
			}
			return
		}
		last := 0
		for _, o := range opts {
			if err := checkCustOpt(o); err != nil {
				t.Fatalf("%+v passed the parser but not its check: %v", o, err)
			}
			if o.name == "commands-from-file" {
				t.Fatalf("nested commands file accepted: %+v", o)
			}
			n, err := strconv.Atoi(strings.TrimPrefix(o.where, "f:"))
			if err != nil || n <= last {
				t.Fatalf("where %q after line %d", o.where, last)
			}
			last = n
		}
	})
}

// memSession is a memfs guest standing in for an image in tests.
type memSession struct{ *memfs.FS }

func (memSession) Commit(context.Context) error { return nil }

// --dry-run prints the plan with the file operations in command-line
// order, against an in-memory guest.
func TestDryRunPrintsOperationsInOrder(t *testing.T) {
	m := memfs.New()
	ctx := context.Background()
	for _, d := range []string{"/etc", "/var", "/var/cache", "/var/cache/old", "/root"} {
		if err := m.Add(memfs.Node{Path: d, Mode: fs.ModeDir | 0o755}); err != nil {
			t.Fatal(err)
		}
	}
	for p, c := range map[string]string{
		"/etc/passwd": "root:x:0:0:root:/root:/bin/sh\n", "/etc/group": "root:x:0:\n",
		"/etc/hosts": "127.0.0.1 localhost\n", "/var/cache/old/a": "x", "/etc/old": "o",
	} {
		if err := m.Add(memfs.Node{Path: p, Mode: 0o644, Data: []byte(c)}); err != nil {
			t.Fatal(err)
		}
	}
	saved := openSession
	openSession = func(context.Context, backendArgs, target, *slog.Logger) (vfs.Session, error) {
		return memSession{m}, nil
	}
	t.Cleanup(func() { openSession = saved })

	dir := t.TempDir()
	conf := writeFile(t, dir, "app.conf", "x=1\n")
	if err := os.Chmod(conf, 0o640); err != nil {
		t.Fatal(err)
	}
	cmds := writeFile(t, dir, "cmds", "touch /opt/app/ready\nlink /opt/app:/srv\n")
	var out, errOut bytes.Buffer
	code := run(ctx, []string{"inject", "guest.img", "--format", "raw", "--dry-run", "--quiet",
		"--hostname", "web-1",
		"--mkdir", "/opt/app",
		"--upload", conf + ":/opt/app/",
		"--commands-from-file", cmds,
		"--delete", "/var/cache/old",
		"--append-line", "/etc/hosts:192.0.2.5 db",
		"--move", "/etc/old:/etc/older",
		"--chmod", "0600:/opt/app/app.conf",
	}, stdio{in: strings.NewReader(""), out: &out, err: &errOut})
	if code != exitOK {
		t.Fatalf("exit %d\n%s%s", code, out.String(), errOut.String())
	}
	var lines []string
	for l := range strings.Lines(out.String()) {
		if strings.Contains(l, "[operations[") {
			f := strings.Fields(l)
			lines = append(lines, f[0]+" "+f[1]+" "+f[len(f)-2]+" "+f[len(f)-1])
		}
	}
	want := []string{
		"mkdir /opt [operations[0] (mkdir)]",
		"mkdir /opt/app [operations[0] (mkdir)]",
		"create /opt/app/app.conf [operations[1] (write)]",
		"chmod /opt/app/app.conf [operations[2] (chmod)]",
		"create /opt/app/ready [operations[3] (touch)]",
		"set-times /opt/app/ready [operations[3] (touch)]",
		"symlink /srv [operations[4] (symlink)]",
		"delete /var/cache/old/a [operations[5] (delete)]",
		"delete /var/cache/old [operations[5] (delete)]",
		"append /etc/hosts [operations[6] (append-line)]",
		"move /etc/old [operations[7] (move)]",
		"chmod /opt/app/app.conf [operations[8] (chmod)]",
	}
	if diff := cmp.Diff(want, lines); diff != "" {
		t.Errorf("plan (-want +got):\n%s\n%s", diff, out.String())
	}
	// The host name, given first, is planned after the operations.
	if i, j := strings.Index(out.String(), "[hostname]"), strings.Index(out.String(), "[operations[8]"); i < j {
		t.Errorf("hostname planned before the operations:\n%s", out.String())
	}
	if info, err := m.Stat(ctx, "/opt"); err == nil {
		t.Errorf("--dry-run created /opt: %v", info.Mode())
	}
}

// --copy-in, --tar-in, --edit and --timezone, on the command line and in
// a commands file, run in the order given against an in-memory guest, as
// virt-customize would: host owners and times kept, files replaced.
func TestCustomizeCopyInTarInEdit(t *testing.T) {
	m := memfs.New()
	ctx := context.Background()
	for _, d := range []string{"/etc", "/root", "/srv", "/srv/app", "/usr", "/usr/share", "/usr/share/zoneinfo", "/usr/share/zoneinfo/Europe"} {
		if err := m.Add(memfs.Node{Path: d, Mode: fs.ModeDir | 0o755}); err != nil {
			t.Fatal(err)
		}
	}
	for p, c := range map[string]string{
		"/etc/passwd": "root:x:0:0:root:/root:/bin/sh\n", "/etc/group": "root:x:0:\n",
		"/etc/os-release": "ID=debian\n", "/usr/share/zoneinfo/Europe/Berlin": "TZif2",
		"/srv/app/old": "guest",
	} {
		if err := m.Add(memfs.Node{Path: p, Mode: 0o644, Data: []byte(c)}); err != nil {
			t.Fatal(err)
		}
	}
	saved := openSession
	openSession = func(context.Context, backendArgs, target, *slog.Logger) (vfs.Session, error) {
		return openMemSession{memSession{m}}, nil
	}
	t.Cleanup(func() { openSession = saved })

	dir := t.TempDir()
	app := filepath.Join(dir, "app")
	if err := os.MkdirAll(filepath.Join(app, "conf.d"), 0o750); err != nil {
		t.Fatal(err)
	}
	conf := writeFile(t, filepath.Join(app, "conf.d"), "app.conf", "#Listen 80\n")
	if err := os.Chown(conf, 1000, 1000); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("/etc/app", filepath.Join(app, "etc")); err != nil {
		t.Fatal(err)
	}
	mtime := time.Date(2021, 6, 7, 8, 9, 10, 0, time.UTC)
	if err := os.Chtimes(conf, mtime, mtime); err != nil {
		t.Fatal(err)
	}
	var tarball bytes.Buffer
	zw := gzip.NewWriter(&tarball)
	tw := tar.NewWriter(zw)
	for name, data := range map[string]string{"app/old": "from tar", "app/new": "new"} {
		tw.WriteHeader(&tar.Header{Name: name, Mode: 0o600, Size: int64(len(data)), Uid: 7, Gid: 8, ModTime: mtime})
		tw.Write([]byte(data))
	}
	tw.Close()
	zw.Close()
	tgz := writeFile(t, dir, "srv.tar.gz", tarball.String())
	cmds := writeFile(t, dir, "cmds", "tar-in "+tgz+":/srv\nedit /srv/app/new:s{new}{newer}\n")

	var out, errOut bytes.Buffer
	code := run(ctx, []string{"inject", "guest.img", "--format", "raw", "--quiet",
		"--copy-in", app + ":/root",
		"--edit", "/root/app/conf.d/app.conf:s/^#(Listen) (\\d+)/$1 [::]:$2/",
		"--commands-from-file", cmds,
		"--timezone", "Europe/Berlin",
	}, stdio{in: strings.NewReader(""), out: &out, err: &errOut})
	if code != exitOK {
		t.Fatalf("exit %d\n%s%s", code, out.String(), errOut.String())
	}
	for name, want := range map[string]string{
		"/root/app/conf.d/app.conf": "Listen [::]:80\n",
		"/srv/app/old":              "from tar",
		"/srv/app/new":              "newer",
	} {
		data, err := vfs.ReadFile(ctx, m, name, 1<<20)
		if err != nil || string(data) != want {
			t.Errorf("%s = %q, %v; want %q", name, data, err, want)
		}
	}
	for name, want := range map[string]struct {
		mode     fs.FileMode
		uid, gid int
		mtime    time.Time
	}{
		"/root/app/conf.d/app.conf": {0o600, 1000, 1000, time.Time{}},
		"/root/app/conf.d":          {fs.ModeDir | 0o750, 0, 0, time.Time{}},
		"/srv/app/old":              {0o600, 7, 8, mtime},
		"/srv/app/new":              {0o600, 7, 8, time.Time{}},
	} {
		info, err := m.Lstat(ctx, name)
		if err != nil {
			t.Fatal(err)
		}
		a, _ := vfs.AttrOf(info)
		if info.Mode() != want.mode || a.UID != want.uid || a.GID != want.gid || (!want.mtime.IsZero() && !info.ModTime().Equal(want.mtime)) {
			t.Errorf("%s: %v %d:%d %v; want %+v", name, info.Mode(), a.UID, a.GID, info.ModTime(), want)
		}
	}
	if target, err := m.Readlink(ctx, "/root/app/etc"); err != nil || target != "/etc/app" {
		t.Errorf("/root/app/etc -> %q, %v", target, err)
	}
	if target, err := m.Readlink(ctx, "/etc/localtime"); err != nil || !strings.HasSuffix(target, "zoneinfo/Europe/Berlin") {
		t.Errorf("/etc/localtime -> %q, %v", target, err)
	}
	// The copy-in comes first, the edit of its file second, the tar-in of
	// the commands file third.
	order := []string{}
	for l := range strings.Lines(out.String()) {
		if i := strings.Index(l, "[operations["); i >= 0 && !strings.Contains(l, "set-times") {
			if item := l[i:]; len(order) == 0 || order[len(order)-1] != item {
				order = append(order, item)
			}
		}
	}
	want := []string{"[operations[0] (copy-in)]\n", "[operations[1] (edit)]\n", "[operations[2] (tar-in)]\n", "[operations[3] (edit)]\n"}
	if d := cmp.Diff(want, order); d != "" {
		t.Errorf("report order (-want +got):\n%s\n%s", d, out.String())
	}
}

// openMemSession is a memSession that stays open after the command, for
// reading the guest back.
type openMemSession struct{ memSession }

func (openMemSession) Close() error { return nil }
