package inject

import (
	"fmt"
	"io/fs"
	"strings"
	"testing"

	"github.com/guestinject/guestinject/internal/guestetc"
	"github.com/guestinject/guestinject/vfs"
)

// skelLayout is an /etc/skel with a file, a subdirectory and a link.
const skelLayout = `
d /etc/skel
f /etc/skel/.profile mode=0644 data="# profile\n"
d /etc/skel/.config mode=0755
f /etc/skel/.config/app.conf mode=04755 data="x=1\n"
l /etc/skel/.bash_logout target=.profile
`

func TestUsersDebian(t *testing.T) {
	forEachBackend(t, func(t *testing.T, open func(*testing.T, string) vfs.FS) {
		fsys := open(t, debianLayout+skelLayout+`
f /etc/gshadow mode=0640 owner=0:42 data="root:*::\nshadow:*::\nalice:!::\nstaff:*::alice\n"
f /etc/default/useradd data="SHELL=/bin/bash\n"
`)
		got, rep := applyDiff(t, fsys, Spec{
			Now:          testNow,
			Users:        []User{{Name: "bob", GECOS: "Bob", Groups: []string{"staff"}}},
			GroupMembers: []GroupMember{{User: "alice", Group: "shadow"}, {User: "bob", Group: "staff"}},
			SSHKeys:      []SSHKeys{{User: "bob", Keys: []string{testKeyA}}},
			Passwords:    []Password{{User: "bob", Plaintext: "secret"}},
		})
		passwd := got["/etc/passwd"].Data
		if !strings.HasSuffix(passwd, "alice:x:1000:1000:Alice:/home/alice:/bin/bash\nbob:x:1001:1001:Bob:/home/bob:/bin/bash\n") {
			t.Errorf("passwd:\n%s", passwd)
		}
		if want := "root:x:0:\nshadow:x:42:alice\nalice:x:1000:\nstaff:x:50:alice,bob\nbob:x:1001:\n"; got["/etc/group"].Data != want {
			t.Errorf("group:\n%q\nwant\n%q", got["/etc/group"].Data, want)
		}
		if n := got["/etc/gshadow"]; n.Data != "root:*::\nshadow:*::alice\nalice:!::\nstaff:*::alice,bob\nbob:!::\n" || n.Mode != 0o640 || n.GID != 42 {
			t.Errorf("gshadow: %+v", n)
		}
		// The password was set on the line the user phase added.
		e, err := guestetc.ParseShadow([]byte(got["/etc/shadow"].Data)).Entry("bob")
		if err != nil || !guestetc.VerifySHA512("secret", e.Hash) || e.LastChange != "20000" || strings.Join(e.Rest, ":") != "0:99999:7:::" {
			t.Errorf("shadow entry %+v, %v", e, err)
		}
		for p, want := range map[string]node{
			"/home/bob":                      {Mode: fs.ModeDir | 0o700, UID: 1001, GID: 1001},
			"/home/bob/.profile":             {Mode: 0o644, UID: 1001, GID: 1001, Data: "# profile\n"},
			"/home/bob/.config":              {Mode: fs.ModeDir | 0o755, UID: 1001, GID: 1001},
			"/home/bob/.config/app.conf":     {Mode: 0o755, UID: 1001, GID: 1001, Data: "x=1\n"},
			"/home/bob/.bash_logout":         {Mode: fs.ModeSymlink | 0o777, UID: 1001, GID: 1001, Target: ".profile"},
			"/home/bob/.ssh":                 {Mode: fs.ModeDir | 0o700, UID: 1001, GID: 1001},
			"/home/bob/.ssh/authorized_keys": {Mode: 0o600, UID: 1001, GID: 1001, Data: testKeyA + "\n"},
		} {
			if n := got[p]; n != want {
				t.Errorf("%s = %+v, want %+v", p, n, want)
			}
		}
		if len(got) != 11 {
			t.Errorf("%d paths changed, want 11: %v", len(got), got)
		}
		if rep.Changes[0].Item.String() != "users[0] (bob)" || rep.Changes[0].Path != "/etc/shadow" {
			t.Errorf("first change %+v", rep.Changes[0])
		}
	})
}

