package vfstest

import (
	"context"
	"io/fs"
	"strconv"
	"strings"
	"time"

	"github.com/guestinject/guestinject/vfs"
)

// allOps calls every FS operation on name and returns the errors by
// operation.
func allOps(ctx context.Context, fsys vfs.FS, name string) map[string]error {
	errs := map[string]error{}
	_, errs["stat"] = fsys.Stat(ctx, name)
	_, errs["lstat"] = fsys.Lstat(ctx, name)
	_, errs["readlink"] = fsys.Readlink(ctx, name)
	_, errs["readdir"] = fsys.ReadDir(ctx, name)
	if f, err := fsys.Open(ctx, name); err == nil {
		f.Close()
	} else {
		errs["open"] = err
	}
	errs["mkdirall"] = fsys.MkdirAll(ctx, name, 0o755)
	errs["writefile"] = fsys.WriteFile(ctx, name, strings.NewReader("x"), vfs.WriteOptions{Perm: 0o644, UID: -1, GID: -1})
	errs["chmod"] = fsys.Chmod(ctx, name, 0o777)
	errs["lchown"] = fsys.Lchown(ctx, name, -1, -1)
	errs["remove"] = fsys.Remove(ctx, name)
	return errs
}

var errorCases = []testCase{
	{name: "InvalidPaths", layout: baseLayout, run: func(e *env) {
		for _, name := range []string{"", "etc/passwd", "/etc/", "//etc", "/etc/../root", "/./etc", "/etc/pass\x00wd", "/" + strings.Repeat("a", 256)} {
			for op, err := range allOps(e.ctx, e.fsys, name) {
				e.wantErr(op, name, err, vfs.ErrInvalidPath)
			}
		}
		e.wantNames("/", "dangling", "etc", "root", "run", "var")
		e.wantNames("/etc", "hostname", "passwd", "rel", "resolv.conf")
	}},
	{name: "CancelledContext", layout: baseLayout, run: func(e *env) {
		ctx, cancel := context.WithCancel(e.ctx)
		cancel()
		for _, name := range []string{"/etc/hostname", "/new"} {
			for op, err := range allOps(ctx, e.fsys, name) {
				e.wantErr(op, name, err, context.Canceled)
			}
		}
		e.wantContent("/etc/hostname", "guest\n")
		e.wantMode("/etc/hostname", 0o644)
		e.wantMissing("/new")
	}},
	{name: "Closed", layout: baseLayout, run: func(e *env) {
		e.noErr("close", "", e.fsys.Close())
		for op, err := range allOps(e.ctx, e.fsys, "/etc/hostname") {
			e.wantErr(op, "/etc/hostname", err, vfs.ErrClosed)
		}
	}},
}

// hostileLayout is a guest built to make a careless backend touch the host.
// {{canary}} is the host canary directory; decoys inside the guest sit
// where in-root resolution must land.
const hostileLayout = `
d /etc
f /etc/hostname data="guest\n"
l /etc/evil target={{canary}}/secret
l /etc/evil-dir target={{canary}}/dir
l /etc/climb target=../../../../../../../../../../secret
l /etc/climb-canary target=../../canary/secret
l /home target={{canary}}
l /up target=../../../../../../..
f {{canary}}/secret data="guest decoy\n"
f /canary/secret data="guest decoy 2\n"
f /secret data="guest decoy 3\n"
l /loop1 target=/loop2
l /loop2 target=/loop1
l /self target=self
l /a target=/b
d /b
l /b/c target=/etc/hostname
l /b/d target=../../../../etc
l /proc-like target=/proc/self/root
`

