package inject

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/guestinject/guestinject/internal/testsupport/testimage"
	"github.com/guestinject/guestinject/vfs"
)

// hostTree builds a host tree under a new directory from "PATH MODE
// [data|->target]" lines (MODE octal; a trailing / on PATH makes a
// directory) and gives every node the modification time mtime.
func hostTree(t *testing.T, mtime time.Time, lines ...string) string {
	t.Helper()
	base := t.TempDir()
	var all []string
	for _, l := range lines {
		f := strings.SplitN(l, " ", 3)
		name := filepath.Join(base, strings.TrimSuffix(f[0], "/"))
		var mode uint64
		fmt.Sscanf(f[1], "%o", &mode)
		switch {
		case strings.HasSuffix(f[0], "/"):
			if err := os.Mkdir(name, 0o755); err != nil {
				t.Fatal(err)
			}
		case len(f) == 3 && strings.HasPrefix(f[2], "->"):
			if err := os.Symlink(strings.TrimPrefix(f[2], "->"), name); err != nil {
				t.Fatal(err)
			}
			all = append(all, name)
			continue
		default:
			data := ""
			if len(f) == 3 {
				data = f[2]
			}
			if err := os.WriteFile(name, []byte(data), 0o600); err != nil {
				t.Fatal(err)
			}
		}
		if err := unix.Chmod(name, uint32(mode)); err != nil {
			t.Fatal(err)
		}
		all = append(all, name)
	}
	// Deepest first, so a directory's time is set after its children.
	for i := len(all) - 1; i >= 0; i-- {
		ts := []unix.Timeval{unix.NsecToTimeval(mtime.UnixNano()), unix.NsecToTimeval(mtime.UnixNano())}
		if err := unix.Lutimes(all[i], ts); err != nil {
			t.Fatal(err)
		}
	}
	return base
}

var copyTime = time.Date(2020, 2, 3, 4, 5, 6, 0, time.UTC)

func TestCopyIn(t *testing.T) {
	forEachBackend(t, func(t *testing.T, open func(*testing.T, string) vfs.FS) {
		host := hostTree(t, copyTime,
			"app/ 0750",
			"app/bin/ 0755",
			"app/bin/tool 04755 #!/bin/sh",
			"app/app.conf 0640 listen=80",
			"app/empty 0600",
			"app/abs 0777 ->/etc/shadow",
			"app/rel 0777 ->../app.conf",
			"app/host 0777 ->"+t.TempDir(),
			"app/sub/ 02775",
		)
		if err := os.Lchown(filepath.Join(host, "app/app.conf"), 1000, 50); err != nil {
			t.Fatal(err)
		}
		fsys := open(t, opsLayout)
		got, rep := applyDiff(t, fsys, Spec{Operations: []Operation{
			{CopyIn: &CopyIn{Source: filepath.Join(host, "app"), Dir: "/home"}},
			{CopyIn: &CopyIn{Source: filepath.Join(host, "app/app.conf"), Dir: "/etc", TreeOptions: TreeOptions{KeepOwners: true}}},
		}})
		wantTreeDiff(t, map[string]node{
			"/home/app":          {Mode: fs.ModeDir | 0o750},
			"/home/app/bin":      {Mode: fs.ModeDir | 0o755},
			"/home/app/bin/tool": {Mode: fs.ModeSetuid | 0o755, Data: "#!/bin/sh"},
			"/home/app/app.conf": {Mode: 0o640, Data: "listen=80"},
			"/home/app/empty":    {Mode: 0o600},
			"/home/app/abs":      {Mode: fs.ModeSymlink | 0o777, Target: "/etc/shadow"},
			"/home/app/rel":      {Mode: fs.ModeSymlink | 0o777, Target: "../app.conf"},
			"/home/app/host":     {Mode: fs.ModeSymlink | 0o777, Target: fsysTarget(t, fsys, "/home/app/host")},
			"/home/app/sub":      {Mode: fs.ModeDir | fs.ModeSetgid | 0o775},
			"/etc/app.conf":      {Mode: 0o640, UID: 1000, GID: 50, Data: "listen=80"},
		}, got)
		if target := fsysTarget(t, fsys, "/home/app/host"); !strings.HasPrefix(target, os.TempDir()) {
			t.Errorf("host link stored as %q, want the host path as given", target)
		}
		for _, name := range []string{"/home/app", "/home/app/bin/tool", "/home/app/abs", "/home/app/sub", "/etc/app.conf"} {
			if _, m := timesOf(t, fsys, name); !m.Equal(copyTime) {
				t.Errorf("%s: mtime %v, want %v", name, m, copyTime)
			}
		}
		// Times come last, after every node is made.
		last := ActionMkdir
		for _, c := range rep.Changes {
			if c.Item.Index == 0 && last == ActionSetTimes && c.Action != ActionSetTimes {
				t.Errorf("%s %s after the times", c.Action, c.Path)
			}
			if c.Item.Index == 0 {
				last = c.Action
			}
		}
	})
}

