package vfstest

import (
	"context"
	"errors"
	"io/fs"
	"strings"

	"github.com/google/go-cmp/cmp"

	"github.com/guestinject/guestinject/vfs"
)

var errReader = errors.New("reader broke")

var writeCases = []testCase{
	{name: "CreateFile", layout: baseLayout, run: func(e *env) {
		e.noErr("writefile", "/etc/motd", e.write("/etc/motd", "hello\n", e.file(0o640)))
		e.wantContent("/etc/motd", "hello\n")
		e.wantMode("/etc/motd", 0o640)
		e.wantNames("/etc", "hostname", "motd", "passwd", "rel", "resolv.conf")
	}},
	{name: "CreateEmptyAndSpecialModes", layout: baseLayout, run: func(e *env) {
		e.noErr("writefile", "/etc/empty", e.write("/etc/empty", "", e.file(0)))
		// Mode 0 keeps a non-root owner out too: check with Lstat only.
		if info := e.lstat("/etc/empty"); info.Size() != 0 || info.Mode() != 0 {
			e.Errorf("/etc/empty: size %d mode %v, want 0 and 0", info.Size(), info.Mode())
		}
		e.noErr("writefile", "/etc/suid", e.write("/etc/suid", "#!/bin/sh\n", e.file(fs.ModeSetuid|fs.ModeSetgid|0o755)))
		e.wantMode("/etc/suid", fs.ModeSetuid|fs.ModeSetgid|0o755)
	}},
	{name: "CreateOwned", needs: Caps{Owners: true}, layout: baseLayout, run: func(e *env) {
		opts := vfs.WriteOptions{Perm: fs.ModeSetgid | 0o750, UID: 1000, GID: 1001}
		e.noErr("writefile", "/root/owned", e.write("/root/owned", "x", opts))
		e.wantOwner("/root/owned", 1000, 1001)
		// chown clears set-id bits: the mode must be applied after it.
		e.wantMode("/root/owned", fs.ModeSetgid|0o750)
	}},
	{name: "ReplaceTakesNewMode", layout: `f /etc/hostname mode=4755 data="old\n"`, run: func(e *env) {
		e.noErr("writefile", "/etc/hostname", e.write("/etc/hostname", "new\n", e.file(0o644)))
		e.wantContent("/etc/hostname", "new\n")
		e.wantMode("/etc/hostname", 0o644)
		e.wantNames("/etc", "hostname")
	}},
	{name: "ReplaceInherit", needs: Caps{Owners: true}, layout: `f /etc/shadow mode=0640 owner=0:42 data="old\n"`, run: func(e *env) {
		opts := vfs.WriteOptions{Perm: 0o777, UID: 7, GID: 7, Inherit: true}
		e.noErr("writefile", "/etc/shadow", e.write("/etc/shadow", "new\n", opts))
		e.wantContent("/etc/shadow", "new\n")
		e.wantMode("/etc/shadow", 0o640)
		e.wantOwner("/etc/shadow", 0, 42)
	}},
	{name: "InheritOnNewFileUsesPerm", layout: baseLayout, run: func(e *env) {
		opts := e.file(0o600)
		opts.Inherit = true
		e.noErr("writefile", "/etc/new", e.write("/etc/new", "x", opts))
		e.wantMode("/etc/new", 0o600)
	}},
	{name: "InheritXattrs", needs: Caps{Xattrs: true}, layout: `f /etc/shadow mode=0640 data="old\n" xattr.user.label="system_u:object_r:shadow_t:s0"`, run: func(e *env) {
		opts := e.file(0o644)
		opts.Inherit = true
		e.noErr("writefile", "/etc/shadow", e.write("/etc/shadow", "new\n", opts))
		v, err := vfs.Lgetxattr(e.ctx, e.fsys, "/etc/shadow", "user.label")
		e.noErr("lgetxattr", "/etc/shadow", err)
		if string(v) != "system_u:object_r:shadow_t:s0" {
			e.Errorf("label after inheriting replace = %q", v)
		}
		e.wantMode("/etc/shadow", 0o640)
	}},
	{name: "Append", layout: `f /root/.ssh/authorized_keys mode=0600 data="ssh-ed25519 AAAA one\n"`, run: func(e *env) {
		opts := e.file(0o644)
		opts.Policy, opts.Inherit = vfs.Append, true
		e.noErr("writefile", "/root/.ssh/authorized_keys", e.write("/root/.ssh/authorized_keys", "ssh-ed25519 BBBB two\n", opts))
		e.wantContent("/root/.ssh/authorized_keys", "ssh-ed25519 AAAA one\nssh-ed25519 BBBB two\n")
		e.wantMode("/root/.ssh/authorized_keys", 0o600)
		e.wantNames("/root/.ssh", "authorized_keys")
	}},
	{name: "AppendCreates", layout: baseLayout, run: func(e *env) {
		opts := e.file(0o600)
		opts.Policy = vfs.Append
		e.noErr("writefile", "/root/new", e.write("/root/new", "x\n", opts))
		e.wantContent("/root/new", "x\n")
		e.wantMode("/root/new", 0o600)
	}},
	{name: "ExclusiveCreates", layout: baseLayout, run: func(e *env) {
		opts := e.file(0o600)
		opts.Policy = vfs.Exclusive
		e.noErr("writefile", "/etc/fresh", e.write("/etc/fresh", "x", opts))
		e.wantContent("/etc/fresh", "x")
	}},
	{name: "ExclusiveRefusesExisting", layout: baseLayout, run: func(e *env) {
		opts := e.file(0o600)
		opts.Policy = vfs.Exclusive
		e.wantErr("writefile", "/etc/hostname", e.write("/etc/hostname", "x", opts), fs.ErrExist)
		e.wantContent("/etc/hostname", "guest\n")
		e.wantMode("/etc/hostname", 0o644)
		e.wantErr("writefile", "/dangling", e.write("/dangling", "x", opts), fs.ErrExist)
		e.wantLink("/dangling", "/nonexistent")
		e.wantMissing("/nonexistent")
		e.wantErr("writefile", "/etc", e.write("/etc", "x", opts), fs.ErrExist)
		e.wantNames("/etc", "hostname", "passwd", "rel", "resolv.conf")
	}},
	{name: "MaxSize", layout: baseLayout, run: func(e *env) {
		for _, policy := range []vfs.WritePolicy{vfs.Replace, vfs.Append, vfs.Exclusive} {
			opts := e.file(0o644)
			opts.Policy, opts.MaxSize = policy, 10
			if policy != vfs.Exclusive { // which refusal wins for an existing name is the backend's choice
				e.wantErr("writefile "+policy.String(), "/etc/hostname", e.write("/etc/hostname", strings.Repeat("x", 11), opts), vfs.ErrTooLarge)
			}
			e.wantErr("writefile "+policy.String(), "/etc/new", e.write("/etc/new", strings.Repeat("x", 11), opts), vfs.ErrTooLarge)
		}
		opts := e.file(0o644)
		opts.Policy, opts.MaxSize = vfs.Append, 10
		// The appended result counts, not only the new bytes.
		e.wantErr("writefile append", "/etc/hostname", e.write("/etc/hostname", "12345", opts), vfs.ErrTooLarge)
		opts.Policy = vfs.Replace
		e.noErr("writefile", "/etc/hostname", e.write("/etc/hostname", "1234567890", opts))
		e.wantContent("/etc/hostname", "1234567890")
		e.wantNames("/etc", "hostname", "passwd", "rel", "resolv.conf")
	}},
	{name: "FailingReaderChangesNothing", layout: baseLayout, run: func(e *env) {
		for _, policy := range []vfs.WritePolicy{vfs.Replace, vfs.Append} {
			opts := e.file(0o600)
			opts.Policy = policy
			r := &failingReader{data: []byte(strings.Repeat("partial", 10000)), err: errReader}
			err := e.fsys.WriteFile(e.ctx, "/etc/hostname", r, opts)
			e.wantErr("writefile "+policy.String(), "/etc/hostname", err, errReader)
			r = &failingReader{data: []byte("partial"), err: errReader}
			err = e.fsys.WriteFile(e.ctx, "/etc/new", r, opts)
			e.wantErr("writefile "+policy.String(), "/etc/new", err, errReader)
		}
		e.wantContent("/etc/hostname", "guest\n")
		e.wantMode("/etc/hostname", 0o644)
		e.wantMissing("/etc/new")
		e.wantNames("/etc", "hostname", "passwd", "rel", "resolv.conf")
	}},
	{name: "CancelledMidWrite", layout: baseLayout, run: func(e *env) {
		ctx, cancel := context.WithCancel(e.ctx)
		defer cancel()
		err := e.fsys.WriteFile(ctx, "/etc/hostname", &cancellingReader{cancel: cancel}, e.file(0o644))
		e.wantErr("writefile", "/etc/hostname", err, context.Canceled)
		e.wantContent("/etc/hostname", "guest\n")
		e.wantNames("/etc", "hostname", "passwd", "rel", "resolv.conf")
	}},
	{name: "MissingParent", layout: baseLayout, run: func(e *env) {
		e.wantErr("writefile", "/nodir/file", e.write("/nodir/file", "x", e.file(0o644)), fs.ErrNotExist)
		e.wantMissing("/nodir")
	}},
	{name: "OntoDirectory", layout: baseLayout, run: func(e *env) {
		e.wantErr("writefile", "/etc", e.write("/etc", "x", e.file(0o644)), vfs.ErrIsDir)
		e.wantMode("/etc", fs.ModeDir|0o755)
	}},
	{name: "FinalSymlinkRefused", layout: baseLayout, run: func(e *env) {
		for _, policy := range []vfs.WritePolicy{vfs.Replace, vfs.Append} {
			opts := e.file(0o644)
			opts.Policy = policy
			e.wantErr("writefile "+policy.String(), "/etc/resolv.conf", e.write("/etc/resolv.conf", "evil", opts), vfs.ErrIsSymlink)
			e.wantErr("writefile "+policy.String(), "/dangling", e.write("/dangling", "evil", opts), vfs.ErrIsSymlink)
		}
		e.wantLink("/etc/resolv.conf", "/run/resolv.conf")
		e.wantContent("/run/resolv.conf", "nameserver 192.0.2.1\n")
		e.wantMissing("/nonexistent")
	}},
	{name: "IntermediateSymlinkFollowedInRoot", layout: baseLayout + `
l /conf target=/etc
l /etc/sub target=../run
`, run: func(e *env) {
		e.noErr("writefile", "/conf/motd", e.write("/conf/motd", "via link\n", e.file(0o644)))
		e.wantContent("/etc/motd", "via link\n")
		e.noErr("writefile", "/etc/sub/x", e.write("/etc/sub/x", "rel\n", e.file(0o644)))
		e.wantContent("/run/x", "rel\n")
	}},
	{name: "MkdirAll", layout: baseLayout, run: func(e *env) {
		e.noErr("mkdirall", "/home/alice/.ssh", e.fsys.MkdirAll(e.ctx, "/home/alice/.ssh", 0o700))
		e.wantMode("/home", fs.ModeDir|0o700)
		e.wantMode("/home/alice/.ssh", fs.ModeDir|0o700)
		e.noErr("mkdirall", "/etc", e.fsys.MkdirAll(e.ctx, "/etc", 0o700))
		e.wantMode("/etc", fs.ModeDir|0o755)
		e.noErr("mkdirall", "/", e.fsys.MkdirAll(e.ctx, "/", 0o700))
		e.noErr("mkdirall", "/tmp", e.fsys.MkdirAll(e.ctx, "/tmp", fs.ModeSticky|0o777))
		e.wantMode("/tmp", fs.ModeDir|fs.ModeSticky|0o777)
	}},
	{name: "MkdirAllThroughLinks", layout: baseLayout + `
l /home target=/var/home
d /var/home
l /var/link-to-dir target=../etc
`, run: func(e *env) {
		e.noErr("mkdirall", "/home/bob/.ssh", e.fsys.MkdirAll(e.ctx, "/home/bob/.ssh", 0o700))
		e.wantMode("/var/home/bob/.ssh", fs.ModeDir|0o700)
		e.wantLink("/home", "/var/home")
		// An existing directory reached through a final link is fine.
		e.noErr("mkdirall", "/var/link-to-dir", e.fsys.MkdirAll(e.ctx, "/var/link-to-dir", 0o700))
		e.wantLink("/var/link-to-dir", "../etc")
		e.wantMode("/etc", fs.ModeDir|0o755)
	}},
	{name: "MkdirAllOverFile", layout: baseLayout, run: func(e *env) {
		err := e.fsys.MkdirAll(e.ctx, "/etc/passwd", 0o755)
		e.wantErr("mkdirall", "/etc/passwd", err, vfs.ErrNotDir)
		e.wantContent("/etc/passwd", "root:x:0:0:root:/root:/bin/sh\n")
	}},
}

