package vfstest_test

import (
	"context"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/guestinject/guestinject/internal/testsupport/memlayout"
	"github.com/guestinject/guestinject/vfs"
	"github.com/guestinject/guestinject/vfs/vfstest"
)

// naiveFS is the classic mistake: guest paths joined onto a host
// directory and handed to the os package, which follows every symlink on
// the host. The suite must catch it.
type naiveFS struct{ root string }

func (n naiveFS) host(name string) string { return filepath.Join(n.root, name) }

func (n naiveFS) Stat(_ context.Context, name string) (fs.FileInfo, error) {
	return os.Stat(n.host(name))
}
func (n naiveFS) Lstat(_ context.Context, name string) (fs.FileInfo, error) {
	return os.Lstat(n.host(name))
}
func (n naiveFS) Readlink(_ context.Context, name string) (string, error) {
	return os.Readlink(n.host(name))
}
func (n naiveFS) ReadDir(_ context.Context, name string) ([]fs.DirEntry, error) {
	return os.ReadDir(n.host(name))
}
func (n naiveFS) Open(_ context.Context, name string) (vfs.File, error) {
	return os.Open(n.host(name))
}
func (n naiveFS) MkdirAll(_ context.Context, name string, perm fs.FileMode) error {
	return os.MkdirAll(n.host(name), perm)
}
func (n naiveFS) WriteFile(_ context.Context, name string, r io.Reader, opts vfs.WriteOptions) error {
	flag := os.O_WRONLY | os.O_CREATE | os.O_TRUNC
	if opts.Policy == vfs.Append {
		flag = os.O_WRONLY | os.O_CREATE | os.O_APPEND
	}
	f, err := os.OpenFile(n.host(name), flag, opts.Perm)
	if err != nil {
		return err
	}
	defer f.Close()
	_, err = io.Copy(f, r)
	return err
}
func (n naiveFS) Chmod(_ context.Context, name string, mode fs.FileMode) error {
	return os.Chmod(n.host(name), mode)
}
func (n naiveFS) Lchown(_ context.Context, name string, uid, gid int) error {
	return os.Lchown(n.host(name), uid, gid)
}
func (n naiveFS) Remove(_ context.Context, name string) error { return os.Remove(n.host(name)) }
func (n naiveFS) Lchtimes(_ context.Context, name string, atime, mtime time.Time) error {
	return os.Chtimes(n.host(name), atime, mtime)
}
func (n naiveFS) Close() error { return nil }

// followsFinalLink is a correct backend with one flaw: WriteFile follows
// a final symlink (in the root) instead of refusing it.
type followsFinalLink struct{ vfs.FS }

func (f followsFinalLink) WriteFile(ctx context.Context, name string, r io.Reader, opts vfs.WriteOptions) error {
	for range 8 {
		info, err := f.Lstat(ctx, name)
		if err != nil || info.Mode().Type() != fs.ModeSymlink {
			break
		}
		target, err := f.Readlink(ctx, name)
		if err != nil {
			break
		}
		if !strings.HasPrefix(target, "/") {
			dir, _ := vfs.Split(name)
			target = vfs.Join(dir, target)
		}
		name = filepath.Clean(target)
	}
	return f.FS.WriteFile(ctx, name, r, opts)
}

// lstatManyFollows is a correct backend whose LstatMany follows final
// symlinks (Stat) where Lstat does not.
type lstatManyFollows struct{ vfs.FS }

func (f lstatManyFollows) LstatMany(ctx context.Context, names []string) ([]vfs.LstatResult, error) {
	out := make([]vfs.LstatResult, len(names))
	for i, name := range names {
		out[i].Info, out[i].Err = f.Stat(ctx, name)
	}
	return out, nil
}

// brokenHarnesses are backends with known flaws, run by
// TestBrokenBackend in a child process.
var brokenHarnesses = map[string]vfstest.Harness{
	"follows-final-link": {
		New: func(t *testing.T, _ string, layout vfstest.Layout) vfs.FS {
			return followsFinalLink{memlayout.MustBuild(layout)}
		},
		// The wrapper hides the capabilities of the memfs inside.
		Caps: vfstest.Caps{Owners: true, DeviceNodes: true},
	},
	"lstatmany-follows": {
		New: func(t *testing.T, _ string, layout vfstest.Layout) vfs.FS {
			return lstatManyFollows{memlayout.MustBuild(layout)}
		},
		Caps: vfstest.Caps{Owners: true, DeviceNodes: true},
	},
	"naive": {
		New: func(t *testing.T, dir string, layout vfstest.Layout) vfs.FS {
			if err := layout.WriteDir(dir); err != nil {
				t.Fatal(err)
			}
			return naiveFS{root: dir}
		},
		Caps: vfstest.Caps{Owners: os.Geteuid() == 0, Times: true},
	},
}

// TestBrokenBackend runs the suite over the backend named by
// VFSTEST_BROKEN; it is a child of TestSuiteCatchesBrokenBackends.
func TestBrokenBackend(t *testing.T) {
	h, ok := brokenHarnesses[os.Getenv("VFSTEST_BROKEN")]
	if !ok {
		t.Skip("entry point for TestSuiteCatchesBrokenBackends")
	}
	vfstest.Run(t, h)
}

func TestSuiteCatchesBrokenBackends(t *testing.T) {
	for _, tc := range []struct {
		backend string
		// failures that must be reported, as "--- FAIL: " lines
		fail []string
		// messages that must appear
		say []string
	}{
		{
			backend: "naive",
			fail: []string{
				"Hostile/AbsoluteLinkToHostIsInRoot",
				"Hostile/DotDotClimbsStopAtRoot",
				"Hostile/FIFONeverOpened",
				"Write/FinalSymlinkRefused",
				"Errors/InvalidPaths",
				"Times/SymlinkItself",
				"Times/Refusals",
				"Times/HostLinksStayInRoot",
				"Times/DotDotStaysInRoot",
			},
			say: []string{"host outside the guest root changed", "opening a FIFO blocked"},
		},
		{
			backend: "follows-final-link",
			fail: []string{
				"Write/FinalSymlinkRefused",
				"Hostile/AbsoluteLinkToHostIsInRoot",
				"Hostile/LinkChains",
			},
			say: []string{"writefile replace /etc/resolv.conf: succeeded, want error is a symlink"},
		},
		{
			backend: "lstatmany-follows",
			fail:    []string{"LstatMany/AnswersAsLstat"},
			say:     []string{"LstatMany(/etc/evil) = "},
		},
	} {
		t.Run(tc.backend, func(t *testing.T) {
			wantCaught(t, "TestBrokenBackend", "VFSTEST_BROKEN", tc.backend, tc.fail, tc.say)
		})
	}
}

// wantCaught runs the entry-point test entry in a child process with env
// set to broken, and checks that it failed the subtests fail and printed
// every message in say.
func wantCaught(t *testing.T, entry, env, broken string, fail, say []string) {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^"+entry+"$", "-test.v", "-test.count=1")
	cmd.Env = append(os.Environ(), env+"="+broken)
	out, err := cmd.CombinedOutput()
	if err == nil {
		t.Fatalf("%s passed %s:\n%s", entry, broken, out)
	}
	for _, f := range fail {
		if !strings.Contains(string(out), "--- FAIL: "+entry+"/"+f+" ") {
			t.Errorf("%s did not fail %s for %s", entry, f, broken)
		}
	}
	for _, s := range say {
		if !strings.Contains(string(out), s) {
			t.Errorf("%s did not report %q for %s", entry, s, broken)
		}
	}
	if t.Failed() {
		t.Logf("child output:\n%s", out)
	}
}