// A symlink in the host tree is copied as a link: what it points at, a
// host directory full of files here, is never read.
func TestCopyInNeverFollowsHostLinks(t *testing.T) {
	outside := hostTree(t, copyTime, "secret 0600 do not copy", "many/ 0755")
	for i := range 50 {
		if err := os.WriteFile(filepath.Join(outside, "many", fmt.Sprint(i)), nil, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	host := hostTree(t, copyTime, "tree/ 0755", "tree/out 0777 ->"+outside, "tree/up 0777 ->../../..")
	fsys := openMemGuest(t, opsLayout)
	got, _ := applyDiff(t, fsys, Spec{Operations: []Operation{{CopyIn: &CopyIn{Source: filepath.Join(host, "tree"), Dir: "/root", TreeOptions: TreeOptions{MaxEntries: 3}}}}})
	wantTreeDiff(t, map[string]node{
		"/root/tree":     {Mode: fs.ModeDir | 0o755},
		"/root/tree/out": {Mode: fs.ModeSymlink | 0o777, Target: outside},
		"/root/tree/up":  {Mode: fs.ModeSymlink | 0o777, Target: "../../.."},
	}, got)
}

func TestCopyInRefusals(t *testing.T) {
	base := hostTree(t, copyTime,
		"tree/ 0755", "tree/a 0644 a", "tree/d/ 0755", "tree/d/b 0644 b",
		"one 0644 1",
		"big/ 0755", "big/f 0644 0123456789",
	)
	fifoTree := hostTree(t, copyTime, "t/ 0755", "t/a 0644 a")
	if err := unix.Mkfifo(filepath.Join(fifoTree, "t/fifo"), 0o644); err != nil {
		t.Fatal(err)
	}
	devTree := hostTree(t, copyTime, "t/ 0755")
	if os.Geteuid() == 0 {
		if err := unix.Mknod(filepath.Join(devTree, "t/null"), unix.S_IFCHR|0o666, int(unix.Mkdev(1, 3))); err != nil {
			t.Fatal(err)
		}
	}
	linkTree := hostTree(t, copyTime, "t/ 0755", "t/a 0644 shared")
	if err := os.Link(filepath.Join(linkTree, "t/a"), filepath.Join(linkTree, "t/b")); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name    string
		op      CopyIn
		targets []error
	}{
		{"a destination under a link to the host", CopyIn{Source: filepath.Join(base, "tree"), Dir: "/etc/evil-dir"}, []error{fs.ErrNotExist}},
		{"a missing destination", CopyIn{Source: filepath.Join(base, "tree"), Dir: "/nowhere"}, []error{fs.ErrNotExist}},
		{"a file as destination", CopyIn{Source: filepath.Join(base, "tree"), Dir: "/etc/motd"}, []error{vfs.ErrNotDir}},
		{"an unclean destination", CopyIn{Source: filepath.Join(base, "tree"), Dir: "/etc/../root"}, []error{ErrInvalidSpec}},
		{"a missing source", CopyIn{Source: filepath.Join(base, "none"), Dir: "/root"}, []error{fs.ErrNotExist}},
		{"the host root", CopyIn{Source: "/", Dir: "/root"}, []error{ErrInvalidSpec}},
		{"a FIFO in the tree", CopyIn{Source: filepath.Join(fifoTree, "t"), Dir: "/root"}, []error{ErrUnsupported, vfs.ErrNotRegular}},
		{"a FIFO as the source", CopyIn{Source: filepath.Join(fifoTree, "t/fifo"), Dir: "/root"}, []error{ErrUnsupported}},
		{"a hard link", CopyIn{Source: filepath.Join(linkTree, "t"), Dir: "/root"}, []error{ErrUnsupported}},
		{"over the entry bound", CopyIn{Source: filepath.Join(base, "tree"), Dir: "/root", TreeOptions: TreeOptions{MaxEntries: 3}}, []error{vfs.ErrTooLarge}},
		{"over the byte bound", CopyIn{Source: filepath.Join(base, "big"), Dir: "/root", TreeOptions: TreeOptions{MaxBytes: 9}}, []error{vfs.ErrTooLarge}},
		{"a bound out of range", CopyIn{Source: filepath.Join(base, "big"), Dir: "/root", TreeOptions: TreeOptions{MaxEntries: -1}}, []error{ErrInvalidSpec}},
		{"an unknown times policy", CopyIn{Source: filepath.Join(base, "big"), Dir: "/root", TreeOptions: TreeOptions{Times: "sometimes"}}, []error{ErrInvalidSpec}},
		{"an existing file", CopyIn{Source: filepath.Join(base, "one"), Dir: "/home/alice"}, []error{ErrExists}},
		{"a guest link where the source has a directory", CopyIn{Source: filepath.Join(base, "tree"), Dir: "/home/alice"}, []error{ErrExists}},
		{"a guest link below a merged directory", CopyIn{Source: filepath.Join(base, "tree"), Dir: "/home/bob"}, []error{ErrExists}},
		{"a guest FIFO in the way", CopyIn{Source: filepath.Join(base, "one"), Dir: "/var"}, []error{ErrExists}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			forEachBackend(t, func(t *testing.T, open func(*testing.T, string) vfs.FS) {
				fsys := open(t, opsLayout+`
f /home/alice/one data="guest"
l /home/alice/tree target={{canary}}
d /home/bob/tree
l /home/bob/tree/d target={{canary}}
p /var/one
`)
				ie := wantPlanErr(t, fsys, Spec{Operations: []Operation{{CopyIn: &tc.op}}}, tc.targets...)
				if ie.Item.Name != "copy-in" {
					t.Errorf("error names %s", ie.Item)
				}
				var le *LimitError
				if errors.Is(ie, vfs.ErrTooLarge) && !errors.As(ie, &le) {
					t.Errorf("%v is not a *LimitError", ie)
				}
			})
		})
	}
	t.Run("a device node", func(t *testing.T) {
		if os.Geteuid() != 0 {
			testimage.Need(t, "root (mknod)")
		}
		wantPlanErr(t, openMemGuest(t, opsLayout), Spec{Operations: []Operation{{CopyIn: &CopyIn{Source: filepath.Join(devTree, "t"), Dir: "/root"}}}}, ErrUnsupported, vfs.ErrNotRegular)
	})
}

