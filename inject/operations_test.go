package inject

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/guestinject/guestinject/vfs"
	"github.com/guestinject/guestinject/vfs/memfs"
)

// opsLayout is a guest with something for every operation, and hostile
// corners: links to the host canary, a FIFO, a device node.
const opsLayout = debianLayout + `
f /etc/motd mode=0600 owner=0:0 data="hello"
f /etc/issue mode=0640 owner=0:42 data="Debian\n"
f /etc/fstab data="# fstab\nproc /proc proc defaults 0 0\n"
f /usr/bin/tool mode=04755 owner=0:0 data="bin"
f /var/log/big data="0123456789"
d /var/cache/app
f /var/cache/app/a data="a"
d /var/cache/app/sub
f /var/cache/app/sub/b data="b"
l /var/cache/app/host target={{canary}}
l /var/cache/app/up target=../../../../..
l /etc/evil target={{canary}}/passwd
l /etc/evil-dir target={{canary}}
p /etc/fifo
`

func TestOperations(t *testing.T) {
	forEachBackend(t, func(t *testing.T, open func(*testing.T, string) vfs.FS) {
		fsys := open(t, opsLayout)
		got, rep := applyDiff(t, fsys, Spec{Operations: []Operation{
			{Delete: &Delete{Path: "/etc/evil"}},
			{Delete: &Delete{Path: "/var/cache/app", Recursive: true}},
			{Delete: &Delete{Path: "/etc/absent"}},
			{Mkdir: &Mkdir{Path: "/srv/www/data", Mode: 0o2750, User: "alice", Group: "staff"}},
			{Chmod: &Chmod{Path: "/etc/issue", Mode: 0o644}},
			{Chown: &Chown{Path: "/etc/evil-dir", UID: 1000, GID: 1000}},
			{Touch: &Touch{Path: "/etc/new-empty"}},
			{Touch: &Touch{Path: "/etc/motd"}},
			{Truncate: &Truncate{Path: "/var/log/big", Size: 4}},
			{Truncate: &Truncate{Path: "/etc/hostname", Size: 9}},
			{Write: &Write{Path: "/etc/issue", Content: []byte("Welcome\n")}},
			{AppendLine: &AppendLine{Path: "/etc/motd", Line: "world"}},
			{AppendLine: &AppendLine{Path: "/etc/fstab", Line: "proc /proc proc defaults 0 0"}},
			{Symlink: &Symlink{Path: "/etc/localtime", Target: "/usr/share/zoneinfo/UTC"}},
			{Move: &Move{From: "/usr/bin/tool", To: "/usr/bin/tool.old"}},
		}})
		wantTreeDiff(t, map[string]node{
			"/etc/evil":            {},
			"/var/cache/app":       {},
			"/var/cache/app/a":     {},
			"/var/cache/app/sub":   {},
			"/var/cache/app/sub/b": {},
			"/var/cache/app/host":  {},
			"/var/cache/app/up":    {},
			"/srv":                 {Mode: fs.ModeDir | 0o755},
			"/srv/www":             {Mode: fs.ModeDir | 0o755},
			"/srv/www/data":        {Mode: fs.ModeDir | fs.ModeSetgid | 0o750, UID: 1000, GID: 50},
			"/etc/issue":           {Mode: 0o644, GID: 42, Data: "Welcome\n"},
			"/etc/evil-dir":        {Mode: fs.ModeSymlink | 0o777, UID: 1000, GID: 1000, Target: fsysTarget(t, fsys, "/etc/evil-dir")},
			"/etc/new-empty":       {Mode: 0o644},
			"/var/log/big":         {Mode: 0o644, Data: "0123"},
			"/etc/hostname":        {Mode: 0o644, Data: "debian\n\x00\x00"},
			"/etc/motd":            {Mode: 0o600, Data: "hello\nworld\n"},
			"/etc/localtime":       {Mode: fs.ModeSymlink | 0o777, Target: "/usr/share/zoneinfo/UTC"},
			"/usr/bin/tool":        {},
			"/usr/bin/tool.old":    {Mode: fs.ModeSetuid | 0o755, Data: "bin"},
		}, got)
		// The report follows the spec: operation by operation, in order.
		last := -1
		for _, c := range rep.Changes {
			if c.Item.Field != FieldOperations {
				t.Fatalf("change %+v is not an operation's", c)
			}
			if c.Item.Index < last {
				t.Errorf("change %s for %s comes after operations[%d]", c.Item, c.Path, last)
			}
			last = c.Item.Index
		}
		var kept []string
		for _, c := range rep.Changes {
			if c.Action == ActionKeep {
				kept = append(kept, c.Item.String()+" "+c.Path)
			}
		}
		want := []string{"operations[2] (delete) /etc/absent", "operations[12] (append-line) /etc/fstab"}
		if d := cmp.Diff(want, kept); d != "" {
			t.Errorf("kept (-want +got):\n%s", d)
		}
		if c := rep.Changes[0]; c.Action != ActionDelete || c.Path != "/etc/evil" {
			t.Errorf("first change %+v, want the delete of /etc/evil", c)
		}
		// Children go before their directory.
		var deleted []string
		for _, c := range rep.Changes {
			if c.Item.Index == 1 {
				deleted = append(deleted, c.Path)
			}
		}
		wantDel := []string{"/var/cache/app/a", "/var/cache/app/host", "/var/cache/app/sub/b", "/var/cache/app/sub", "/var/cache/app/up", "/var/cache/app"}
		if d := cmp.Diff(wantDel, deleted); d != "" {
			t.Errorf("recursive delete order (-want +got):\n%s", d)
		}
	})
}

