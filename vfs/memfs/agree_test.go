package memfs_test

import (
	"context"
	"fmt"
	"io/fs"
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/guestinject/guestinject/internal/inroot"
	"github.com/guestinject/guestinject/internal/wire"
	"github.com/guestinject/guestinject/vfs"
	"github.com/guestinject/guestinject/vfs/vfstest"
)

// agreeLayout is a guest full of resolution corner cases, for checking that
// memfs and the host directory backend (openat2 RESOLVE_IN_ROOT) agree.
const agreeLayout = resolveLayout + `
f /etc/shadow mode=0640 owner=0:42 data="secret\n" xattr.user.label="shadow"
d /var/full mode=0700 owner=1000:1000
f /var/full/x mode=4755
d /var/empty mode=1777
l /home target=/var/home
l /srv target=/var/full
l /var/full/back target=../../etc
d /srv2 mode=2775 owner=0:50
f /srv2/file mode=0664 owner=0:0 data="x"
`

// agreeNames are probed with every call.
var agreeNames = []string{
	"/", "/etc", "/etc/hostname", "/etc/shadow", "/etc/sub", "/etc/sub/file", "/etc/new",
	"/etc/abs", "/etc/rel", "/etc/relup", "/etc/climb", "/etc/dotted", "/etc/slashes",
	"/etc/dirslash", "/etc/dirslash/file", "/etc/dirslash/new", "/etc/fileslash", "/etc/filedot",
	"/etc/filedotdot", "/etc/dirdotdot", "/mid", "/mid/file", "/mid/new", "/mid2/file",
	"/up", "/up/up/etc/hostname", "/up/new", "/root-link", "/root-link/etc/new",
	"/dangling", "/dangling/x", "/dangling-dir", "/loop1", "/loop2/x", "/self", "/selfdir",
	"/etc/fifo", "/etc/fifo/x", "/etc/to-fifo", "/etc/through-fifo", "/dev/null", "/etc/to-null",
	"/etc/hostname/x", "/etc/missing/x", "/home", "/home/alice", "/srv", "/srv/x", "/srv/back/hostname",
	"/srv/back/new", "/var/full", "/var/empty", "/var/empty/new",
	"/srv2/file", "/srv2/new", "/srv2/a/b",
}

// agreeCalls are the calls compared; each returns a description of what
// it saw, or an error.
var agreeCalls = map[string]func(ctx context.Context, f vfs.FS, name string) (string, error){
	"stat": func(ctx context.Context, f vfs.FS, name string) (string, error) {
		info, err := f.Stat(ctx, name)
		return describe(info), err
	},
	"lstat": func(ctx context.Context, f vfs.FS, name string) (string, error) {
		info, err := f.Lstat(ctx, name)
		return describe(info), err
	},
	"readlink": func(ctx context.Context, f vfs.FS, name string) (string, error) {
		return f.Readlink(ctx, name)
	},
	"readdir": func(ctx context.Context, f vfs.FS, name string) (string, error) {
		entries, err := f.ReadDir(ctx, name)
		var s []string
		for _, e := range entries {
			info, _ := e.Info()
			s = append(s, e.Name()+" "+describe(info))
		}
		return strings.Join(s, "; "), err
	},
	"read": func(ctx context.Context, f vfs.FS, name string) (string, error) {
		data, err := vfs.ReadFile(ctx, f, name, 1<<10)
		return string(data), err
	},
	"mkdirall": func(ctx context.Context, f vfs.FS, name string) (string, error) {
		return "", f.MkdirAll(ctx, name, 0o750)
	},
	"replace": func(ctx context.Context, f vfs.FS, name string) (string, error) {
		return "", f.WriteFile(ctx, name, strings.NewReader("new\n"), vfs.WriteOptions{Perm: 0o600, UID: 5, GID: 6})
	},
	"append-inherit": func(ctx context.Context, f vfs.FS, name string) (string, error) {
		return "", f.WriteFile(ctx, name, strings.NewReader("more\n"), vfs.WriteOptions{Policy: vfs.Append, Inherit: true, Perm: 0o600, UID: -1, GID: -1})
	},
	"exclusive": func(ctx context.Context, f vfs.FS, name string) (string, error) {
		return "", f.WriteFile(ctx, name, strings.NewReader("x"), vfs.WriteOptions{Policy: vfs.Exclusive, Perm: 0o644, UID: -1, GID: -1})
	},
	"chmod": func(ctx context.Context, f vfs.FS, name string) (string, error) {
		return "", f.Chmod(ctx, name, fs.ModeSetgid|0o710)
	},
	"lchown": func(ctx context.Context, f vfs.FS, name string) (string, error) {
		return "", f.Lchown(ctx, name, 7, -1)
	},
	"remove": func(ctx context.Context, f vfs.FS, name string) (string, error) {
		return "", f.Remove(ctx, name)
	},
	"symlink": func(ctx context.Context, f vfs.FS, name string) (string, error) {
		return "", vfs.Symlink(ctx, f, "../target", name)
	},
	"lsetxattr-user": func(ctx context.Context, f vfs.FS, name string) (string, error) {
		return "", vfs.Lsetxattr(ctx, f, name, "user.k", []byte("v"))
	},
	"lsetxattr-trusted": func(ctx context.Context, f vfs.FS, name string) (string, error) {
		return "", vfs.Lsetxattr(ctx, f, name, "trusted.k", []byte("v"))
	},
	"lsetxattr-unknown": func(ctx context.Context, f vfs.FS, name string) (string, error) {
		return "", vfs.Lsetxattr(ctx, f, name, "other.k", []byte("v"))
	},
	"replace-maxsize": func(ctx context.Context, f vfs.FS, name string) (string, error) {
		return "", f.WriteFile(ctx, name, strings.NewReader("new\n"), vfs.WriteOptions{MaxSize: 3, Perm: 0o644, UID: -1, GID: -1})
	},
	"append-maxsize": func(ctx context.Context, f vfs.FS, name string) (string, error) {
		return "", f.WriteFile(ctx, name, strings.NewReader("new\n"), vfs.WriteOptions{Policy: vfs.Append, MaxSize: 10, Perm: 0o644, UID: -1, GID: -1})
	},
	"lgetxattr": func(ctx context.Context, f vfs.FS, name string) (string, error) {
		v, err := vfs.Lgetxattr(ctx, f, name, "user.label")
		return string(v), err
	},
}

