package inject

import (
	"io/fs"
	"regexp"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/guestinject/guestinject/vfs"
)

func TestEdit(t *testing.T) {
	forEachBackend(t, func(t *testing.T, open func(*testing.T, string) vfs.FS) {
		fsys := open(t, opsLayout+`
f /etc/httpd.conf mode=0640 owner=0:42 data="#ServerName old\nListen 80\r\nListen 8080\n"
f /etc/words data="a-b-c\na-b\n"
`)
		got, rep := applyDiff(t, fsys, Spec{Operations: []Operation{
			// Per line, first match; "\r" is part of the line, as in Perl.
			{Edit: &Edit{Path: "/etc/httpd.conf", Pattern: `^#?ServerName .*$`, Replacement: "ServerName example.com", Lines: true}},
			{Edit: &Edit{Path: "/etc/httpd.conf", Pattern: `^Listen (\d+)\r?$`, Replacement: "Listen [::]:${1}", Lines: true}},
			// Per line: the first match of each line, or all of them.
			{Edit: &Edit{Path: "/etc/words", Pattern: `-`, Replacement: "+", Lines: true}},
			{Edit: &Edit{Path: "/etc/words", Pattern: `(b)-`, Replacement: "$1=", Lines: true, All: true}},
			// The whole file as one text: a match across lines.
			{Edit: &Edit{Path: "/etc/fstab", Pattern: `(?s)# fstab\n(proc)`, Replacement: "${1}fs"}},
			// No match, and a match replaced by itself: kept.
			{Edit: &Edit{Path: "/etc/issue", Pattern: `Ubuntu`, Replacement: "x"}},
			{Edit: &Edit{Path: "/etc/issue", Pattern: `Deb(ian)`, Replacement: "Deb$1", All: true}},
			// An edit sees the write before it.
			{Write: &Write{Path: "/etc/motd", Content: []byte("one two two")}},
			{Edit: &Edit{Path: "/etc/motd", Pattern: `two`, Replacement: "$$3", All: true}},
		}})
		wantTreeDiff(t, map[string]node{
			"/etc/httpd.conf": {Mode: 0o640, GID: 42, Data: "ServerName example.com\nListen [::]:80\nListen [::]:8080\n"},
			"/etc/words":      {Mode: 0o644, Data: "a+b=c\na+b\n"},
			"/etc/fstab":      {Mode: 0o644, Data: "procfs /proc proc defaults 0 0\n"},
			"/etc/motd":       {Mode: 0o600, Data: "one $3 $3"},
		}, got)
		var details []string
		for _, c := range rep.Changes {
			if c.Item.Name == "edit" {
				details = append(details, string(c.Action)+" "+c.Detail)
			}
		}
		want := []string{
			"replace 1 replacement", "replace 2 replacements", "replace 2 replacements", "replace 1 replacement",
			"replace 1 replacement", "keep no match", "keep 1 matches, replaced by the same text", "replace 2 replacements",
		}
		if d := cmp.Diff(want, details); d != "" {
			t.Errorf("edit changes (-want +got):\n%s", d)
		}
	})
}

func TestEditRefusals(t *testing.T) {
	big := strings.Repeat("x", MaxEditSize/2)
	for _, tc := range []struct {
		name    string
		edit    Edit
		targets []error
	}{
		{"a final symlink", Edit{Path: "/etc/evil", Pattern: "canary", Replacement: "x"}, []error{ErrUnsafe, vfs.ErrIsSymlink}},
		{"a FIFO", Edit{Path: "/etc/fifo", Pattern: "x"}, []error{ErrUnsafe, vfs.ErrNotRegular}},
		{"a directory", Edit{Path: "/etc", Pattern: "x"}, []error{ErrUnsafe, vfs.ErrIsDir}},
		{"below a link to the host", Edit{Path: "/etc/evil-dir/passwd", Pattern: "canary"}, []error{fs.ErrNotExist}},
		{"missing", Edit{Path: "/etc/none", Pattern: "x"}, []error{fs.ErrNotExist}},
		{"a bad pattern", Edit{Path: "/etc/motd", Pattern: `(?=x)`}, []error{ErrInvalidSpec}},
		{"a backreference", Edit{Path: "/etc/motd", Pattern: `(a)\1`}, []error{ErrInvalidSpec}},
		{"an empty pattern", Edit{Path: "/etc/motd"}, []error{ErrInvalidSpec}},
		{"the root", Edit{Path: "/", Pattern: "x"}, []error{ErrInvalidSpec}},
		{"a file over the bound", Edit{Path: "/var/big", Pattern: "x"}, []error{vfs.ErrTooLarge}},
		{"a result over the bound", Edit{Path: "/var/half", Pattern: "x+", Replacement: "$0$0$0"}, []error{vfs.ErrTooLarge}},
		{"matches everywhere", Edit{Path: "/var/half", Pattern: "", Replacement: "", All: true}, []error{ErrInvalidSpec}},
		{"empty matches over the bound", Edit{Path: "/var/half", Pattern: "y*", All: true}, []error{vfs.ErrTooLarge}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			forEachBackend(t, func(t *testing.T, open func(*testing.T, string) vfs.FS) {
				fsys := open(t, opsLayout)
				ctx := t.Context()
				for name, data := range map[string]string{"/var/big": big + big + "x", "/var/half": big} {
					if err := fsys.WriteFile(ctx, name, strings.NewReader(data), vfs.WriteOptions{Perm: 0o644}); err != nil {
						t.Fatal(err)
					}
				}
				ie := wantPlanErr(t, fsys, Spec{Operations: []Operation{{Edit: &tc.edit}}}, tc.targets...)
				if ie.Item.Name != "edit" {
					t.Errorf("error names %s", ie.Item)
				}
			})
		})
	}
}

// The per-line mode takes off and puts back each line's ending, the last
// line's missing one included.
func TestApplyEditLines(t *testing.T) {
	for _, tc := range []struct {
		in, pattern, repl string
		all               bool
		want              string
		n                 int
	}{
		{"a\nb", `$`, "!", false, "a!\nb!", 2},
		{"a\r\n\r\n", `^\r$`, "empty", false, "a\r\nempty\n", 1},
		{"a \nb\n", `\s+$`, "", false, "a\nb\n", 1},
		{"aaa\naa\n", `a`, "b", true, "bbb\nbb\n", 5},
		{"aaa\naa\n", `a`, "b", false, "baa\nba\n", 2},
		{"", `x*`, "y", true, "", 0},
		{"k=v\n", `(?P<key>\w+)=(?P<val>\w+)`, "${val}=${key}", false, "v=k\n", 1},
	} {
		out, n, err := applyEdit(regexp.MustCompile(tc.pattern), []byte(tc.in), []byte(tc.repl), tc.all, true)
		if err != nil || string(out) != tc.want || n != tc.n {
			t.Errorf("%q s/%s/%s/ all=%v: %q, %d, %v; want %q, %d", tc.in, tc.pattern, tc.repl, tc.all, out, n, err, tc.want, tc.n)
		}
	}
}