func fsysTarget(t *testing.T, fsys vfs.FS, name string) string {
	t.Helper()
	target, err := fsys.Readlink(context.Background(), name)
	if err != nil {
		t.Fatal(err)
	}
	return target
}

// TestOperationsOrdered checks that each operation sees the guest as the
// earlier ones leave it, and the phases after Operations do too.
func TestOperationsOrdered(t *testing.T) {
	forEachBackend(t, func(t *testing.T, open func(*testing.T, string) vfs.FS) {
		fsys := open(t, opsLayout)
		ops := []Operation{
			// A move, then a write to the new name; the directory a Files
			// entry made, moved, then appended to under its new name.
			{Move: &Move{From: "/etc/motd", To: "/etc/motd.orig"}},
			{Write: &Write{Path: "/etc/motd.orig", Content: []byte("replaced")}},
			{Move: &Move{From: "/opt/app", To: "/opt/app2"}},
			{AppendLine: &AppendLine{Path: "/opt/app2/app.conf", Line: "b=2"}},
			// A mkdir, then a file inside it.
			{Mkdir: &Mkdir{Path: "/etc/app.d"}},
			{Write: &Write{Path: "/etc/app.d/x.conf", Content: []byte("x\n")}},
			// A delete, then a create under the same name.
			{Delete: &Delete{Path: "/etc/fstab"}},
			{Symlink: &Symlink{Path: "/etc/fstab", Target: "/run/fstab"}},
			// A write, then an append-line to it.
			{Write: &Write{Path: "/etc/issue", Content: []byte("one")}},
			{AppendLine: &AppendLine{Path: "/etc/issue", Line: "two"}},
			// chown clears setuid; a chmod after it restores it.
			{Chown: &Chown{Path: "/usr/bin/tool", User: "alice"}},
			{Chmod: &Chmod{Path: "/usr/bin/tool", Mode: 0o4755}},
			// A tree made, then deleted: nothing is left of it.
			{Mkdir: &Mkdir{Path: "/tmpdir/a/b"}},
			{Touch: &Touch{Path: "/tmpdir/a/b/f"}},
			{Delete: &Delete{Path: "/tmpdir", Recursive: true}},
			// A symlink made, then a file written through it as a parent.
			{Symlink: &Symlink{Path: "/cfg", Target: "/etc/app.d"}},
			{Write: &Write{Path: "/cfg/y.conf", Content: []byte("y")}},
			// The hosts file the Hostname phase edits, changed first.
			{AppendLine: &AppendLine{Path: "/etc/hosts", Line: "192.0.2.7\tdb"}},
		}
		got, rep := applyDiff(t, fsys, Spec{
			Files:      []File{{Path: "/opt/app/app.conf", Content: []byte("a=1"), Mode: 0o600}},
			Operations: ops,
			Hostname:   "web1",
		})
		hosts := got["/etc/hosts"].Data
		if !strings.Contains(hosts, "192.0.2.7\tdb\n") || !strings.Contains(hosts, "web1") {
			t.Errorf("/etc/hosts = %q: want the appended line and the host name", hosts)
		}
		delete(got, "/etc/hosts")
		delete(got, "/etc/hostname")
		wantTreeDiff(t, map[string]node{
			"/etc/motd":          {},
			"/etc/motd.orig":     {Mode: 0o600, Data: "replaced"},
			"/opt":               {Mode: fs.ModeDir | 0o755},
			"/opt/app2":          {Mode: fs.ModeDir | 0o755},
			"/opt/app2/app.conf": {Mode: 0o600, Data: "a=1\nb=2\n"},
			"/etc/app.d":         {Mode: fs.ModeDir | 0o755},
			"/etc/app.d/x.conf":  {Mode: 0o644, Data: "x\n"},
			"/etc/app.d/y.conf":  {Mode: 0o644, Data: "y"},
			"/cfg":               {Mode: fs.ModeSymlink | 0o777, Target: "/etc/app.d"},
			"/etc/fstab":         {Mode: fs.ModeSymlink | 0o777, Target: "/run/fstab"},
			"/etc/issue":         {Mode: 0o640, GID: 42, Data: "one\ntwo\n"},
			"/usr/bin/tool":      {Mode: fs.ModeSetuid | 0o755, UID: 1000, GID: 1000, Data: "bin"},
		}, got)
		// Plan order, and so Report order, is Spec order: files, then
		// operations by index, then the host name.
		fields := []string{}
		for _, c := range rep.Changes {
			s := string(c.Item.Field)
			if c.Item.Field == FieldOperations {
				s = fmt.Sprint(c.Item.Index)
			}
			if len(fields) == 0 || fields[len(fields)-1] != s {
				fields = append(fields, s)
			}
		}
		want := []string{"files"}
		for i := range ops {
			want = append(want, fmt.Sprint(i))
		}
		want = append(want, "hostname")
		if d := cmp.Diff(want, fields); d != "" {
			t.Errorf("report order (-want +got):\n%s", d)
		}
	})
}

