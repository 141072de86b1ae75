package inject

import (
	"context"
	"errors"
	"io/fs"
	"strings"
	"testing"
	"testing/iotest"

	"github.com/guestinject/guestinject/vfs"
)

func TestFiles(t *testing.T) {
	forEachBackend(t, func(t *testing.T, open func(*testing.T, string) vfs.FS) {
		fsys := open(t, debianLayout+`
d /usr/local/bin
f /usr/local/bin/tool mode=0755 owner=0:0 data="old"
f /etc/motd mode=0600 owner=0:0 data="hello\n"
f /etc/keep data="mine"
d /opt/link-target
l /opt/link target=/opt/link-target
`)
		got, rep := applyDiff(t, fsys, Spec{Files: []File{
			{Path: "/usr/local/bin/tool", Content: []byte("new"), Mode: 0o4750, User: "alice", Group: "staff"},
			{Path: "/srv/app/conf/app.conf", Content: []byte("a=1\n"), ParentMode: 0o750, UID: 1000},
			{Path: "/etc/motd", Content: []byte("more\n"), IfExists: AppendExisting},
			{Path: "/etc/keep", Content: []byte("theirs"), IfExists: KeepExisting},
			{Path: "/opt/link/streamed", Source: strings.NewReader(strings.Repeat("x", 100000)), Mode: 0o600},
		}})
		wantTreeDiff(t, map[string]node{
			"/usr/local/bin/tool":       {Mode: fs.ModeSetuid | 0o750, UID: 1000, GID: 50, Data: "new"},
			"/srv":                      {Mode: fs.ModeDir | 0o750},
			"/srv/app":                  {Mode: fs.ModeDir | 0o750},
			"/srv/app/conf":             {Mode: fs.ModeDir | 0o750},
			"/srv/app/conf/app.conf":    {Mode: 0o644, UID: 1000, Data: "a=1\n"},
			"/etc/motd":                 {Mode: 0o600, Data: "hello\nmore\n"},
			"/opt/link-target/streamed": {Mode: 0o600, Data: strings.Repeat("x", 100000)},
		}, got)
		var summary []string
		for _, c := range rep.Changes {
			summary = append(summary, string(c.Action)+" "+c.Path+" "+OctalMode(c.Mode))
		}
		want := []string{
			"replace /usr/local/bin/tool 0755", "chown /usr/local/bin/tool 0755", "chmod /usr/local/bin/tool 4750",
			"mkdir /srv 0750", "mkdir /srv/app 0750", "mkdir /srv/app/conf 0750", "create /srv/app/conf/app.conf 0644",
			"append /etc/motd 0600", "keep /etc/keep 0644", "create /opt/link/streamed 0600",
		}
		if strings.Join(summary, "\n") != strings.Join(want, "\n") {
			t.Errorf("report:\n%s\nwant:\n%s", strings.Join(summary, "\n"), strings.Join(want, "\n"))
		}
		if last := rep.Changes[len(rep.Changes)-1]; last.Size != 100000 {
			t.Errorf("streamed file size in report = %d", last.Size)
		}
	})
}

func TestFilesRefusals(t *testing.T) {
	forEachBackend(t, func(t *testing.T, open func(*testing.T, string) vfs.FS) {
		layout := debianLayout + "f /etc/exists data=x\nl /etc/link target=/etc/passwd\np /etc/fifo\nc /etc/null dev=1:3\nf /etc/notdir data=x\n"
		cases := []struct {
			name string
			file File
			want []error
		}{
			{"relative", File{Path: "etc/x"}, []error{ErrInvalidSpec, vfs.ErrInvalidPath}},
			{"dot-dot", File{Path: "/etc/../x"}, []error{ErrInvalidSpec, vfs.ErrInvalidPath}},
			{"exists and fail", File{Path: "/etc/exists", IfExists: FailExisting}, []error{ErrExists}},
			{"final symlink", File{Path: "/etc/link"}, []error{ErrUnsafe, vfs.ErrIsSymlink}},
			{"fifo", File{Path: "/etc/fifo"}, []error{ErrUnsafe, vfs.ErrNotRegular}},
			{"device", File{Path: "/etc/null"}, []error{ErrUnsafe, vfs.ErrNotRegular}},
			{"directory", File{Path: "/etc"}, []error{ErrUnsafe, vfs.ErrIsDir}},
			{"parent is a file", File{Path: "/etc/notdir/x"}, []error{vfs.ErrNotDir}},
			{"unknown owner", File{Path: "/etc/y", User: "mallory"}, []error{ErrNoUser}},
			{"unknown group", File{Path: "/etc/y", Group: "nogroup"}, []error{ErrNoUser}},
			{"mode with type bits", File{Path: "/etc/y", Mode: fs.ModeDir | 0o755}, []error{ErrInvalidSpec}},
		}
		for _, c := range cases {
			t.Run(c.name, func(t *testing.T) {
				wantPlanErr(t, open(t, layout), Spec{Files: []File{c.file}}, c.want...)
			})
		}
		t.Run("two items, one path", func(t *testing.T) {
			wantPlanErr(t, open(t, layout), Spec{Hostname: "vm", Files: []File{{Path: "/etc/hostname"}}}, ErrConflict)
		})
	})
}