var metaCases = []testCase{
	{name: "Chmod", layout: baseLayout, run: func(e *env) {
		for _, m := range []fs.FileMode{0o600, fs.ModeSetuid | 0o755, fs.ModeSetgid | 0o750, 0} {
			e.noErr("chmod", "/etc/hostname", e.fsys.Chmod(e.ctx, "/etc/hostname", m))
			e.wantMode("/etc/hostname", m)
		}
		e.noErr("chmod", "/var/empty", e.fsys.Chmod(e.ctx, "/var/empty", fs.ModeSticky|0o777))
		e.wantMode("/var/empty", fs.ModeDir|fs.ModeSticky|0o777)
	}},
	{name: "ChmodRefusesFinalSymlink", layout: baseLayout, run: func(e *env) {
		e.wantErr("chmod", "/etc/resolv.conf", e.fsys.Chmod(e.ctx, "/etc/resolv.conf", 0o777), vfs.ErrIsSymlink)
		e.wantMode("/run/resolv.conf", 0o644)
	}},
	{name: "ChmodThroughIntermediateLink", layout: baseLayout + `l /conf target=/etc`, run: func(e *env) {
		e.noErr("chmod", "/conf/passwd", e.fsys.Chmod(e.ctx, "/conf/passwd", 0o600))
		e.wantMode("/etc/passwd", 0o600)
	}},
	{name: "Lchown", needs: Caps{Owners: true}, layout: baseLayout, run: func(e *env) {
		e.noErr("lchown", "/etc/hostname", e.fsys.Lchown(e.ctx, "/etc/hostname", 1000, 1001))
		e.wantOwner("/etc/hostname", 1000, 1001)
		e.noErr("lchown", "/etc/hostname", e.fsys.Lchown(e.ctx, "/etc/hostname", -1, 5))
		e.wantOwner("/etc/hostname", 1000, 5)
		e.noErr("lchown", "/etc/resolv.conf", e.fsys.Lchown(e.ctx, "/etc/resolv.conf", 1000, 1000))
		e.wantOwner("/etc/resolv.conf", 1000, 1000)
		e.wantOwner("/run/resolv.conf", 0, 0)
	}},
	{name: "LchownKeepsSetuidOnlyIfChmodAfter", needs: Caps{Owners: true}, layout: `f /bin/tool mode=4755 owner=0:0`, run: func(e *env) {
		e.noErr("lchown", "/bin/tool", e.fsys.Lchown(e.ctx, "/bin/tool", 0, 0))
		e.noErr("chmod", "/bin/tool", e.fsys.Chmod(e.ctx, "/bin/tool", fs.ModeSetuid|0o755))
		e.wantMode("/bin/tool", fs.ModeSetuid|0o755)
	}},
	{name: "Remove", layout: baseLayout + `
d /var/full
f /var/full/f
`, run: func(e *env) {
		e.noErr("remove", "/etc/passwd", e.fsys.Remove(e.ctx, "/etc/passwd"))
		e.wantMissing("/etc/passwd")
		e.noErr("remove", "/etc/resolv.conf", e.fsys.Remove(e.ctx, "/etc/resolv.conf"))
		e.wantMissing("/etc/resolv.conf")
		e.wantContent("/run/resolv.conf", "nameserver 192.0.2.1\n")
		e.noErr("remove", "/dangling", e.fsys.Remove(e.ctx, "/dangling"))
		e.noErr("remove", "/var/empty", e.fsys.Remove(e.ctx, "/var/empty"))
		e.wantErr("remove", "/var/full", e.fsys.Remove(e.ctx, "/var/full"), vfs.ErrNotEmpty)
		e.wantNames("/var/full", "f")
		e.wantErr("remove", "/var/none", e.fsys.Remove(e.ctx, "/var/none"), fs.ErrNotExist)
		e.wantNames("/", "etc", "root", "run", "var")
	}},
}