// TestOperationsLaterPhasesSeeThem: the phases after Operations plan
// against the guest as the operations leave it, refusals included.
func TestOperationsLaterPhasesSeeThem(t *testing.T) {
	forEachBackend(t, func(t *testing.T, open func(*testing.T, string) vfs.FS) {
		fsys := open(t, opsLayout)
		ie := wantPlanErr(t, fsys, Spec{
			Operations: []Operation{
				{Delete: &Delete{Path: "/etc/hostname"}},
				{Symlink: &Symlink{Path: "/etc/hostname", Target: "{{canary}}/passwd"}},
			},
			Hostname: "web1",
		}, ErrUnsafe, vfs.ErrIsSymlink)
		if ie.Item.Field != FieldHostname {
			t.Errorf("error names %s, want the hostname", ie.Item)
		}
	})
}

// TestOperationsInvalidLaterFailsWhole: a bad operation anywhere fails the
// whole plan, and nothing is written, not even what came before it.
func TestOperationsInvalidLaterFailsWhole(t *testing.T) {
	good := []Operation{
		{Mkdir: &Mkdir{Path: "/srv/new"}},
		{Write: &Write{Path: "/srv/new/f", Content: []byte("x")}},
		{Delete: &Delete{Path: "/etc/motd"}},
		{Move: &Move{From: "/etc/issue", To: "/etc/issue.net"}},
	}
	for _, tc := range []struct {
		name    string
		bad     Operation
		targets []error
	}{
		{"chmod of a deleted file", Operation{Chmod: &Chmod{Path: "/etc/motd", Mode: 0o600}}, []error{fs.ErrNotExist}},
		{"move onto an existing file", Operation{Move: &Move{From: "/etc/fstab", To: "/srv/new/f"}}, []error{ErrExists}},
		{"move of the moved-away name", Operation{Move: &Move{From: "/etc/issue", To: "/etc/x"}}, []error{fs.ErrNotExist}},
		{"write below a file", Operation{Write: &Write{Path: "/srv/new/f/g"}}, []error{vfs.ErrNotDir}},
		{"write with no parent", Operation{Write: &Write{Path: "/nowhere/f"}}, []error{fs.ErrNotExist}},
		{"two kinds", Operation{Touch: &Touch{Path: "/a"}, Write: &Write{Path: "/a"}}, []error{ErrInvalidSpec}},
		{"no kind", Operation{}, []error{ErrInvalidSpec}},
		{"unclean path", Operation{Touch: &Touch{Path: "/etc/../x"}}, []error{ErrInvalidSpec, vfs.ErrInvalidPath}},
		{"delete the root", Operation{Delete: &Delete{Path: "/", Recursive: true}}, []error{ErrInvalidSpec}},
		{"tree without recursive", Operation{Delete: &Delete{Path: "/srv"}}, []error{vfs.ErrNotEmpty}},
		{"move into itself", Operation{Move: &Move{From: "/srv", To: "/srv/new/srv"}}, []error{ErrInvalidSpec}},
		{"line with a newline", Operation{AppendLine: &AppendLine{Path: "/etc/fstab", Line: "a\nb"}}, []error{ErrInvalidSpec}},
		{"truncate too far", Operation{Truncate: &Truncate{Path: "/etc/fstab", Size: MaxEditSize + 1}}, []error{ErrInvalidSpec}},
		{"truncate missing", Operation{Truncate: &Truncate{Path: "/etc/none"}}, []error{fs.ErrNotExist}},
		{"unknown user", Operation{Chown: &Chown{Path: "/etc/fstab", User: "mallory"}}, []error{ErrNoUser}},
		{"symlink over a file", Operation{Symlink: &Symlink{Path: "/srv/new/f", Target: "x"}}, []error{ErrExists}},
		{"mode with type bits", Operation{Chmod: &Chmod{Path: "/etc/fstab", Mode: fs.ModeDir | 0o755}}, []error{ErrInvalidSpec}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			forEachBackend(t, func(t *testing.T, open func(*testing.T, string) vfs.FS) {
				fsys := open(t, opsLayout)
				ops := append(append([]Operation(nil), good...), tc.bad)
				ie := wantPlanErr(t, fsys, Spec{Operations: ops}, tc.targets...)
				if ie.Item.Field != FieldOperations || ie.Item.Index != len(good) {
					t.Errorf("error names %s, want operations[%d]", ie.Item, len(good))
				}
			})
		})
	}
}

