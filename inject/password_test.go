package inject

import (
	"context"
	"os/exec"
	"strings"
	"testing"

	"github.com/guestinject/guestinject/internal/guestetc"
	"github.com/guestinject/guestinject/internal/testsupport/testimage"
	"github.com/guestinject/guestinject/vfs"
)

// shadowHash returns user's hash from the guest's /etc/shadow.
func shadowHash(t *testing.T, fsys vfs.FS, user string) guestetc.ShadowEntry {
	t.Helper()
	data, err := vfs.ReadFile(context.Background(), fsys, "/etc/shadow", 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	e, err := guestetc.ParseShadow(data).Entry(user)
	if err != nil {
		t.Fatal(err)
	}
	return e
}

func TestPasswordPlaintextVerifiedByOpenSSL(t *testing.T) {
	openssl := testimage.NeedTool(t, "openssl")
	forEachBackend(t, func(t *testing.T, open func(*testing.T, string) vfs.FS) {
		fsys := open(t, debianLayout)
		got, rep := applyDiff(t, fsys, Spec{Now: testNow, Passwords: []Password{{Plaintext: "s3cret pass"}, {User: "alice", Plaintext: "alice's", Lock: Unlock}}})
		root, alice := shadowHash(t, fsys, "root"), shadowHash(t, fsys, "alice")
		for _, c := range []struct {
			pw string
			e  guestetc.ShadowEntry
		}{{"s3cret pass", root}, {"alice's", alice}} {
			salt := strings.Split(c.e.Hash, "$")[2]
			out, err := exec.Command(openssl, "passwd", "-6", "-salt", salt, c.pw).Output()
			if err != nil {
				t.Fatal(err)
			}
			if strings.TrimSpace(string(out)) != c.e.Hash {
				t.Errorf("shadow hash %s, openssl computes %s", c.e.Hash, out)
			}
			if c.e.LastChange != "20000" {
				t.Errorf("last change %q, want 20000", c.e.LastChange)
			}
		}
		want := "root:" + root.Hash + ":20000:0:99999:7:::\ndaemon:*:19000:0:99999:7:::\nalice:" + alice.Hash + ":20000:0:99999:7:::\n"
		wantTreeDiff(t, map[string]node{"/etc/shadow": {Mode: 0o640, GID: 42, Data: want}}, got)
		if len(rep.Changes) != 1 || rep.Changes[0].Path != "/etc/shadow" || rep.Changes[0].Mode != 0o640 || rep.Changes[0].GID != 42 {
			t.Errorf("report %+v", rep.Changes)
		}
	})
}

func TestPasswordHashLockAndPasswdField(t *testing.T) {
	hash := guestetc.SHA512Crypt("pw", "fixedsalt", 0)
	forEachBackend(t, func(t *testing.T, open func(*testing.T, string) vfs.FS) {
		fsys := open(t, strings.Replace(debianLayout, "alice:x:1000", "alice:$6$old$inpasswd:1000", 1))
		got, _ := applyDiff(t, fsys, Spec{Now: testNow, Passwords: []Password{{User: "alice", Hash: hash, Lock: Lock}, {User: "daemon", Lock: Lock}}})
		wantTreeDiff(t, map[string]node{
			"/etc/shadow": {Mode: 0o640, GID: 42, Data: "root:*:19000:0:99999:7:::\ndaemon:!*:19000:0:99999:7:::\nalice:!" + hash + ":20000:0:99999:7:::\n"},
			"/etc/passwd": {Mode: 0o644, Data: "root:x:0:0:root:/root:/bin/bash\ndaemon:x:1:1:daemon:/usr/sbin:/usr/sbin/nologin\nalice:x:1000:1000:Alice:/home/alice:/bin/bash\n"},
		}, got)
	})
}

func TestPasswordRefusals(t *testing.T) {
	forEachBackend(t, func(t *testing.T, open func(*testing.T, string) vfs.FS) {
		pw := Spec{Passwords: []Password{{Plaintext: "x"}}}
		t.Run("shadow missing", func(t *testing.T) {
			fsys := open(t, strings.Replace(debianLayout, "f /etc/shadow", "f /etc/gshadow", 1))
			wantPlanErr(t, fsys, pw, ErrNoUser)
		})
		t.Run("shadow huge", func(t *testing.T) {
			fsys := open(t, strings.Replace(debianLayout, "f /etc/shadow mode=0640", "f /etc/shadow size=3G mode=0640", 1))
			wantPlanErr(t, fsys, pw, vfs.ErrTooLarge)
		})
		t.Run("shadow world readable", func(t *testing.T) {
			fsys := open(t, strings.Replace(debianLayout, "f /etc/shadow mode=0640", "f /etc/shadow mode=0644", 1))
			wantPlanErr(t, fsys, pw, ErrUnsafe)
		})
		t.Run("shadow a symlink", func(t *testing.T) {
			fsys := open(t, strings.Replace(debianLayout, "f /etc/shadow mode=0640 owner=0:42", "f /etc/shadow.real mode=0640 owner=0:42", 1)+"l /etc/shadow target=/etc/shadow.real\n")
			wantPlanErr(t, fsys, pw, vfs.ErrIsSymlink)
		})
		t.Run("user only in passwd", func(t *testing.T) {
			fsys := open(t, strings.Replace(debianLayout, `alice:!:19000`, `bob:!:19000`, 1))
			wantPlanErr(t, fsys, Spec{Passwords: []Password{{User: "alice", Plaintext: "x"}}}, ErrNoUser)
		})
		t.Run("duplicate shadow lines", func(t *testing.T) {
			fsys := open(t, strings.Replace(debianLayout, `daemon:*:19000`, `root:$6$x$y:1:::::\ndaemon:*:19000`, 1))
			wantPlanErr(t, fsys, pw, guestetc.ErrDuplicate)
		})
		t.Run("weak hash", func(t *testing.T) {
			fsys := open(t, debianLayout)
			wantPlanErr(t, fsys, Spec{Passwords: []Password{{Hash: "$1$salt$qJH7.N4xYta3aEG/dfqo/0"}}}, ErrInvalidSpec, guestetc.ErrBadHash)
		})
		t.Run("same user twice", func(t *testing.T) {
			fsys := open(t, debianLayout)
			wantPlanErr(t, fsys, Spec{Passwords: []Password{{Plaintext: "a"}, {User: "root", Lock: Lock}}}, ErrConflict)
		})
		t.Run("nothing to do", func(t *testing.T) {
			fsys := open(t, debianLayout)
			wantPlanErr(t, fsys, Spec{Passwords: []Password{{User: "alice"}}}, ErrInvalidSpec)
		})
	})
}
