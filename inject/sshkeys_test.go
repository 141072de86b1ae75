package inject

import (
	"context"
	"errors"
	"io/fs"
	"strconv"
	"strings"
	"testing"

	"github.com/guestinject/guestinject/internal/guestetc"
	"github.com/guestinject/guestinject/vfs"
)

func TestSSHKeysCreate(t *testing.T) {
	forEachBackend(t, func(t *testing.T, open func(*testing.T, string) vfs.FS) {
		fsys := open(t, debianLayout)
		got, rep := applyDiff(t, fsys, Spec{SSHKeys: []SSHKeys{
			{Keys: []string{testKeyA}},
			{User: "alice", Keys: []string{testKeyA, "  " + testKeyB + "  "}},
		}})
		wantTreeDiff(t, map[string]node{
			"/root/.ssh":                       {Mode: fs.ModeDir | 0o700},
			"/root/.ssh/authorized_keys":       {Mode: 0o600, Data: testKeyA + "\n"},
			"/home/alice/.ssh":                 {Mode: fs.ModeDir | 0o700, UID: 1000, GID: 1000},
			"/home/alice/.ssh/authorized_keys": {Mode: 0o600, UID: 1000, GID: 1000, Data: testKeyA + "\n" + testKeyB + "\n"},
		}, got)
		var actions []string
		for _, c := range rep.Changes {
			actions = append(actions, string(c.Action)+" "+c.Path)
		}
		want := "mkdir /root/.ssh|create /root/.ssh/authorized_keys|mkdir /home/alice/.ssh|chown /home/alice/.ssh|create /home/alice/.ssh/authorized_keys"
		if strings.Join(actions, "|") != want {
			t.Errorf("report actions:\n%s\nwant\n%s", strings.Join(actions, "|"), want)
		}
	})
}

func TestSSHKeysIdempotentAndKeepsExisting(t *testing.T) {
	forEachBackend(t, func(t *testing.T, open func(*testing.T, string) vfs.FS) {
		existing := "# managed by hand\ncommand=\"/bin/true\" " + strings.Replace(testKeyA, "alice@laptop", "other comment", 1)
		fsys := open(t, debianLayout+`
d /home/alice/.ssh mode=0700 owner=1000:1000
f /home/alice/.ssh/authorized_keys mode=0640 owner=1000:1000 data=`+quote(existing))
		spec := Spec{SSHKeys: []SSHKeys{{User: "alice", Keys: []string{testKeyA, testKeyB}}}}
		got, _ := applyDiff(t, fsys, spec)
		wantTreeDiff(t, map[string]node{
			"/home/alice/.ssh/authorized_keys": {Mode: 0o640, UID: 1000, GID: 1000, Data: existing + "\n" + testKeyB + "\n"},
		}, got)
		got, rep := applyDiff(t, fsys, spec)
		wantTreeDiff(t, map[string]node{}, got)
		if len(rep.Changes) != 1 || rep.Changes[0].Action != ActionKeep || rep.Changes[0].Detail != "0 of 2 keys added" {
			t.Errorf("second run report: %+v", rep.Changes)
		}
	})
}

func TestSSHKeysTightenModes(t *testing.T) {
	forEachBackend(t, func(t *testing.T, open func(*testing.T, string) vfs.FS) {
		fsys := open(t, debianLayout+`
d /home/alice/.ssh mode=0777 owner=1001:1001
f /home/alice/.ssh/authorized_keys mode=0666 owner=0:0 data=`+quote(testKeyA+"\n"))
		got, _ := applyDiff(t, fsys, Spec{SSHKeys: []SSHKeys{{User: "alice", Keys: []string{testKeyA}}}})
		wantTreeDiff(t, map[string]node{
			"/home/alice/.ssh":                 {Mode: fs.ModeDir | 0o755, UID: 1000, GID: 1000},
			"/home/alice/.ssh/authorized_keys": {Mode: 0o644, Data: testKeyA + "\n"},
		}, got)
	})
}