// TestOperationsHostile: links out of the root, FIFOs, device nodes and
// big trees are refused or handled in the root, never followed out of it.
func TestOperationsHostile(t *testing.T) {
	const layout = opsLayout + `
c /etc/null mode=0666 dev=1:3
`
	for _, tc := range []struct {
		name    string
		op      Operation
		targets []error
	}{
		{"chmod through a final link", Operation{Chmod: &Chmod{Path: "/etc/evil", Mode: 0o777}}, []error{ErrUnsafe, vfs.ErrIsSymlink}},
		{"write to a final link", Operation{Write: &Write{Path: "/etc/evil", Content: []byte("x")}}, []error{ErrUnsafe, vfs.ErrIsSymlink}},
		{"append to a final link", Operation{AppendLine: &AppendLine{Path: "/etc/evil", Line: "x"}}, []error{ErrUnsafe, vfs.ErrIsSymlink}},
		{"truncate a final link", Operation{Truncate: &Truncate{Path: "/etc/evil"}}, []error{ErrUnsafe, vfs.ErrIsSymlink}},
		{"touch a final link", Operation{Touch: &Touch{Path: "/etc/evil"}}, []error{ErrUnsafe, vfs.ErrIsSymlink}},
		{"touch a FIFO", Operation{Touch: &Touch{Path: "/etc/fifo"}}, []error{ErrUnsafe, vfs.ErrNotRegular}},
		{"touch a device", Operation{Touch: &Touch{Path: "/etc/null", Time: testNow}}, []error{ErrUnsafe, vfs.ErrNotRegular}},
		{"touch below a link to the host", Operation{Touch: &Touch{Path: "/etc/evil-dir/passwd"}}, []error{fs.ErrNotExist}},
		{"write a FIFO", Operation{Write: &Write{Path: "/etc/fifo"}}, []error{ErrUnsafe, vfs.ErrNotRegular}},
		{"append to a FIFO", Operation{AppendLine: &AppendLine{Path: "/etc/fifo", Line: "x"}}, []error{ErrUnsafe, vfs.ErrNotRegular}},
		{"chmod a FIFO", Operation{Chmod: &Chmod{Path: "/etc/fifo", Mode: 0o666}}, []error{ErrUnsafe, vfs.ErrNotRegular}},
		{"chown a device", Operation{Chown: &Chown{Path: "/etc/null", UID: 1000}}, []error{ErrUnsafe, vfs.ErrNotRegular}},
		{"truncate a device", Operation{Truncate: &Truncate{Path: "/etc/null"}}, []error{ErrUnsafe, vfs.ErrNotRegular}},
		// /etc/evil-dir leads, in the root, to a directory that is not
		// there: the host canary is never reached.
		{"write below a link to the host", Operation{Write: &Write{Path: "/etc/evil-dir/passwd", Content: []byte("x")}}, []error{fs.ErrNotExist}},
		{"move from below a link to the host", Operation{Move: &Move{From: "/etc/evil-dir/passwd", To: "/stolen"}}, []error{fs.ErrNotExist}},
		{"delete below a link to the host", Operation{Delete: &Delete{Path: "/etc/evil-dir/passwd"}}, nil},
		{"recursive delete over the bound", Operation{Delete: &Delete{Path: "/var/cache/app", Recursive: true, MaxEntries: 3}}, []error{vfs.ErrTooLarge}},
		{"bound out of range", Operation{Delete: &Delete{Path: "/var/cache/app", Recursive: true, MaxEntries: MaxDeleteLimit + 1}}, []error{ErrInvalidSpec}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			forEachBackend(t, func(t *testing.T, open func(*testing.T, string) vfs.FS) {
				fsys := open(t, layout)
				spec := Spec{Operations: []Operation{tc.op}}
				if tc.targets == nil {
					// Planned as "absent already": nothing to delete in
					// the root, and the host is not looked at.
					got, rep := applyDiff(t, fsys, spec)
					if len(got) != 0 || len(rep.Changes) != 1 || rep.Changes[0].Action != ActionKeep {
						t.Errorf("changes %v, report %+v", got, rep.Changes)
					}
					return
				}
				wantPlanErr(t, fsys, spec, tc.targets...)
			})
		})
	}
}