var capCases = []testCase{
	{name: "Xattrs", needs: Caps{Xattrs: true}, layout: baseLayout, run: func(e *env) {
		e.noErr("lsetxattr", "/etc/hostname", vfs.Lsetxattr(e.ctx, e.fsys, "/etc/hostname", "user.b", []byte("2")))
		e.noErr("lsetxattr", "/etc/hostname", vfs.Lsetxattr(e.ctx, e.fsys, "/etc/hostname", "user.a", []byte("1")))
		e.noErr("lsetxattr", "/etc/hostname", vfs.Lsetxattr(e.ctx, e.fsys, "/etc/hostname", "user.a", []byte("one")))
		names, err := vfs.Llistxattr(e.ctx, e.fsys, "/etc/hostname")
		e.noErr("llistxattr", "/etc/hostname", err)
		var user []string
		for _, n := range names {
			if strings.HasPrefix(n, "user.") {
				user = append(user, n)
			}
		}
		if diff := cmp.Diff([]string{"user.a", "user.b"}, user); diff != "" {
			e.Errorf("llistxattr (-want +got):\n%s", diff)
		}
		v, err := vfs.Lgetxattr(e.ctx, e.fsys, "/etc/hostname", "user.a")
		e.noErr("lgetxattr", "/etc/hostname", err)
		if string(v) != "one" {
			e.Errorf("lgetxattr user.a = %q, want one", v)
		}
		_, err = vfs.Lgetxattr(e.ctx, e.fsys, "/etc/missing", "user.a")
		e.wantErr("lgetxattr", "/etc/missing", err, fs.ErrNotExist)
	}},
	{name: "XattrsOfLinkTarget", needs: Caps{Xattrs: true}, layout: baseLayout + `l /conf target=/etc`, run: func(e *env) {
		e.noErr("lsetxattr", "/conf/passwd", vfs.Lsetxattr(e.ctx, e.fsys, "/conf/passwd", "user.x", []byte("v")))
		v, err := vfs.Lgetxattr(e.ctx, e.fsys, "/etc/passwd", "user.x")
		e.noErr("lgetxattr", "/etc/passwd", err)
		if string(v) != "v" {
			e.Errorf("xattr set through an intermediate link: got %q", v)
		}
	}},
	{name: "XattrsUnsupported", layout: baseLayout, run: func(e *env) {
		if e.caps.Xattrs {
			e.Skip("backend declares Xattrs")
		}
		err := vfs.Lsetxattr(e.ctx, e.fsys, "/etc/hostname", "user.a", nil)
		e.wantErr("lsetxattr", "/etc/hostname", err, vfs.ErrNotSupported)
	}},
	{name: "Symlink", needs: Caps{Symlinks: true}, layout: baseLayout, run: func(e *env) {
		e.noErr("symlink", "/etc/localtime", vfs.Symlink(e.ctx, e.fsys, "/usr/share/zoneinfo/UTC", "/etc/localtime"))
		e.wantLink("/etc/localtime", "/usr/share/zoneinfo/UTC")
		e.noErr("symlink", "/etc/up", vfs.Symlink(e.ctx, e.fsys, "../../../..", "/etc/up"))
		e.wantLink("/etc/up", "../../../..")
		e.wantNames("/etc/up", "dangling", "etc", "root", "run", "var")
		err := vfs.Symlink(e.ctx, e.fsys, "x", "/etc/hostname")
		e.wantErr("symlink", "/etc/hostname", err, fs.ErrExist)
		e.wantContent("/etc/hostname", "guest\n")
	}},
}