// Replace replaces a regular file and merges into existing directories;
// AllowHardLinks copies a second name as a separate file.
func TestCopyInReplaceAndHardLinks(t *testing.T) {
	host := hostTree(t, copyTime, "home/ 0700", "home/alice/ 0700", "home/alice/one 0600 host", "home/alice/new 0644 new")
	if err := os.Link(filepath.Join(host, "home/alice/one"), filepath.Join(host, "home/alice/two")); err != nil {
		t.Fatal(err)
	}
	forEachBackend(t, func(t *testing.T, open func(*testing.T, string) vfs.FS) {
		fsys := open(t, opsLayout+`
f /home/alice/one mode=0644 owner=1000:1000 data="guest"
`)
		got, _ := applyDiff(t, fsys, Spec{Operations: []Operation{{CopyIn: &CopyIn{Source: filepath.Join(host, "home"), Dir: "/", TreeOptions: TreeOptions{Replace: true, AllowHardLinks: true, Times: TimesIgnored}}}}})
		wantTreeDiff(t, map[string]node{
			"/home/alice/one": {Mode: 0o600, Data: "host"},
			"/home/alice/two": {Mode: 0o600, Data: "host"},
			"/home/alice/new": {Mode: 0o644, Data: "new"},
		}, got)
		// The existing directories keep their own mode, owner and times.
		if info, err := fsys.Lstat(context.Background(), "/home/alice"); err != nil || info.Mode() != fs.ModeDir|0o755 {
			t.Errorf("/home/alice: %v %v", info.Mode(), err)
		}
	})
}

// A host file that changes between plan and Apply fails the Apply.
func TestCopyInSourceChanged(t *testing.T) {
	for name, change := range map[string]func(t *testing.T, file string){
		"grown": func(t *testing.T, file string) {
			f, err := os.OpenFile(file, os.O_APPEND|os.O_WRONLY, 0)
			if err != nil {
				t.Fatal(err)
			}
			f.WriteString("more")
			f.Close()
		},
		"same size, new time": func(t *testing.T, file string) {
			if err := os.WriteFile(file, []byte("CHANGED"), 0o644); err != nil {
				t.Fatal(err)
			}
		},
		"replaced by a link": func(t *testing.T, file string) {
			os.Remove(file)
			if err := os.Symlink("/etc/shadow", file); err != nil {
				t.Fatal(err)
			}
		},
	} {
		t.Run(name, func(t *testing.T) {
			host := hostTree(t, copyTime, "t/ 0755", "t/f 0644 changed")
			fsys := openMemGuest(t, opsLayout)
			plan, err := NewPlan(context.Background(), fsys, Spec{Operations: []Operation{{CopyIn: &CopyIn{Source: filepath.Join(host, "t"), Dir: "/root"}}}})
			if err != nil {
				t.Fatal(err)
			}
			change(t, filepath.Join(host, "t/f"))
			_, err = plan.Apply(context.Background(), fsys)
			if !errors.Is(err, ErrSourceChanged) {
				t.Fatalf("Apply = %v, want ErrSourceChanged", err)
			}
			if _, err := fsys.Lstat(context.Background(), "/root/t/f"); !errors.Is(err, fs.ErrNotExist) {
				t.Errorf("the changed file was written: %v", err)
			}
		})
	}
}