func TestUsersFedora(t *testing.T) {
	forEachBackend(t, func(t *testing.T, open func(*testing.T, string) vfs.FS) {
		fsys := open(t, replaceEntry(fedoraLayout, "/etc/group")+`f /etc/group mode=0644 data="root:x:0:\nwheel:x:10:fedora\nfedora:x:1000:\nusers:x:1001:\n"
`)
		got, _ := applyDiff(t, fsys, Spec{Now: testNow, Users: []User{
			{Name: "svc", System: true},
			{Name: "dev", Groups: []string{"wheel"}, Hash: guestetc.SHA512Crypt("pw", "salt", 0)},
			{Name: "ops", UID: 5000, Group: "users", Home: "/srv/ops", Shell: "/bin/zsh"},
		}})
		// The system user counts down from SYS_UID_MAX, takes no home; dev
		// gets uid 1001 but gid 1002, as 1001 is taken by "users".
		if want := "svc:x:999:999::/home/svc:/bin/sh\ndev:x:1001:1002::/home/dev:/bin/sh\nops:x:5000:1001::/srv/ops:/bin/zsh\n"; !strings.HasSuffix(got["/etc/passwd"].Data, want) {
			t.Errorf("passwd:\n%s", got["/etc/passwd"].Data)
		}
		if want := "root:::\nwheel:::fedora,dev\nfedora:!!::\nsvc:!::\ndev:!::\n"; got["/etc/gshadow"].Data != want || got["/etc/gshadow"].Mode != 0 {
			t.Errorf("gshadow %+v", got["/etc/gshadow"])
		}
		if !strings.Contains(got["/etc/shadow"].Data, "\nsvc:!:20000:") || !strings.Contains(got["/etc/shadow"].Data, "\ndev:$6$salt$") {
			t.Errorf("shadow:\n%s", got["/etc/shadow"].Data)
		}
		if _, ok := got["/home/svc"]; ok {
			t.Error("a system user got a home")
		}
		if n := got["/home/dev/.bashrc"]; n.UID != 1001 || n.GID != 1002 || n.Data != "# bashrc\n" {
			t.Errorf(".bashrc %+v", n)
		}
		if n := got["/srv/ops"]; n.Mode != fs.ModeDir|0o700 || n.UID != 5000 || n.GID != 1001 {
			t.Errorf("/srv/ops %+v", n)
		}
	})
}

func TestUsersRefused(t *testing.T) {
	full := ""
	for id := 1000; id <= 1010; id++ {
		full += fmt.Sprintf("u%d:x:%d:100::/:/bin/sh\\n", id, id)
	}
	for _, tc := range []struct {
		name, extra string
		spec        Spec
		targets     []error
	}{
		{"existing user", "", Spec{Users: []User{{Name: "alice"}}}, []error{ErrExists}},
		{"existing group", "", Spec{Users: []User{{Name: "staff"}}}, []error{ErrExists}},
		{"uid taken", "", Spec{Users: []User{{Name: "bob", UID: 1000}}}, []error{ErrExists}},
		{"bad name", "", Spec{Users: []User{{Name: "Bob:0"}}}, []error{ErrInvalidSpec}},
		{"long name", "", Spec{Users: []User{{Name: strings.Repeat("a", 33)}}}, []error{ErrInvalidSpec}},
		{"gecos newline", "", Spec{Users: []User{{Name: "bob", GECOS: "x\nroot::0:0::/:/bin/sh"}}}, []error{ErrInvalidSpec}},
		{"weak hash", "", Spec{Users: []User{{Name: "bob", Hash: "$1$salt$qJH7.N4xYta3aEG/dfqo/0"}}}, []error{ErrInvalidSpec}},
		{"missing group", "", Spec{Users: []User{{Name: "bob", Groups: []string{"nope"}}}}, []error{ErrNoUser}},
		{"member of a missing group", "", Spec{GroupMembers: []GroupMember{{User: "alice", Group: "nope"}}}, []error{ErrNoUser}},
		{"missing member", "", Spec{GroupMembers: []GroupMember{{User: "nobody", Group: "staff"}}}, []error{ErrNoUser}},
		{"malformed passwd line names the user", `f /etc/passwd data="root:x:0:0::/root:/bin/sh\nbob:x\n"` + "\n", Spec{Users: []User{{Name: "bob"}}}, []error{ErrExists}},
		{"uid range exhausted", `f /etc/login.defs data="UID_MIN 1000\nUID_MAX 1010\n"` + "\n" + `f /etc/passwd data="` + full + `"` + "\n", Spec{Users: []User{{Name: "bob"}}}, []error{ErrNoFreeID}},
		{"world-readable gshadow", `f /etc/gshadow mode=0644 data="root:::\n"` + "\n", Spec{Users: []User{{Name: "bob"}}}, []error{ErrUnsafe}},
		{"skel FIFO", skelLayout + "p /etc/skel/fifo\n", Spec{Users: []User{{Name: "bob"}}}, []error{ErrUnsafe, vfs.ErrNotRegular}},
		{"skel device", skelLayout + "c /etc/skel/null mode=0666 dev=1:3\n", Spec{Users: []User{{Name: "bob"}}}, []error{ErrUnsafe, vfs.ErrNotRegular}},
		{"skel too big", skelLayout + "f /etc/skel/big size=17M\n", Spec{Users: []User{{Name: "bob"}}}, []error{vfs.ErrTooLarge}},
		{"home a FIFO", "p /home/bob\n", Spec{Users: []User{{Name: "bob"}}}, []error{ErrUnsafe}},
		// All or nothing: the first user is fine, the second is not.
		{"later user fails", skelLayout, Spec{Users: []User{{Name: "bob"}, {Name: "alice"}}}, []error{ErrExists}},
		{"later phase fails", skelLayout, Spec{Users: []User{{Name: "bob"}}, Passwords: []Password{{User: "bob", Hash: "nope"}}}, []error{ErrInvalidSpec}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			forEachBackend(t, func(t *testing.T, open func(*testing.T, string) vfs.FS) {
				layout := debianLayout
				if strings.Contains(tc.extra, "f /etc/passwd ") {
					layout = replaceEntry(layout, "/etc/passwd")
				}
				wantPlanErr(t, open(t, layout+tc.extra), tc.spec, tc.targets...)
			})
		})
	}
}