var hostileCases = []testCase{
	{name: "AbsoluteLinkToHostIsInRoot", layout: hostileLayout, run: func(e *env) {
		e.wantContent("/etc/evil", "guest decoy\n")
		e.wantErr("writefile", "/etc/evil", e.write("/etc/evil", "pwned", e.file(0o644)), vfs.ErrIsSymlink)
		e.wantErr("chmod", "/etc/evil", e.fsys.Chmod(e.ctx, "/etc/evil", 0o777), vfs.ErrIsSymlink)
		e.noErr("lchown", "/etc/evil", e.fsys.Lchown(e.ctx, "/etc/evil", -1, -1))
		e.noErr("remove", "/etc/evil", e.fsys.Remove(e.ctx, "/etc/evil"))
		e.wantContent(e.canary+"/secret", "guest decoy\n")
	}},
	{name: "AbsoluteDirLinkToHostIsInRoot", layout: hostileLayout, run: func(e *env) {
		_, err := e.fsys.ReadDir(e.ctx, "/etc/evil-dir")
		e.wantErr("readdir", "/etc/evil-dir", err, fs.ErrNotExist)
		e.wantErr("writefile", "/etc/evil-dir/file", e.write("/etc/evil-dir/file", "pwned", e.file(0o644)), fs.ErrNotExist)
		e.noErr("mkdirall", "/home/alice/.ssh", e.fsys.MkdirAll(e.ctx, "/home/alice/.ssh", 0o700))
		e.noErr("writefile", "/home/alice/.ssh/authorized_keys", e.write("/home/alice/.ssh/authorized_keys", "key\n", e.file(0o600)))
		e.wantContent(e.canary+"/alice/.ssh/authorized_keys", "key\n")
		e.noErr("chmod", "/home/secret", e.fsys.Chmod(e.ctx, "/home/secret", 0o666))
		e.wantMode(e.canary+"/secret", 0o666)
		e.noErr("remove", "/home/secret", e.fsys.Remove(e.ctx, "/home/secret"))
		e.wantMissing(e.canary + "/secret")
	}},
	{name: "DotDotClimbsStopAtRoot", layout: hostileLayout, run: func(e *env) {
		e.wantContent("/etc/climb", "guest decoy 3\n")
		e.wantContent("/etc/climb-canary", "guest decoy 2\n")
		e.wantContent("/up/etc/hostname", "guest\n")
		e.wantContent("/up/up/up/secret", "guest decoy 3\n")
		e.noErr("writefile", "/up/up/secret", e.write("/up/up/secret", "changed\n", e.file(0o644)))
		e.wantContent("/secret", "changed\n")
		e.noErr("mkdirall", "/up/canary/new", e.fsys.MkdirAll(e.ctx, "/up/canary/new", 0o755))
		e.wantMode("/canary/new", fs.ModeDir|0o755)
		e.wantContent("/b/d/hostname", "guest\n")
		e.wantNames("/b/d", "climb", "climb-canary", "evil", "evil-dir", "hostname")
	}},
	{name: "Loops", layout: hostileLayout, run: func(e *env) {
		for _, name := range []string{"/loop1", "/self"} {
			_, err := e.fsys.Stat(e.ctx, name)
			e.wantErr("stat", name, err, vfs.ErrSymlinkLoop)
			_, err = e.fsys.Open(e.ctx, name)
			e.wantErr("open", name, err, vfs.ErrSymlinkLoop)
			_, err = e.fsys.ReadDir(e.ctx, name)
			e.wantErr("readdir", name, err, vfs.ErrSymlinkLoop)
			err = e.write(name+"/x", "x", e.file(0o644))
			e.wantErr("writefile", name+"/x", err, vfs.ErrSymlinkLoop)
			err = e.fsys.MkdirAll(e.ctx, name+"/x", 0o755)
			e.wantErr("mkdirall", name+"/x", err, vfs.ErrSymlinkLoop)
			err = e.write(name, "x", e.file(0o644))
			e.wantErr("writefile", name, err, vfs.ErrIsSymlink)
			if e.lstat(name).Mode().Type() != fs.ModeSymlink {
				e.Errorf("lstat %s: not a symlink", name)
			}
		}
	}},
	{name: "LinkChains", layout: hostileLayout, run: func(e *env) {
		e.wantContent("/a/c", "guest\n")
		e.wantErr("writefile", "/a/c", e.write("/a/c", "x", e.file(0o644)), vfs.ErrIsSymlink)
		e.wantContent("/etc/hostname", "guest\n")
		e.noErr("writefile", "/a/new", e.write("/a/new", "in b\n", e.file(0o644)))
		e.wantContent("/b/new", "in b\n")
	}},
	{name: "MagicLinkStaysInRoot", layout: hostileLayout, run: func(e *env) {
		// /proc inside the guest is an ordinary missing directory.
		_, err := e.fsys.Stat(e.ctx, "/proc-like")
		e.wantErr("stat", "/proc-like", err, fs.ErrNotExist)
		e.wantErr("writefile", "/proc-like/etc/x", e.write("/proc-like/etc/x", "x", e.file(0o644)), fs.ErrNotExist)
	}},
	{name: "DeepLinkChain", layout: chainLayout(30), run: func(e *env) {
		e.wantContent("/l30", "end\n")
	}},
	{name: "FIFONeverOpened", layout: `
p /etc/fifo
l /etc/motd target=/etc/fifo
d /run
`, run: func(e *env) {
		e.within(10*time.Second, "opening a FIFO", func() {
			for _, name := range []string{"/etc/fifo", "/etc/motd"} {
				_, err := e.fsys.Open(e.ctx, name)
				e.wantErr("open", name, err, vfs.ErrNotRegular)
				_, err = vfs.ReadFile(e.ctx, e.fsys, name, 1024)
				e.wantErr("readfile", name, err, vfs.ErrNotRegular)
			}
			for _, policy := range []vfs.WritePolicy{vfs.Replace, vfs.Append} {
				opts := e.file(0o644)
				opts.Policy = policy
				e.wantErr("writefile", "/etc/fifo", e.write("/etc/fifo", "x", opts), vfs.ErrNotRegular)
			}
		})
		if e.lstat("/etc/fifo").Mode().Type() != fs.ModeNamedPipe {
			e.Error("the FIFO was replaced")
		}
		e.noErr("chmod", "/etc/fifo", e.fsys.Chmod(e.ctx, "/etc/fifo", 0o600))
		e.wantMode("/etc/fifo", fs.ModeNamedPipe|0o600)
		e.noErr("remove", "/etc/fifo", e.fsys.Remove(e.ctx, "/etc/fifo"))
	}},
	{name: "DeviceNodesNeverOpened", needs: Caps{DeviceNodes: true}, layout: `
c /dev/zero mode=0666 dev=1:5
c /dev/mem mode=0640 dev=1:1
b /dev/sda mode=0660 dev=8:0
l /etc/hostname target=/dev/zero
`, run: func(e *env) {
		e.within(10*time.Second, "opening a device node", func() {
			for _, name := range []string{"/dev/zero", "/dev/mem", "/dev/sda", "/etc/hostname"} {
				_, err := vfs.ReadFile(e.ctx, e.fsys, name, 1024)
				e.wantErr("readfile", name, err, vfs.ErrNotRegular)
			}
			for _, name := range []string{"/dev/zero", "/dev/mem", "/dev/sda"} {
				e.wantErr("writefile", name, e.write(name, "x", e.file(0o644)), vfs.ErrNotRegular)
			}
		})
		info := e.lstat("/dev/mem")
		a, _ := vfs.AttrOf(info)
		if info.Mode().Type() != fs.ModeDevice|fs.ModeCharDevice || a.Rdev != 1<<8|1 {
			e.Errorf("lstat /dev/mem: mode %v rdev %#x", info.Mode(), a.Rdev)
		}
		if e.lstat("/dev/sda").Mode().Type() != fs.ModeDevice {
			e.Error("lstat /dev/sda: not a block device")
		}
	}},
	{name: "GiantSparseFile", layout: `
f /var/log/huge size=1G data="head"
l /etc/hostname target=/var/log/huge
`, run: func(e *env) {
		info, err := e.fsys.Stat(e.ctx, "/etc/hostname")
		e.noErr("stat", "/etc/hostname", err)
		if info.Size() != 1<<30 {
			e.Errorf("size of /var/log/huge = %d", info.Size())
		}
		_, err = vfs.ReadFile(e.ctx, e.fsys, "/etc/hostname", 1<<20)
		e.wantErr("readfile", "/etc/hostname", err, vfs.ErrTooLarge)
		opts := e.file(0o644)
		opts.Policy, opts.MaxSize = vfs.Append, 1<<20
		e.wantErr("writefile", "/var/log/huge", e.write("/var/log/huge", "more", opts), vfs.ErrTooLarge)
		e.wantNames("/var/log", "huge")
		f, err := e.fsys.Open(e.ctx, "/var/log/huge")
		e.noErr("open", "/var/log/huge", err)
		defer f.Close()
		head := make([]byte, 8)
		if n, _ := f.Read(head); string(head[:n]) != "head\x00\x00\x00\x00" && string(head[:n]) != "head" {
			e.Errorf("start of /var/log/huge = %q", head[:n])
		}
	}},
}

// chainLayout is a chain of n relative and absolute links ending at a file.
func chainLayout(n int) string {
	var b strings.Builder
	b.WriteString("f /l0 data=\"end\\n\"\n")
	for i := 1; i <= n; i++ {
		target := "/l" + strconv.Itoa(i-1)
		if i%2 == 0 {
			target = "l" + strconv.Itoa(i-1)
		}
		b.WriteString("l /l" + strconv.Itoa(i) + " target=" + target + "\n")
	}
	return b.String()
}