// TestOperationsDeleteLinksNotFollowed: a recursive delete over links to
// the host and ".." climbs removes the links and nothing they point at.
func TestOperationsDeleteLinksNotFollowed(t *testing.T) {
	forEachBackend(t, func(t *testing.T, open func(*testing.T, string) vfs.FS) {
		fsys := open(t, opsLayout+`
d /victim
f /victim/keep data="keep"
d /tree
l /tree/victim target=/victim
l /tree/climb target=../../../../victim
l /tree/host target={{canary}}
`)
		got, _ := applyDiff(t, fsys, Spec{Operations: []Operation{{Delete: &Delete{Path: "/tree", Recursive: true}}}})
		wantTreeDiff(t, map[string]node{"/tree": {}, "/tree/victim": {}, "/tree/climb": {}, "/tree/host": {}}, got)
	})
}

// TestOperationsBigTree: the delete bound holds on a tree far bigger than
// it, and a bound that fits lets the delete through.
func TestOperationsBigTree(t *testing.T) {
	var b strings.Builder
	b.WriteString("d /big\n")
	for i := range 40 {
		fmt.Fprintf(&b, "d /big/d%d\n", i)
		for j := range 25 {
			fmt.Fprintf(&b, "f /big/d%d/f%d\n", i, j)
		}
	}
	fsys := openMemGuest(t, b.String())
	wantPlanErr(t, fsys, Spec{Operations: []Operation{{Delete: &Delete{Path: "/big", Recursive: true, MaxEntries: 500}}}}, vfs.ErrTooLarge)
	got, rep := applyDiff(t, fsys, Spec{Operations: []Operation{{Delete: &Delete{Path: "/big", Recursive: true, MaxEntries: 1040}}}})
	if len(got) != 1041 || len(rep.Changes) != 1041 {
		t.Errorf("%d paths changed, %d changes; want 1041", len(got), len(rep.Changes))
	}
}