// describe summarises what both backends must agree on: not times, link
// counts or directory sizes, which differ between filesystems.
func describe(info fs.FileInfo) string {
	if info == nil {
		return ""
	}
	a, _ := vfs.AttrOf(info)
	size := info.Size()
	if info.IsDir() {
		size = 0
	}
	return fmt.Sprintf("%s %v %d:%d size=%d rdev=%d", info.Name(), info.Mode(), a.UID, a.GID, size, a.Rdev)
}

// treeOf renders a whole guest for comparison after a change.
func treeOf(ctx context.Context, f vfs.FS) (string, error) {
	var lines []string
	err := fs.WalkDir(vfs.IOFS(ctx, f), ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		name := "/" + strings.TrimPrefix(p, ".")
		info, err := f.Lstat(ctx, strings.Replace(name, "//", "/", 1))
		if err != nil {
			return err
		}
		line := describe(info)
		if info.Mode().IsRegular() {
			data, err := vfs.ReadFile(ctx, f, name, 1<<10)
			line += fmt.Sprintf(" %q %v", data, err)
		}
		if target, err := f.Readlink(ctx, name); err == nil {
			line += " -> " + target
		}
		attrs, _ := vfs.Llistxattr(ctx, f, name)
		for _, a := range attrs {
			if strings.HasPrefix(a, "user.") || strings.HasPrefix(a, "trusted.") {
				v, _ := vfs.Lgetxattr(ctx, f, name, a)
				line += fmt.Sprintf(" %s=%q", a, v)
			}
		}
		lines = append(lines, name+": "+line)
		return nil
	})
	slices.Sort(lines)
	return strings.Join(lines, "\n"), err
}

// TestAgreesWithDirectoryBackend runs every call on every probe name on
// memfs and on the host directory backend, each on a fresh copy of the
// same guest, and compares results, error codes and the trees afterwards.
func TestAgreesWithDirectoryBackend(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("the directory backend needs root for device nodes and owners")
	}
	layout := vfstest.MustParseLayout(agreeLayout)
	ctx := t.Context()
	for op, call := range agreeCalls {
		for _, name := range agreeNames {
			mem := fromLayout(t, layout)
			dir := t.TempDir()
			if err := layout.WriteDir(dir); err != nil {
				t.Fatal(err)
			}
			host, err := inroot.Open(dir)
			if err != nil {
				t.Fatal(err)
			}
			memOut, memErr := call(ctx, mem, name)
			hostOut, hostErr := call(ctx, host, name)
			if memOut != hostOut || wire.Code(memErr) != wire.Code(hostErr) {
				t.Errorf("%s %s:\n memfs %q, %v\n  host %q, %v", op, name, memOut, memErr, hostOut, hostErr)
			}
			memTree, err1 := treeOf(ctx, mem)
			hostTree, err2 := treeOf(ctx, host)
			if err1 != nil || err2 != nil {
				t.Fatalf("%s %s: walking the trees: %v, %v", op, name, err1, err2)
			}
			if memTree != hostTree {
				t.Errorf("%s %s: trees differ:\nmemfs:\n%s\nhost:\n%s", op, name, memTree, hostTree)
			}
			host.Close()
		}
	}
}
