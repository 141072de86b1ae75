package vfstest

import (
	"io/fs"

	"github.com/guestinject/guestinject/vfs"
)

var renameCases = []testCase{
	{name: "File", needs: Caps{Renames: true}, layout: baseLayout, run: func(e *env) {
		e.noErr("rename", "/etc/hostname", vfs.Rename(e.ctx, e.fsys, "/etc/hostname", "/root/hostname"))
		e.wantMissing("/etc/hostname")
		e.wantContent("/root/hostname", "guest\n")
		e.wantMode("/root/hostname", 0o644)
	}},
	{name: "Directory", needs: Caps{Renames: true}, layout: baseLayout + "f /var/empty/x data=\"x\\n\"\n", run: func(e *env) {
		e.noErr("rename", "/var/empty", vfs.Rename(e.ctx, e.fsys, "/var/empty", "/var/full"))
		e.wantMissing("/var/empty")
		e.wantContent("/var/full/x", "x\n")
	}},
	{name: "SymlinkItself", needs: Caps{Renames: true}, layout: baseLayout, run: func(e *env) {
		e.noErr("rename", "/etc/resolv.conf", vfs.Rename(e.ctx, e.fsys, "/etc/resolv.conf", "/etc/resolv.old"))
		e.wantLink("/etc/resolv.old", "/run/resolv.conf")
		e.wantContent("/run/resolv.conf", "nameserver 192.0.2.1\n")
		e.noErr("rename", "/dangling", vfs.Rename(e.ctx, e.fsys, "/dangling", "/etc/dangling"))
		e.wantLink("/etc/dangling", "/nonexistent")
	}},
	{name: "NeverReplaces", needs: Caps{Renames: true}, layout: baseLayout, run: func(e *env) {
		err := vfs.Rename(e.ctx, e.fsys, "/etc/hostname", "/etc/passwd")
		e.wantErr("rename", "/etc/passwd", err, fs.ErrExist)
		err = vfs.Rename(e.ctx, e.fsys, "/etc/hostname", "/dangling")
		e.wantErr("rename", "/dangling", err, fs.ErrExist)
		err = vfs.Rename(e.ctx, e.fsys, "/etc/hostname", "/var/empty")
		e.wantErr("rename", "/var/empty", err, fs.ErrExist)
		e.wantContent("/etc/hostname", "guest\n")
		e.wantContent("/etc/passwd", "root:x:0:0:root:/root:/bin/sh\n")
		e.wantLink("/dangling", "/nonexistent")
	}},
	{name: "Refusals", needs: Caps{Renames: true}, layout: baseLayout, run: func(e *env) {
		err := vfs.Rename(e.ctx, e.fsys, "/etc/missing", "/etc/new")
		e.wantErr("rename", "/etc/missing", err, fs.ErrNotExist)
		err = vfs.Rename(e.ctx, e.fsys, "/etc", "/etc/sub")
		e.wantErr("rename", "/etc", err, fs.ErrInvalid)
		err = vfs.Rename(e.ctx, e.fsys, "/", "/x")
		e.wantErr("rename", "/", err, fs.ErrInvalid)
		err = vfs.Rename(e.ctx, e.fsys, "/etc/hostname", "/etc/../x")
		e.wantErr("rename", "/etc/../x", err, vfs.ErrInvalidPath)
		err = vfs.Rename(e.ctx, e.fsys, "/etc/hostname", "/nowhere/x")
		e.wantErr("rename", "/nowhere/x", err, fs.ErrNotExist)
		e.wantNames("/etc", "hostname", "passwd", "rel", "resolv.conf")
	}},
	{name: "ParentsResolvedInRoot", needs: Caps{Renames: true}, layout: hostileLayout, run: func(e *env) {
		// /home and /etc/evil-dir point at the host canary by absolute
		// host path: in the root they lead to the guest's decoys, or
		// nowhere, never to the host.
		e.noErr("rename", "/etc/hostname", vfs.Rename(e.ctx, e.fsys, "/etc/hostname", "/up/canary/hostname"))
		e.wantContent("/canary/hostname", "guest\n")
		err := vfs.Rename(e.ctx, e.fsys, "/canary/hostname", "/etc/evil-dir/x")
		e.wantErr("rename", "/etc/evil-dir/x", err, fs.ErrNotExist)
		err = vfs.Rename(e.ctx, e.fsys, "/etc/evil-dir/file", "/stolen")
		e.wantErr("rename", "/etc/evil-dir/file", err, fs.ErrNotExist)
		e.wantMissing("/stolen")
		// A final link to the host is renamed as a link.
		e.noErr("rename", "/etc/evil", vfs.Rename(e.ctx, e.fsys, "/etc/evil", "/evil"))
		e.wantMissing("/etc/evil")
		if info := e.lstat("/evil"); info.Mode().Type() != fs.ModeSymlink {
			e.Errorf("/evil: %v, want the symlink itself", info.Mode())
		}
		err = vfs.Rename(e.ctx, e.fsys, "/loop1/x", "/y")
		e.wantErr("rename", "/loop1/x", err, vfs.ErrSymlinkLoop)
	}},
	{name: "Unsupported", layout: baseLayout, run: func(e *env) {
		if e.caps.Renames {
			e.Skip("backend declares Renames")
		}
		err := vfs.Rename(e.ctx, e.fsys, "/etc/hostname", "/etc/x")
		e.wantErr("rename", "/etc/hostname", err, vfs.ErrNotSupported)
	}},
}