// renameless hides memfs's Rename.
type renameless struct{ vfs.FS }

func TestOperationsMoveNeedsRename(t *testing.T) {
	fsys := renameless{openMemGuest(t, opsLayout)}
	wantPlanErr(t, fsys, Spec{Operations: []Operation{{Move: &Move{From: "/etc/motd", To: "/etc/m"}}}}, ErrUnsupported)
}

// TestOperationsApplyFailureReport: a failure at Apply reports what was
// made and what was not, in plan order.
func TestOperationsApplyFailureReport(t *testing.T) {
	fsys := openMemGuest(t, opsLayout)
	plan, err := NewPlan(context.Background(), fsys, Spec{Operations: []Operation{
		{Write: &Write{Path: "/etc/a", Content: []byte("a")}},
		{Write: &Write{Path: "/etc/b", Content: []byte("b")}},
		{Write: &Write{Path: "/etc/c", Content: []byte("c")}},
	}})
	if err != nil {
		t.Fatal(err)
	}
	// Someone else takes /etc/b between plan and apply.
	if err := fsys.(*memfs.FS).Add(memfs.Node{Path: "/etc/b", Mode: fs.ModeNamedPipe | 0o600}); err != nil {
		t.Fatal(err)
	}
	rep, err := plan.Apply(context.Background(), fsys)
	if !errors.Is(err, vfs.ErrNotRegular) {
		t.Fatalf("Apply = %v, want ErrNotRegular", err)
	}
	if len(rep.Changes) != 1 || rep.Changes[0].Path != "/etc/a" || len(rep.NotMade) != 2 || rep.NotMade[0].Item.Index != 1 || rep.NotMade[1].Item.Index != 2 {
		t.Errorf("report %+v", rep)
	}
}

