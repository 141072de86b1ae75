package vfs_test

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/guestinject/guestinject/vfs"
)

func ExampleCheckPath() {
	for _, name := range []string{
		"/",
		"/etc/shadow",
		"/root/.ssh/authorized_keys",
		"",
		"etc/passwd",
		"/etc/",
		"//etc",
		"/etc/../root",
		"/./etc",
		"/etc/pass\x00wd",
	} {
		if err := vfs.CheckPath("open", name); err != nil {
			fmt.Printf("%q: %q\n", name, err.Error())
		} else {
			fmt.Printf("%q: ok\n", name)
		}
	}
	// Output:
	// "/": ok
	// "/etc/shadow": ok
	// "/root/.ssh/authorized_keys": ok
	// "": "open : invalid guest path: empty"
	// "etc/passwd": "open etc/passwd: invalid guest path: not absolute"
	// "/etc/": "open /etc/: invalid guest path: trailing slash"
	// "//etc": "open //etc: invalid guest path: empty component"
	// "/etc/../root": "open /etc/../root: invalid guest path: contains .."
	// "/./etc": "open /./etc: invalid guest path: contains ."
	// "/etc/pass\x00wd": "open /etc/pass\x00wd: invalid guest path: contains NUL"
}

func TestCheckPathLimits(t *testing.T) {
	long := "/" + strings.Repeat("a", vfs.MaxNameLen)
	if err := vfs.CheckPath("op", long); err != nil {
		t.Errorf("component of MaxNameLen bytes: %v", err)
	}
	if err := vfs.CheckPath("op", long+"a"); !errors.Is(err, vfs.ErrInvalidPath) {
		t.Errorf("component over MaxNameLen: got %v, want ErrInvalidPath", err)
	}
	deep := strings.Repeat("/abcdefg", (vfs.MaxPathLen+1)/8+1)
	if err := vfs.CheckPath("op", deep); !errors.Is(err, vfs.ErrInvalidPath) {
		t.Errorf("path over MaxPathLen: got %v, want ErrInvalidPath", err)
	}
}

func TestSplitJoin(t *testing.T) {
	for _, tc := range []struct{ name, dir, base string }{
		{"/", "/", ""},
		{"/etc", "/", "etc"},
		{"/etc/passwd", "/etc", "passwd"},
		{"/a/b/c", "/a/b", "c"},
	} {
		dir, base := vfs.Split(tc.name)
		if dir != tc.dir || base != tc.base {
			t.Errorf("Split(%q) = %q, %q; want %q, %q", tc.name, dir, base, tc.dir, tc.base)
		}
		if tc.name != "/" {
			if got := vfs.Join(dir, base); got != tc.name {
				t.Errorf("Join(%q, %q) = %q; want %q", dir, base, got, tc.name)
			}
		}
	}
}

func FuzzCheckPath(f *testing.F) {
	for _, s := range []string{"/", "/etc/passwd", "//", "/a/./b", "/a/../b", "a", "/a/", "/\x00"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, name string) {
		if !vfs.ValidPath(name) {
			return
		}
		// A valid path splits and rejoins to itself, and no component
		// can climb or be empty.
		for _, c := range vfs.Components(name) {
			if c == "" || c == "." || c == ".." || strings.ContainsAny(c, "/\x00") {
				t.Fatalf("valid path %q has component %q", name, c)
			}
		}
		if name != "/" {
			dir, base := vfs.Split(name)
			if vfs.Join(dir, base) != name || !vfs.ValidPath(dir) {
				t.Fatalf("split of %q: %q %q", name, dir, base)
			}
		}
	})
}