func TestFilesStreamErrorStopsApply(t *testing.T) {
	forEachBackend(t, func(t *testing.T, open func(*testing.T, string) vfs.FS) {
		fsys := open(t, debianLayout)
		boom := errors.New("source failed")
		rep, err := Apply(context.Background(), fsys, Spec{Files: []File{
			{Path: "/etc/first", Content: []byte("1")},
			{Path: "/etc/second", Source: iotest.ErrReader(boom)},
			{Path: "/etc/third", Content: []byte("3")},
		}})
		var ie *ItemError
		if !errors.Is(err, boom) || !errors.As(err, &ie) || ie.Item != (Item{Field: FieldFiles, Index: 1}) || ie.Path != "/etc/second" {
			t.Fatalf("Apply error = %v, want the source's error for files[1] /etc/second", err)
		}
		if len(rep.Changes) != 1 || rep.Changes[0].Path != "/etc/first" {
			t.Errorf("report lists %+v, want only /etc/first", rep.Changes)
		}
		if len(rep.NotMade) != 2 || rep.NotMade[0].Path != "/etc/second" || rep.NotMade[0].Size != -1 || rep.NotMade[1].Path != "/etc/third" {
			t.Errorf("report says %+v were not made, want /etc/second (size unknown) and /etc/third", rep.NotMade)
		}
		for p, want := range map[string]bool{"/etc/first": true, "/etc/second": false, "/etc/third": false} {
			if _, err := fsys.Lstat(context.Background(), p); (err == nil) != want {
				t.Errorf("%s exists = %v, want %v", p, err == nil, want)
			}
		}
	})
}

func TestFilesMaxSize(t *testing.T) {
	forEachBackend(t, func(t *testing.T, open func(*testing.T, string) vfs.FS) {
		fsys := open(t, debianLayout)
		_, err := Apply(context.Background(), fsys, Spec{Files: []File{{Path: "/etc/big", Source: strings.NewReader("0123456789"), MaxSize: 5}}})
		if !errors.Is(err, vfs.ErrTooLarge) {
			t.Fatalf("Apply = %v, want ErrTooLarge", err)
		}
	})
}

func TestHostnameAndMetadata(t *testing.T) {
	forEachBackend(t, func(t *testing.T, open func(*testing.T, string) vfs.FS) {
		fsys := open(t, debianLayout)
		spec := Spec{Hostname: "vm-1.example.org", Metadata: map[string]string{"role": "web", "az": "nova"}}
		got, _ := applyDiff(t, fsys, spec)
		wantTreeDiff(t, map[string]node{
			"/etc/hostname": {Mode: 0o644, Data: "vm-1.example.org\n"},
			"/etc/hosts":    {Mode: 0o644, Data: "127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost\n127.0.1.1\tvm-1.example.org\n"},
			"/meta.js":      {Mode: 0o644, Data: `{"az":"nova","role":"web"}`},
		}, got)
		got, rep := applyDiff(t, fsys, spec)
		wantTreeDiff(t, map[string]node{}, got)
		for _, c := range rep.Changes {
			if c.Path != "/meta.js" && c.Action != ActionKeep {
				t.Errorf("second run changed %s (%s)", c.Path, c.Action)
			}
		}
		for _, bad := range []string{"-x", "a..b", "under_score", strings.Repeat("a", 64), "a b"} {
			wantPlanErr(t, fsys, Spec{Hostname: bad}, ErrInvalidSpec)
		}
	})
}