func TestOperationsJSON(t *testing.T) {
	ops := []Operation{
		{Delete: &Delete{Path: "/a", Recursive: true, MaxEntries: 5}},
		{Move: &Move{From: "/a", To: "/b"}},
		{Symlink: &Symlink{Path: "/l", Target: "../x"}},
		{Mkdir: &Mkdir{Path: "/d", Mode: 0o750, User: "alice", GID: 7}},
		{Chmod: &Chmod{Path: "/f", Mode: fs.ModeSetuid | 0o755}},
		{Chown: &Chown{Path: "/f", UID: 1, Group: "staff"}},
		{Touch: &Touch{Path: "/t"}},
		{Touch: &Touch{Path: "/t", Time: time.Date(2001, 2, 3, 4, 5, 6, 7, time.UTC)}},
		{Truncate: &Truncate{Path: "/t", Size: 3}},
		{Write: &Write{Path: "/w", Content: []byte("bin\x00ary")}},
		{AppendLine: &AppendLine{Path: "/w", Line: "line"}},
		{Edit: &Edit{Path: "/w", Pattern: `^(\w+)`, Replacement: "${1}x", All: true, Lines: true}},
		{CopyIn: &CopyIn{Source: "./app", Dir: "/opt", TreeOptions: TreeOptions{KeepOwners: true, Times: TimesRequired, MaxEntries: 5}}},
		{TarIn: &TarIn{Dir: "/srv", SpoolDir: "/var/tmp", TreeOptions: TreeOptions{Replace: true, AllowHardLinks: true, MaxBytes: 1 << 20}}},
	}
	data, err := json.Marshal(ops)
	if err != nil {
		t.Fatal(err)
	}
	var back []Operation
	if err := json.Unmarshal(data, &back); err != nil {
		t.Fatal(err)
	}
	if d := cmp.Diff(ops, back); d != "" {
		t.Errorf("round trip (-want +got):\n%s", d)
	}
	if !strings.Contains(string(data), `{"copy_in":{"source":"./app","dir":"/opt","keep_owners":true,"times":"required","max_entries":5}}`) {
		t.Errorf("JSON %s", data)
	}
	if !strings.Contains(string(data), `{"move":{"from":"/a","to":"/b"}}`) || !strings.Contains(string(data), `{"touch":{"path":"/t"}}`) ||
		!strings.Contains(string(data), `{"touch":{"path":"/t","time":"2001-02-03T04:05:06.000000007Z"}}`) {
		t.Errorf("JSON %s", data)
	}
	item := Item{Field: FieldOperations, Index: 3, Name: "mkdir"}
	data, err = json.Marshal(item)
	if err != nil {
		t.Fatal(err)
	}
	var it Item
	if err := json.Unmarshal(data, &it); err != nil || it != item {
		t.Errorf("item %s round trip: %+v, %v", data, it, err)
	}
	if item.String() != "operations[3] (mkdir)" {
		t.Errorf("item prints as %q", item)
	}
}

// FuzzOperations plans operations decoded from JSON against a fixed guest:
// planning never panics and never writes.
func FuzzOperations(f *testing.F) {
	f.Add(`[{"move":{"from":"/etc/motd","to":"/etc/m"}},{"write":{"path":"/etc/m","content":"eA=="}}]`)
	f.Add(`[{"delete":{"path":"/var/cache/app","recursive":true}},{"mkdir":{"path":"/var/cache/app/x"}}]`)
	f.Add(`[{"symlink":{"path":"/x","target":"/etc"}},{"append_line":{"path":"/x/motd","line":"l"}}]`)
	f.Add(`[{"truncate":{"path":"/etc/evil-dir/passwd","size":1}},{"chown":{"path":"/etc/evil","uid":5}}]`)
	f.Add(`[{"edit":{"path":"/etc/fstab","pattern":"(?m)^proc","replacement":"$0x","all":true}}]`)
	f.Add(`[{"touch":{"path":"/etc/motd","time":"2001-02-03T04:05:06.5Z"}},{"move":{"from":"/etc/motd","to":"/m"}},{"touch":{"path":"/m"}}]`)
	f.Fuzz(func(t *testing.T, text string) {
		var ops []Operation
		if json.Unmarshal([]byte(text), &ops) != nil || len(ops) > 32 {
			return
		}
		for _, op := range ops {
			if op.CopyIn != nil {
				return // it would read the host's files; FuzzTarIn covers the tree planner
			}
		}
		fsys := openMemGuest(t, opsLayout)
		before := snapshot(t, fsys)
		plan, err := NewPlan(context.Background(), fsys, Spec{Operations: ops})
		if d := cmp.Diff(before, snapshot(t, fsys)); d != "" {
			t.Fatalf("planning wrote:\n%s", d)
		}
		if err != nil {
			var ie *ItemError
			if !errors.As(err, &ie) {
				t.Fatalf("error %v is not an *ItemError", err)
			}
			return
		}
		// A valid plan applies on the guest it was planned for.
		if _, err := plan.Apply(context.Background(), fsys); err != nil {
			t.Fatalf("Apply of a valid plan: %v", err)
		}
	})
}