// timeless hides memfs's Lchtimes.
type timeless struct{ vfs.SymlinkFS }

func TestCopyInTimesPolicy(t *testing.T) {
	host := hostTree(t, copyTime, "t/ 0755", "t/f 0644 x")
	spec := func(p TimesPolicy) Spec {
		return Spec{Operations: []Operation{{CopyIn: &CopyIn{Source: filepath.Join(host, "t"), Dir: "/root", TreeOptions: TreeOptions{Times: p}}}}}
	}
	fsys := timeless{openMemGuest(t, opsLayout).(vfs.SymlinkFS)}
	wantPlanErr(t, fsys, spec(TimesRequired), ErrUnsupported)
	rep, err := Apply(context.Background(), fsys, spec(TimesIfSupported))
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range rep.Changes {
		if c.Action == ActionSetTimes || c.Detail != "times not kept: the backend cannot set them" {
			t.Errorf("change %s %s (%s), want the note and no times", c.Action, c.Path, c.Detail)
		}
	}
	rep, err = Apply(context.Background(), openMemGuest(t, opsLayout), spec(TimesIgnored))
	if err != nil || len(rep.Changes) != 2 {
		t.Errorf("ignored times: %v, %+v", err, rep)
	}
}

// Planning reads names and metadata only: a large host file costs no
// memory until Apply streams it.
func TestCopyInPlanDoesNotReadContent(t *testing.T) {
	host := hostTree(t, copyTime, "t/ 0755")
	big := filepath.Join(host, "t/big")
	if err := os.WriteFile(big, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(big, 1<<30); err != nil {
		t.Fatal(err)
	}
	fsys := openMemGuest(t, opsLayout)
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	plan, err := NewPlan(context.Background(), fsys, Spec{Operations: []Operation{{CopyIn: &CopyIn{Source: filepath.Join(host, "t"), Dir: "/root"}}}})
	runtime.ReadMemStats(&after)
	if err != nil {
		t.Fatal(err)
	}
	defer plan.Close()
	if grew := after.TotalAlloc - before.TotalAlloc; grew > 4<<20 {
		t.Errorf("planning a 1 GiB copy allocated %d bytes", grew)
	}
	var size int64
	for _, c := range plan.Changes() {
		if c.Path == "/root/t/big" && c.Action == ActionCreate {
			size = c.Size
		}
	}
	if size != 1<<30 {
		t.Errorf("planned size %d", size)
	}
}

// A tree far bigger than the bound fails fast, before the guest is
// touched, and a bound that fits lets it through.
func TestCopyInHugeTree(t *testing.T) {
	host := t.TempDir()
	for d := range 10 {
		dir := filepath.Join(host, "big", fmt.Sprint(d))
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		for f := range 500 {
			if err := os.WriteFile(filepath.Join(dir, fmt.Sprint(f)), nil, 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
	fsys := openMemGuest(t, opsLayout)
	start := time.Now()
	ie := wantPlanErr(t, fsys, Spec{Operations: []Operation{{CopyIn: &CopyIn{Source: filepath.Join(host, "big"), Dir: "/root", TreeOptions: TreeOptions{MaxEntries: 1000}}}}}, vfs.ErrTooLarge)
	var le *LimitError
	if !errors.As(ie, &le) || le.What != "entries" || le.Limit != 1000 {
		t.Errorf("error %v, want a *LimitError on 1000 entries", ie)
	}
	t.Logf("refused a 5011-entry tree at 1000 entries in %v", time.Since(start))
	rep, err := Apply(context.Background(), fsys, Spec{Operations: []Operation{{CopyIn: &CopyIn{Source: filepath.Join(host, "big"), Dir: "/root", TreeOptions: TreeOptions{MaxEntries: 5011, Times: TimesIgnored}}}}})
	if err != nil || len(rep.Changes) != 5011 {
		t.Errorf("within the bound: %v, %d changes", err, len(rep.Changes))
	}
}

// A source that is itself a symlink is copied as that link, as tar would
// archive it, never as what it points at.
func TestCopyInSourceLink(t *testing.T) {
	host := hostTree(t, copyTime, "dir/ 0755", "dir/secret 0600 s", "link 0777 ->dir")
	forEachBackend(t, func(t *testing.T, open func(*testing.T, string) vfs.FS) {
		fsys := open(t, opsLayout)
		got, _ := applyDiff(t, fsys, Spec{Operations: []Operation{{CopyIn: &CopyIn{Source: filepath.Join(host, "link"), Dir: "/root"}}}})
		wantTreeDiff(t, map[string]node{"/root/link": {Mode: fs.ModeSymlink | 0o777, Target: "dir"}}, got)
	})
}