func TestSSHKeysHostileLayouts(t *testing.T) {
	keys := Spec{SSHKeys: []SSHKeys{{Keys: []string{testKeyA}}}}
	forEachBackend(t, func(t *testing.T, open func(*testing.T, string) vfs.FS) {
		t.Run("ssh dir is a symlink to /etc", func(t *testing.T) {
			fsys := open(t, debianLayout+"l /root/.ssh target=/etc\n")
			wantPlanErr(t, fsys, keys, ErrUnsafe, vfs.ErrIsSymlink)
		})
		t.Run("ssh dir is a symlink to the host", func(t *testing.T) {
			fsys := open(t, debianLayout+"l /root/.ssh target={{canary}}\n")
			wantPlanErr(t, fsys, keys, ErrUnsafe)
		})
		t.Run("authorized_keys is a symlink", func(t *testing.T) {
			fsys := open(t, debianLayout+"d /root/.ssh mode=0700\nl /root/.ssh/authorized_keys target=/etc/shadow\n")
			wantPlanErr(t, fsys, keys, ErrUnsafe, vfs.ErrIsSymlink)
		})
		t.Run("authorized_keys is a FIFO", func(t *testing.T) {
			fsys := open(t, debianLayout+"d /root/.ssh mode=0700\np /root/.ssh/authorized_keys\n")
			wantPlanErr(t, fsys, keys, ErrUnsafe, vfs.ErrNotRegular)
		})
		t.Run("authorized_keys is huge", func(t *testing.T) {
			fsys := open(t, debianLayout+"d /root/.ssh mode=0700\nf /root/.ssh/authorized_keys size=1G\n")
			wantPlanErr(t, fsys, keys, vfs.ErrTooLarge)
		})
		t.Run("home is a file", func(t *testing.T) {
			fsys := open(t, strings.Replace(debianLayout, "d /root mode=0700 owner=0:0", "f /root data=x", 1))
			wantPlanErr(t, fsys, keys, ErrUnsafe)
		})
		t.Run("duplicate user lines", func(t *testing.T) {
			fsys := open(t, strings.Replace(debianLayout, `daemon:x:1`, `root:x:0:0::/tmp:/bin/sh\ndaemon:x:1`, 1))
			wantPlanErr(t, fsys, keys, guestetc.ErrDuplicate)
		})
		t.Run("unknown user", func(t *testing.T) {
			fsys := open(t, debianLayout)
			wantPlanErr(t, fsys, Spec{SSHKeys: []SSHKeys{{User: "mallory", Keys: []string{testKeyA}}}}, ErrNoUser, guestetc.ErrNotFound)
		})
		t.Run("passwd is a FIFO", func(t *testing.T) {
			fsys := open(t, strings.Replace(debianLayout, "f /etc/passwd mode=0644 owner=0:0 data=", "p /etc/passwd\nf /etc/passwd.real data=", 1))
			wantPlanErr(t, fsys, keys, vfs.ErrNotRegular)
		})
		t.Run("huge passwd", func(t *testing.T) {
			fsys := open(t, strings.Replace(debianLayout, "f /etc/passwd mode=0644", "f /etc/passwd size=2G mode=0644", 1))
			wantPlanErr(t, fsys, keys, vfs.ErrTooLarge)
		})
	})
}

func TestSSHKeysHomeInsideGuest(t *testing.T) {
	forEachBackend(t, func(t *testing.T, open func(*testing.T, string) vfs.FS) {
		t.Run("home is an absolute symlink", func(t *testing.T) {
			fsys := open(t, strings.Replace(debianLayout, "alice:x:1000:1000:Alice:/home/alice:", "bob:x:1000:1000::/home/bob:", 1)+
				"d /srv\nd /srv/alice owner=1000:1000\nl /home/bob target=/srv/alice\n")
			got, _ := applyDiff(t, fsys, Spec{SSHKeys: []SSHKeys{{User: "bob", Keys: []string{testKeyA}}}})
			wantTreeDiff(t, map[string]node{
				"/srv/alice/.ssh":                 {Mode: fs.ModeDir | 0o700, UID: 1000, GID: 1000},
				"/srv/alice/.ssh/authorized_keys": {Mode: 0o600, UID: 1000, GID: 1000, Data: testKeyA + "\n"},
			}, got)
		})
		t.Run("home climbs with ..", func(t *testing.T) {
			fsys := open(t, strings.Replace(debianLayout, ":/home/alice:", ":/../../x:", 1))
			got, _ := applyDiff(t, fsys, Spec{SSHKeys: []SSHKeys{{User: "alice", Keys: []string{testKeyA}}}})
			wantTreeDiff(t, map[string]node{
				"/x":                      {Mode: fs.ModeDir | 0o700, UID: 1000, GID: 1000},
				"/x/.ssh":                 {Mode: fs.ModeDir | 0o700, UID: 1000, GID: 1000},
				"/x/.ssh/authorized_keys": {Mode: 0o600, UID: 1000, GID: 1000, Data: testKeyA + "\n"},
			}, got)
		})
		t.Run("relative home", func(t *testing.T) {
			fsys := open(t, strings.Replace(debianLayout, ":/home/alice:", ":home:", 1))
			wantPlanErr(t, fsys, Spec{SSHKeys: []SSHKeys{{User: "alice", Keys: []string{testKeyA}}}}, ErrUnsafe)
		})
	})
}

func TestSSHKeysRejectsGarbage(t *testing.T) {
	for _, key := range []string{"", "not a key", "ssh-rsa AAAA", testKeyA + "\n" + testKeyB, testKeyA[:60]} {
		_, err := NewPlan(context.Background(), nil, Spec{SSHKeys: []SSHKeys{{Keys: []string{key}}}})
		if !errors.Is(err, ErrInvalidSpec) {
			t.Errorf("key %q: error %v, want ErrInvalidSpec", key, err)
		}
	}
}

func TestParseAuthorizedKeyIgnoresCommentAndOptions(t *testing.T) {
	a, err := ParseAuthorizedKey(testKeyA)
	if err != nil {
		t.Fatal(err)
	}
	b, err := ParseAuthorizedKey(`no-pty,from="10.0.0.0/8" ` + strings.Replace(testKeyA, "alice@laptop", "x", 1))
	if err != nil {
		t.Fatal(err)
	}
	c, _ := ParseAuthorizedKey(testKeyB)
	if string(a) != string(b) || string(a) == string(c) {
		t.Error("key identity should depend on key material only")
	}
}

func FuzzAuthorizedKeys(f *testing.F) {
	f.Add([]byte(testKeyA + "\n# c\n" + testKeyB))
	f.Add([]byte("command=\"x\" ssh-rsa AAAA\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		set := authorizedSet(data)
		for line := range strings.Lines(string(data)) {
			key, err := ParseAuthorizedKey(strings.TrimRight(line, "\n"))
			if err == nil && !set[string(key)] {
				t.Fatalf("line %q parses alone but is not in the set", line)
			}
		}
	})
}

func quote(s string) string { return strconv.Quote(s) }
