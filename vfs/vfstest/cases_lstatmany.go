package vfstest

import (
	"errors"
	"fmt"
	"io/fs"

	"github.com/guestinject/guestinject/vfs"
)

// lstatManyNames are the hostile layout's names as a plan's walk asks for
// them: the root, links out of it, climbs, loops, names below a file and
// below a loop, a missing one.
var lstatManyNames = []string{
	"/", "/etc", "/etc/hostname", "/etc/evil", "/etc/evil/x", "/etc/evil-dir", "/etc/evil-dir/file",
	"/etc/climb", "/home", "/home/secret", "/up", "/up/up/secret", "/up/etc/hostname", "/loop1", "/loop1/x",
	"/self", "/a/c", "/b/d/hostname", "/proc-like", "/proc-like/etc", "/etc/hostname/x", "/missing", "/missing/x",
}

// lstatManyCases check vfs.LstatMany, a backend's LstatMany where it has
// one, against its own Lstat, name by name.
var lstatManyCases = []testCase{
	{name: "AnswersAsLstat", layout: hostileLayout, run: func(e *env) {
		got, err := vfs.LstatMany(e.ctx, e.fsys, lstatManyNames)
		if err != nil {
			e.T.Fatalf("LstatMany: %v", err)
		}
		if len(got) != len(lstatManyNames) {
			e.T.Fatalf("LstatMany: %d results for %d names", len(got), len(lstatManyNames))
		}
		for i, name := range lstatManyNames {
			info, err := e.fsys.Lstat(e.ctx, name)
			if g, w := describeLstat(got[i].Info, got[i].Err), describeLstat(info, err); g != w {
				e.T.Errorf("LstatMany(%s) = %s, Lstat = %s", name, g, w)
			}
			var pe *fs.PathError
			if got[i].Err != nil && (!errors.As(got[i].Err, &pe) || pe.Path != name) {
				e.T.Errorf("LstatMany(%s): error %v does not name the path asked for", name, got[i].Err)
			}
		}
	}},
	{name: "TooManyNames", layout: hostileLayout, run: func(e *env) {
		names := make([]string, vfs.MaxLstatMany+1)
		for i := range names {
			names[i] = "/etc"
		}
		_, err := vfs.LstatMany(e.ctx, e.fsys, names)
		e.wantErr("lstat", "/etc", err, vfs.ErrTooLarge)
	}},
}

// describeLstat is what an Lstat says, in a form two answers compare by:
// the contract's error, or the name, type, permissions and size.
func describeLstat(info fs.FileInfo, err error) string {
	if err != nil {
		for _, s := range []error{fs.ErrNotExist, vfs.ErrNotDir, vfs.ErrSymlinkLoop, fs.ErrPermission, fs.ErrInvalid, vfs.ErrIO} {
			if errors.Is(err, s) {
				return "error " + s.Error()
			}
		}
		return "error " + err.Error()
	}
	return fmt.Sprintf("%s %v size %d", info.Name(), info.Mode(), info.Size())
}
