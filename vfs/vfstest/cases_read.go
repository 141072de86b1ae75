package vfstest

import (
	"io"
	"io/fs"
	"strings"

	"github.com/google/go-cmp/cmp"

	"github.com/guestinject/guestinject/vfs"
)

// baseLayout is a small benign guest most cases start from.
const baseLayout = `
d /etc mode=0755
f /etc/hostname mode=0644 data="guest\n"
f /etc/passwd mode=0644 data="root:x:0:0:root:/root:/bin/sh\n"
l /etc/resolv.conf target=/run/resolv.conf
l /etc/rel target=../run/resolv.conf
d /root mode=0700
d /run mode=0755
f /run/resolv.conf mode=0644 data="nameserver 192.0.2.1\n"
l /dangling target=/nonexistent
d /var/empty mode=0755
`

var readCases = []testCase{
	{name: "StatFile", layout: baseLayout, run: func(e *env) {
		info, err := e.fsys.Stat(e.ctx, "/etc/hostname")
		e.noErr("stat", "/etc/hostname", err)
		if info.Name() != "hostname" || info.Size() != 6 || info.Mode() != 0o644 || info.IsDir() {
			e.Errorf("stat /etc/hostname: name %q size %d mode %v", info.Name(), info.Size(), info.Mode())
		}
	}},
	{name: "StatRoot", layout: baseLayout, run: func(e *env) {
		info, err := e.fsys.Stat(e.ctx, "/")
		e.noErr("stat", "/", err)
		if !info.IsDir() {
			e.Errorf("stat /: mode %v, want a directory", info.Mode())
		}
	}},
	{name: "StatFollowsAbsoluteLink", layout: baseLayout, run: func(e *env) {
		info, err := e.fsys.Stat(e.ctx, "/etc/resolv.conf")
		e.noErr("stat", "/etc/resolv.conf", err)
		if !info.Mode().IsRegular() || info.Size() != int64(len("nameserver 192.0.2.1\n")) {
			e.Errorf("stat /etc/resolv.conf: mode %v size %d, want the regular /run/resolv.conf", info.Mode(), info.Size())
		}
	}},
	{name: "LstatLink", layout: baseLayout, run: func(e *env) {
		info := e.lstat("/etc/resolv.conf")
		if info.Mode().Type() != fs.ModeSymlink || info.Name() != "resolv.conf" {
			e.Errorf("lstat /etc/resolv.conf: name %q mode %v, want a symlink", info.Name(), info.Mode())
		}
	}},
	{name: "Readlink", layout: baseLayout, run: func(e *env) {
		e.wantLink("/etc/resolv.conf", "/run/resolv.conf")
		e.wantLink("/etc/rel", "../run/resolv.conf")
		e.wantLink("/dangling", "/nonexistent")
		_, err := e.fsys.Readlink(e.ctx, "/etc/hostname")
		e.wantErr("readlink", "/etc/hostname", err, fs.ErrInvalid)
	}},
	{name: "ReadDir", layout: baseLayout, run: func(e *env) {
		entries, err := e.fsys.ReadDir(e.ctx, "/etc")
		e.noErr("readdir", "/etc", err)
		type ent struct {
			Name string
			Type fs.FileMode
		}
		var got []ent
		for _, d := range entries {
			got = append(got, ent{d.Name(), d.Type()})
			info, err := d.Info()
			e.noErr("info", d.Name(), err)
			if info.Mode().Type() != d.Type() {
				e.Errorf("entry %s: Info mode %v disagrees with Type %v", d.Name(), info.Mode(), d.Type())
			}
		}
		want := []ent{{"hostname", 0}, {"passwd", 0}, {"rel", fs.ModeSymlink}, {"resolv.conf", fs.ModeSymlink}}
		if diff := cmp.Diff(want, got); diff != "" {
			e.Errorf("readdir /etc (-want +got):\n%s", diff)
		}
		e.wantNames("/var/empty")
		e.wantNames("/", "dangling", "etc", "root", "run", "var")
	}},
	{name: "ReadDirNotDir", layout: baseLayout, run: func(e *env) {
		_, err := e.fsys.ReadDir(e.ctx, "/etc/hostname")
		e.wantErr("readdir", "/etc/hostname", err, vfs.ErrNotDir)
	}},
	{name: "OpenRead", layout: baseLayout, run: func(e *env) {
		f, err := e.fsys.Open(e.ctx, "/etc/passwd")
		e.noErr("open", "/etc/passwd", err)
		defer f.Close()
		data, err := io.ReadAll(f)
		e.noErr("read", "/etc/passwd", err)
		if string(data) != "root:x:0:0:root:/root:/bin/sh\n" {
			e.Errorf("content of /etc/passwd = %q", data)
		}
		info, err := f.Stat()
		e.noErr("stat open file", "/etc/passwd", err)
		if info.Size() != int64(len(data)) || !info.Mode().IsRegular() {
			e.Errorf("open file stat: size %d mode %v", info.Size(), info.Mode())
		}
	}},
	{name: "OpenThroughLinks", layout: baseLayout, run: func(e *env) {
		e.wantContent("/etc/resolv.conf", "nameserver 192.0.2.1\n")
		e.wantContent("/etc/rel", "nameserver 192.0.2.1\n")
	}},
	{name: "OpenMissing", layout: baseLayout, run: func(e *env) {
		_, err := e.fsys.Open(e.ctx, "/etc/nothing")
		e.wantErr("open", "/etc/nothing", err, fs.ErrNotExist)
		_, err = e.fsys.Open(e.ctx, "/dangling")
		e.wantErr("open", "/dangling", err, fs.ErrNotExist)
		_, err = e.fsys.Stat(e.ctx, "/dangling")
		e.wantErr("stat", "/dangling", err, fs.ErrNotExist)
	}},
	{name: "OpenDirectory", layout: baseLayout, run: func(e *env) {
		_, err := e.fsys.Open(e.ctx, "/etc")
		e.wantErr("open", "/etc", err, vfs.ErrNotRegular)
	}},
	{name: "FileAsDirectory", layout: baseLayout, run: func(e *env) {
		_, err := e.fsys.Stat(e.ctx, "/etc/hostname/x")
		e.wantErr("stat", "/etc/hostname/x", err, vfs.ErrNotDir)
		err = e.write("/etc/hostname/x", "x", e.file(0o644))
		e.wantErr("writefile", "/etc/hostname/x", err, vfs.ErrNotDir)
		err = e.fsys.MkdirAll(e.ctx, "/etc/hostname/x", 0o755)
		e.wantErr("mkdirall", "/etc/hostname/x", err, vfs.ErrNotDir)
	}},
	{name: "ModesAndSpecialBits", layout: `
f /bin/su mode=4755
f /usr/bin/wall mode=2755
d /tmp mode=1777
f /etc/shadow mode=0000
`, run: func(e *env) {
		e.wantMode("/bin/su", fs.ModeSetuid|0o755)
		e.wantMode("/usr/bin/wall", fs.ModeSetgid|0o755)
		e.wantMode("/tmp", fs.ModeDir|fs.ModeSticky|0o777)
		e.wantMode("/etc/shadow", 0)
	}},
	{name: "Owners", needs: Caps{Owners: true}, layout: `
d /home/alice mode=0700 owner=1000:1000
f /home/alice/.profile owner=1000:100
l /home/alice/link target=.profile owner=1000:1000
f /etc/shadow mode=0640 owner=0:42
`, run: func(e *env) {
		e.wantOwner("/home/alice", 1000, 1000)
		e.wantOwner("/home/alice/.profile", 1000, 100)
		e.wantOwner("/home/alice/link", 1000, 1000)
		e.wantOwner("/etc/shadow", 0, 42)
	}},
	{name: "IOFS", layout: baseLayout, run: func(e *env) {
		fsys := vfs.IOFS(e.ctx, e.fsys)
		data, err := fs.ReadFile(fsys, "etc/resolv.conf")
		e.noErr("io/fs readfile", "etc/resolv.conf", err)
		if string(data) != "nameserver 192.0.2.1\n" {
			e.Errorf("io/fs readfile: %q", data)
		}
		var walked []string
		err = fs.WalkDir(fsys, ".", func(p string, d fs.DirEntry, err error) error {
			walked = append(walked, p)
			return err
		})
		e.noErr("io/fs walk", ".", err)
		want := "., dangling, etc, etc/hostname, etc/passwd, etc/rel, etc/resolv.conf, root, run, run/resolv.conf, var, var/empty"
		if got := strings.Join(walked, ", "); got != want {
			e.Errorf("io/fs walk: %s\nwant %s", got, want)
		}
	}},
}