func TestUsersSkelHostile(t *testing.T) {
	forEachBackend(t, func(t *testing.T, open func(*testing.T, string) vfs.FS) {
		// Links out of the root are copied as links, never followed: the
		// new home holds the link, and nothing outside changes.
		fsys := open(t, debianLayout+`
d /etc/skel
l /etc/skel/host target={{canary}}/passwd
l /etc/skel/hostdir target={{canary}}
`)
		got, _ := applyDiff(t, fsys, Spec{Users: []User{{Name: "bob"}}})
		if n := got["/home/bob/host"]; n.Mode&fs.ModeSymlink == 0 || n.UID != 1001 {
			t.Errorf("link %+v", n)
		}
		if n := got["/home/bob/hostdir"]; n.Mode&fs.ModeSymlink == 0 {
			t.Errorf("link %+v", n)
		}
	})
	// A wide tree beyond the entry bound is refused.
	var b strings.Builder
	b.WriteString(debianLayout + "d /etc/skel\n")
	for i := range maxSkelEntries + 1 {
		fmt.Fprintf(&b, "f /etc/skel/f%d\n", i)
	}
	wantPlanErr(t, openMemGuest(t, b.String()), Spec{Users: []User{{Name: "bob"}}}, vfs.ErrTooLarge)
}

func TestFreeID(t *testing.T) {
	used := map[int]bool{1000: true, 1001: true, 1005: true, 999: true}
	for _, c := range []struct {
		lo, hi int
		down   bool
		want   int
	}{{1000, 60000, false, 1006}, {1000, 1005, false, 1002}, {101, 999, true, 998}, {998, 999, true, 998}} {
		if got, err := freeID(used, c.lo, c.hi, c.down); err != nil || got != c.want {
			t.Errorf("freeID(%d..%d, %v) = %d, %v; want %d", c.lo, c.hi, c.down, got, err, c.want)
		}
	}
	if _, err := freeID(map[int]bool{5: true}, 5, 5, false); err == nil {
		t.Error("a full range gave an id")
	}
	if _, err := freeID(nil, 0, 10, false); err == nil {
		t.Error("a range holding 0 gave an id")
	}
}

// replaceEntry drops the layout's line for name, so a test can give its own.
func replaceEntry(layout, name string) string {
	var out []string
	for _, line := range strings.Split(layout, "\n") {
		if f := strings.Fields(line); len(f) > 1 && f[1] == name {
			continue
		}
		out = append(out, line)
	}
	return strings.Join(out, "\n")
}
