package inject

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"io/fs"
	"path/filepath"
	"strings"
	"testing"

	"github.com/guestinject/guestinject/vfs"
)

// tarEntry is one entry of a test archive: "d", "f", "l" (symlink), "h"
// (hard link), "c" (character device) or "p" (FIFO).
type tarEntry struct {
	kind, name string
	mode       int64
	data       string // content, or link target
	uid, gid   int
}

func tarOf(t testing.TB, format tar.Format, entries ...tarEntry) []byte {
	t.Helper()
	var buf bytes.Buffer
	w := tar.NewWriter(&buf)
	for _, e := range entries {
		h := &tar.Header{Name: e.name, Mode: e.mode, Uid: e.uid, Gid: e.gid, ModTime: copyTime, Format: format}
		switch e.kind {
		case "d":
			h.Typeflag = tar.TypeDir
		case "f":
			h.Typeflag, h.Size = tar.TypeReg, int64(len(e.data))
		case "l":
			h.Typeflag, h.Linkname = tar.TypeSymlink, e.data
		case "h":
			h.Typeflag, h.Linkname = tar.TypeLink, e.data
		case "c":
			h.Typeflag, h.Devmajor, h.Devminor = tar.TypeChar, 1, 3
		case "p":
			h.Typeflag = tar.TypeFifo
		}
		if err := w.WriteHeader(h); err != nil {
			t.Fatal(err)
		}
		if e.kind == "f" {
			if _, err := w.Write([]byte(e.data)); err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func gzipped(t testing.TB, data []byte) []byte {
	var buf bytes.Buffer
	z := gzip.NewWriter(&buf)
	z.Write(data)
	if err := z.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func TestTarIn(t *testing.T) {
	long := strings.Repeat("long-directory-name/", 8) + "file"
	for _, format := range []tar.Format{tar.FormatPAX, tar.FormatGNU} {
		t.Run(format.String(), func(t *testing.T) {
			forEachBackend(t, func(t *testing.T, open func(*testing.T, string) vfs.FS) {
				archive := tarOf(t, format,
					tarEntry{kind: "d", name: "./", mode: 0o700},
					tarEntry{kind: "d", name: "app/", mode: 0o750, uid: 1000, gid: 50},
					tarEntry{kind: "f", name: "app/tool", mode: 0o4755, data: "#!/bin/sh\n"},
					tarEntry{kind: "f", name: "./app/conf", mode: 0o640, data: "k=v\n", uid: 1000, gid: 1000},
					tarEntry{kind: "l", name: "app/abs", data: "/etc/shadow"},
					tarEntry{kind: "l", name: "app/up", data: "../../../.."},
					tarEntry{kind: "f", name: "implicit/dirs/file", mode: 0o600, data: "x"},
					tarEntry{kind: "d", name: "implicit/", mode: 0o711},
					tarEntry{kind: "f", name: long, mode: 0o644, data: "long"},
					tarEntry{kind: "d", name: "app/", mode: 0o750, uid: 1000, gid: 50},
				)
				fsys := open(t, opsLayout)
				got, _ := applyDiff(t, fsys, Spec{Operations: []Operation{
					{Mkdir: &Mkdir{Path: "/opt"}},
					{TarIn: &TarIn{Reader: bytes.NewReader(archive), Dir: "/opt", TreeOptions: TreeOptions{KeepOwners: true}}},
					{TarIn: &TarIn{Reader: bytes.NewReader(gzipped(t, archive)), Dir: "/root"}},
				}})
				want := map[string]node{
					"/opt":                     {Mode: fs.ModeDir | 0o755},
					"/opt/app":                 {Mode: fs.ModeDir | 0o750, UID: 1000, GID: 50},
					"/opt/app/tool":            {Mode: fs.ModeSetuid | 0o755, Data: "#!/bin/sh\n"},
					"/opt/app/conf":            {Mode: 0o640, UID: 1000, GID: 1000, Data: "k=v\n"},
					"/opt/app/abs":             {Mode: fs.ModeSymlink | 0o777, Target: "/etc/shadow"},
					"/opt/app/up":              {Mode: fs.ModeSymlink | 0o777, Target: "../../../.."},
					"/opt/implicit":            {Mode: fs.ModeDir | 0o711},
					"/opt/implicit/dirs":       {Mode: fs.ModeDir | 0o755},
					"/opt/implicit/dirs/file":  {Mode: 0o600, Data: "x"},
					"/root/app":                {Mode: fs.ModeDir | 0o750},
					"/root/app/tool":           {Mode: fs.ModeSetuid | 0o755, Data: "#!/bin/sh\n"},
					"/root/app/conf":           {Mode: 0o640, Data: "k=v\n"},
					"/root/app/abs":            {Mode: fs.ModeSymlink | 0o777, Target: "/etc/shadow"},
					"/root/app/up":             {Mode: fs.ModeSymlink | 0o777, Target: "../../../.."},
					"/root/implicit":           {Mode: fs.ModeDir | 0o711},
					"/root/implicit/dirs":      {Mode: fs.ModeDir | 0o755},
					"/root/implicit/dirs/file": {Mode: 0o600, Data: "x"},
				}
				for _, d := range []string{"/opt", "/root"} {
					p := d
					for _, part := range strings.Split(long, "/") {
						p += "/" + part
						want[p] = node{Mode: fs.ModeDir | 0o755}
					}
					want[p] = node{Mode: 0o644, Data: "long"}
				}
				wantTreeDiff(t, want, got)
				for _, name := range []string{"/opt/app", "/opt/app/tool", "/opt/app/abs", "/root/implicit"} {
					if _, m := timesOf(t, fsys, name); !m.Equal(copyTime) {
						t.Errorf("%s: mtime %v, want %v", name, m, copyTime)
					}
				}
			})
		})
	}
}

func TestTarInHostile(t *testing.T) {
	f := func(name, data string) tarEntry { return tarEntry{kind: "f", name: name, mode: 0o644, data: data} }
	l := func(name, target string) tarEntry { return tarEntry{kind: "l", name: name, data: target} }
	many := []tarEntry{}
	for i := range 20 {
		many = append(many, f("f"+strings.Repeat("x", i), "x"))
	}
	for _, tc := range []struct {
		name    string
		entries []tarEntry
		opts    TreeOptions
		targets []error
	}{
		{"a .. name", []tarEntry{f("../escape", "x")}, TreeOptions{}, []error{ErrUnsafe, vfs.ErrEscapesRoot}},
		{"a climb after cleaning", []tarEntry{f("a/../../escape", "x")}, TreeOptions{}, []error{ErrUnsafe, vfs.ErrEscapesRoot}},
		{"an absolute name", []tarEntry{f("/etc/passwd", "x")}, TreeOptions{}, []error{ErrUnsafe}},
		{"a file through a link the archive made", []tarEntry{l("a", "/etc"), f("a/passwd", "root::0:0::/:/bin/sh\n")}, TreeOptions{}, []error{ErrUnsafe, vfs.ErrIsSymlink}},
		{"a file through a climbing link", []tarEntry{l("a", "../../.."), f("a/etc/passwd", "x")}, TreeOptions{}, []error{ErrUnsafe, vfs.ErrIsSymlink}},
		{"a file through a guest link to the host", []tarEntry{f("evil/passwd", "x")}, TreeOptions{}, []error{ErrUnsafe, vfs.ErrIsSymlink}},
		{"a directory over a guest link", []tarEntry{{kind: "d", name: "evil/", mode: 0o755}}, TreeOptions{}, []error{ErrExists}},
		{"a file over a guest link", []tarEntry{f("evil", "x")}, TreeOptions{Replace: true}, []error{ErrExists}},
		{"a file over a guest file", []tarEntry{f("motd", "x")}, TreeOptions{}, []error{ErrExists}},
		{"a file below a guest file", []tarEntry{f("motd/x", "x")}, TreeOptions{}, []error{vfs.ErrNotDir}},
		{"a hard link", []tarEntry{f("a", "x"), {kind: "h", name: "b", data: "a"}}, TreeOptions{}, []error{ErrUnsupported}},
		{"a hard link to nothing", []tarEntry{{kind: "h", name: "b", data: "a"}}, TreeOptions{AllowHardLinks: true}, []error{ErrInvalidSpec}},
		{"a hard link out", []tarEntry{{kind: "h", name: "b", data: "../../etc/shadow"}}, TreeOptions{AllowHardLinks: true}, []error{ErrUnsafe}},
		{"a device", []tarEntry{{kind: "c", name: "null", mode: 0o666}}, TreeOptions{}, []error{ErrUnsupported, vfs.ErrNotRegular}},
		{"a FIFO", []tarEntry{{kind: "p", name: "fifo", mode: 0o666}}, TreeOptions{}, []error{ErrUnsupported, vfs.ErrNotRegular}},
		{"a name twice", []tarEntry{f("a", "1"), f("a", "2")}, TreeOptions{}, []error{ErrConflict}},
		{"a link then a directory", []tarEntry{l("a", "/etc"), {kind: "d", name: "a/", mode: 0o755}}, TreeOptions{}, []error{ErrConflict}},
		{"over the entry bound", many, TreeOptions{MaxEntries: 10}, []error{vfs.ErrTooLarge}},
		{"over the byte bound", []tarEntry{f("a", "12345"), f("b", "6789")}, TreeOptions{MaxBytes: 8}, []error{vfs.ErrTooLarge}},
		{"hard links count bytes again", []tarEntry{f("a", "12345"), {kind: "h", name: "b", data: "a"}}, TreeOptions{MaxBytes: 8, AllowHardLinks: true}, []error{vfs.ErrTooLarge}},
		{"a file as the destination", []tarEntry{f(".", "x")}, TreeOptions{}, []error{ErrInvalidSpec}},
		{"an empty symlink target", []tarEntry{l("a", "")}, TreeOptions{}, []error{ErrInvalidSpec}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			forEachBackend(t, func(t *testing.T, open func(*testing.T, string) vfs.FS) {
				fsys := open(t, opsLayout)
				op := TarIn{Reader: bytes.NewReader(tarOf(t, tar.FormatPAX, tc.entries...)), Dir: "/etc", TreeOptions: tc.opts}
				ie := wantPlanErr(t, fsys, Spec{Operations: []Operation{{TarIn: &op}}}, tc.targets...)
				if ie.Item.Name != "tar-in" {
					t.Errorf("error names %s", ie.Item)
				}
			})
		})
	}
}

func TestTarInBrokenArchives(t *testing.T) {
	good := tarOf(t, tar.FormatPAX, tarEntry{kind: "f", name: "a", mode: 0o644, data: strings.Repeat("x", 2000)})
	for name, data := range map[string][]byte{
		"truncated":      good[:1024],
		"garbage":        bytes.Repeat([]byte("not a tar "), 100),
		"truncated gzip": gzipped(t, good)[:30],
	} {
		t.Run(name, func(t *testing.T) {
			wantPlanErr(t, openMemGuest(t, opsLayout), Spec{Operations: []Operation{{TarIn: &TarIn{Reader: bytes.NewReader(data), Dir: "/root"}}}}, ErrInvalidSpec)
		})
	}
	wantPlanErr(t, openMemGuest(t, opsLayout), Spec{Operations: []Operation{{TarIn: &TarIn{Dir: "/root"}}}}, ErrInvalidSpec)
}

// An allowed hard link is a second file with the same content.
func TestTarInHardLinkAllowed(t *testing.T) {
	fsys := openMemGuest(t, opsLayout)
	archive := tarOf(t, tar.FormatGNU, tarEntry{kind: "f", name: "a", mode: 0o600, data: "shared"}, tarEntry{kind: "h", name: "b", data: "./a"})
	got, _ := applyDiff(t, fsys, Spec{Operations: []Operation{{TarIn: &TarIn{Reader: bytes.NewReader(archive), Dir: "/root", TreeOptions: TreeOptions{AllowHardLinks: true}}}}})
	wantTreeDiff(t, map[string]node{"/root/a": {Mode: 0o600, Data: "shared"}, "/root/b": {Mode: 0o600, Data: "shared"}}, got)
}

// FuzzTarIn plans archives built by the fuzzer into /dst: planning never
// panics or writes, and a plan that applies changes nothing outside /dst.
func FuzzTarIn(f *testing.F) {
	f.Add(tarOf(f, tar.FormatPAX, tarEntry{kind: "d", name: "a/", mode: 0o755}, tarEntry{kind: "f", name: "a/b", mode: 0o644, data: "x"}))
	f.Add(tarOf(f, tar.FormatGNU, tarEntry{kind: "l", name: "a", data: "/etc"}, tarEntry{kind: "f", name: "a/passwd", mode: 0o644, data: "x"}))
	f.Add(tarOf(f, tar.FormatUSTAR, tarEntry{kind: "f", name: "../x", mode: 0o644}))
	f.Add(tarOf(f, tar.FormatGNU, tarEntry{kind: "f", name: "a", mode: 0o644, data: "y"}, tarEntry{kind: "h", name: "b", data: "a"}))
	f.Add(tarOf(f, tar.FormatPAX, tarEntry{kind: "l", name: "up", data: ".."}, tarEntry{kind: "d", name: "up/x/", mode: 0o755}))
	f.Add(gzipped(f, tarOf(f, tar.FormatPAX, tarEntry{kind: "d", name: "./", mode: 0o700}, tarEntry{kind: "f", name: "x/y", mode: 0o4755, data: "z"})))
	f.Fuzz(func(t *testing.T, data []byte) {
		fsys := openMemGuest(t, opsLayout+"d /dst\n")
		before := snapshot(t, fsys)
		plan, err := NewPlan(context.Background(), fsys, Spec{Operations: []Operation{{TarIn: &TarIn{
			Reader: bytes.NewReader(data), Dir: "/dst",
			TreeOptions: TreeOptions{MaxEntries: 200, MaxBytes: 1 << 20, AllowHardLinks: true, Replace: true, KeepOwners: true},
		}}}})
		mid := snapshot(t, fsys)
		if d := diffTrees(before, mid); len(d) != 0 {
			t.Fatalf("planning wrote: %v", d)
		}
		if err != nil {
			var ie *ItemError
			if !errors.As(err, &ie) {
				t.Fatalf("error %v is not an *ItemError", err)
			}
			return
		}
		if _, err := plan.Apply(context.Background(), fsys); err != nil {
			t.Fatalf("Apply of a valid plan: %v", err)
		}
		for p := range diffTrees(before, snapshot(t, fsys)) {
			if p != "/dst" && !strings.HasPrefix(p, "/dst/") {
				t.Fatalf("the archive changed %s, outside /dst", p)
			}
		}
	})
}

// Later operations read what a copy brings: the content is read again,
// from the spool or the host, while planning.
func TestTreeCopyThenEdit(t *testing.T) {
	host := hostTree(t, copyTime, "c/ 0755", "c/conf 0644 port=80\n")
	archive := tarOf(t, tar.FormatPAX, tarEntry{kind: "f", name: "t/conf", mode: 0o600, data: "port=80\n"})
	fsys := openMemGuest(t, opsLayout)
	got, _ := applyDiff(t, fsys, Spec{Operations: []Operation{
		{TarIn: &TarIn{Reader: bytes.NewReader(archive), Dir: "/root"}},
		{Edit: &Edit{Path: "/root/t/conf", Pattern: "80", Replacement: "8080"}},
		{AppendLine: &AppendLine{Path: "/root/t/conf", Line: "host=a"}},
		{CopyIn: &CopyIn{Source: filepath.Join(host, "c"), Dir: "/root"}},
		{AppendLine: &AppendLine{Path: "/root/c/conf", Line: "host=b"}},
		{Edit: &Edit{Path: "/root/c/conf", Pattern: "host", Replacement: "name"}},
	}})
	wantTreeDiff(t, map[string]node{
		"/root/t":      {Mode: fs.ModeDir | 0o755},
		"/root/t/conf": {Mode: 0o600, Data: "port=8080\nhost=a\n"},
		"/root/c":      {Mode: fs.ModeDir | 0o755},
		"/root/c/conf": {Mode: 0o644, Data: "port=80\nname=b\n"},
	}, got)
}

// A directory named twice takes the later entry's mode, as tar would.
func TestTarInDirectoryTwice(t *testing.T) {
	fsys := openMemGuest(t, opsLayout)
	archive := tarOf(t, tar.FormatPAX,
		tarEntry{kind: "d", name: "d/", mode: 0o700},
		tarEntry{kind: "f", name: "d/f", mode: 0o644, data: "x"},
		tarEntry{kind: "d", name: "d/", mode: 0o755},
	)
	got, _ := applyDiff(t, fsys, Spec{Operations: []Operation{{TarIn: &TarIn{Reader: bytes.NewReader(archive), Dir: "/root"}}}})
	wantTreeDiff(t, map[string]node{"/root/d": {Mode: fs.ModeDir | 0o755}, "/root/d/f": {Mode: 0o644, Data: "x"}}, got)
}

// A destination reached through a guest link to a host path is looked
// for in the root, where it is missing: nothing on the host is touched.
func TestTarInDestinationUnderHostLink(t *testing.T) {
	forEachBackend(t, func(t *testing.T, open func(*testing.T, string) vfs.FS) {
		fsys := open(t, opsLayout)
		archive := tarOf(t, tar.FormatPAX, tarEntry{kind: "f", name: "passwd", mode: 0o644, data: "owned"})
		wantPlanErr(t, fsys, Spec{Operations: []Operation{{TarIn: &TarIn{Reader: bytes.NewReader(archive), Dir: "/etc/evil-dir", TreeOptions: TreeOptions{Replace: true}}}}}, fs.ErrNotExist)
	})
}
