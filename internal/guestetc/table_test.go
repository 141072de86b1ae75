package guestetc

import (
	"bytes"
	"errors"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

const passwdFixture = `root:x:0:0:root:/root:/bin/bash
# a comment the guest keeps
daemon:x:1:1:daemon:/usr/sbin:/usr/sbin/nologin
+nisuser::::::
alice:x:1000:1000:Alice,,,:/home/alice:/bin/bash
twice:x:1001:1001::/home/twice:/bin/sh
twice:x:1002:1002::/home/twice2:/bin/sh
short:x:1003
baduid:x:-1:0::/:/bin/sh
`

func TestPasswdUser(t *testing.T) {
	p := ParsePasswd([]byte(passwdFixture))
	got, err := p.User("alice")
	if err != nil {
		t.Fatal(err)
	}
	want := User{Name: "alice", Password: "x", UID: 1000, GID: 1000, GECOS: "Alice,,,", Home: "/home/alice", Shell: "/bin/bash"}
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("User(alice) (-want +got):\n%s", d)
	}
	for name, wantErr := range map[string]error{
		"twice": ErrDuplicate, "nobody": ErrNotFound, "short": ErrMalformed,
		"baduid": ErrMalformed, "+nisuser": ErrNotFound, "# a comment the guest keeps": ErrNotFound,
	} {
		_, err := p.User(name)
		var ee *EntryError
		if !errors.Is(err, wantErr) || !errors.As(err, &ee) || ee.Name != name || ee.File != "passwd" {
			t.Errorf("User(%q) = %v, want an EntryError wrapping %v", name, err, wantErr)
		}
	}
}

func TestSetFieldPreservesOtherBytes(t *testing.T) {
	in := "root:x:0:0:root:/root:/bin/bash\r\n\n#c\nalice:x:1000:1000::/home/alice:/bin/sh"
	p := ParsePasswd([]byte(in))
	q, err := p.SetPassword("alice", "*")
	if err != nil {
		t.Fatal(err)
	}
	want := "root:x:0:0:root:/root:/bin/bash\r\n\n#c\nalice:*:1000:1000::/home/alice:/bin/sh"
	if got := string(q.Bytes()); got != want {
		t.Errorf("got %q, want %q", got, want)
	}
	if string(p.Bytes()) != in {
		t.Error("SetPassword changed the original table")
	}
	for _, v := range []string{"a:b", "a\nb", "a\x00"} {
		if _, err := p.SetPassword("alice", v); !errors.Is(err, ErrInvalidValue) {
			t.Errorf("SetPassword(%q) = %v, want ErrInvalidValue", v, err)
		}
	}
}

func TestGroup(t *testing.T) {
	g := ParseGroup([]byte("root:x:0:\nwheel:x:10:alice,bob\nodd:x:zz:\n"))
	got, err := g.Group("wheel")
	if err != nil {
		t.Fatal(err)
	}
	if d := cmp.Diff(Group{Name: "wheel", GID: 10, Members: []string{"alice", "bob"}}, got); d != "" {
		t.Errorf("Group(wheel) (-want +got):\n%s", d)
	}
	if _, err := g.Group("odd"); !errors.Is(err, ErrMalformed) {
		t.Errorf("Group(odd) = %v, want ErrMalformed", err)
	}
}

const shadowFixture = "root:*:19000:0:99999:7:::\nalice:$6$old$hash:19000:0:99999:7:::\nlocked:!$6$x$y:1::::::\nnopw:!:1::::::\nbroken:x:1\n"

func TestShadowEdits(t *testing.T) {
	s := ParseShadow([]byte(shadowFixture))
	s2, err := s.SetHash("alice", "$6$new$hash", 20000)
	if err != nil {
		t.Fatal(err)
	}
	want := strings.Replace(shadowFixture, "alice:$6$old$hash:19000:", "alice:$6$new$hash:20000:", 1)
	if got := string(s2.Bytes()); got != want {
		t.Errorf("SetHash:\n got %q\nwant %q", got, want)
	}
	s3, err := s2.Lock("alice")
	if err != nil {
		t.Fatal(err)
	}
	if e, _ := s3.Entry("alice"); e.Hash != "!$6$new$hash" || !e.Locked() || e.LastChange != "20000" {
		t.Errorf("after Lock: %+v", e)
	}
	if s4, _ := s3.Lock("alice"); !bytes.Equal(s4.Bytes(), s3.Bytes()) {
		t.Error("locking twice changed the file")
	}
	s5, err := s3.Unlock("alice")
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(s5.Bytes(), s2.Bytes()) {
		t.Errorf("Unlock(Lock(x)) = %q, want %q", s5.Bytes(), s2.Bytes())
	}
	if _, err := s.Unlock("nopw"); !errors.Is(err, ErrInvalidValue) {
		t.Errorf("Unlock of a bare \"!\" = %v, want ErrInvalidValue", err)
	}
	if _, err := s.SetHash("broken", "h", 1); !errors.Is(err, ErrMalformed) {
		t.Errorf("SetHash on a short line = %v, want ErrMalformed", err)
	}
}

func TestOSRelease(t *testing.T) {
	in := "NAME=\"Rocky Linux\"\nID=\"rocky\"\nID_LIKE='rhel centos fedora'\nVERSION_ID=9.3\n# c\nBAD KEY=x\nPRETTY_NAME=\"a \\\"q\\\" \\\\ b\"\nUNTERMINATED=\"x\n"
	o := ParseOSRelease([]byte(in))
	want := OSRelease{"NAME": "Rocky Linux", "ID": "rocky", "ID_LIKE": "rhel centos fedora", "VERSION_ID": "9.3", "PRETTY_NAME": `a "q" \ b`}
	if d := cmp.Diff(want, o); d != "" {
		t.Errorf("ParseOSRelease (-want +got):\n%s", d)
	}
	if d := cmp.Diff([]string{"rocky", "rhel", "centos", "fedora"}, o.IDs()); d != "" {
		t.Errorf("IDs (-want +got):\n%s", d)
	}
	if !o.Like("rhel") || o.Like("debian") {
		t.Error("Like is wrong")
	}
}

func TestSetHostsName(t *testing.T) {
	cases := []struct{ name, in, want string }{
		{"append", "127.0.0.1\tlocalhost\n", "127.0.0.1\tlocalhost\n127.0.1.1\tvm1\n"},
		{"append without final newline", "127.0.0.1 localhost", "127.0.0.1 localhost\n127.0.1.1\tvm1\n"},
		{"empty", "", "127.0.1.1\tvm1\n"},
		{"replace old name", "127.0.0.1 localhost\n127.0.1.1 old.example old # x\n::1 localhost\n", "127.0.0.1 localhost\n127.0.1.1\tvm1\n::1 localhost\n"},
		{"already there", "127.0.0.1 localhost VM1\n", "127.0.0.1 localhost VM1\n"},
		{"non-loopback mention does not count", "10.0.0.1 vm1\n", "10.0.0.1 vm1\n127.0.1.1\tvm1\n"},
		{"commented mention does not count", "127.0.0.1 localhost # vm1\n", "127.0.0.1 localhost # vm1\n127.0.1.1\tvm1\n"},
	}
	for _, c := range cases {
		got := string(SetHostsName([]byte(c.in), "vm1"))
		if got != c.want {
			t.Errorf("%s: got %q, want %q", c.name, got, c.want)
		}
		if again := string(SetHostsName([]byte(got), "vm1")); again != got {
			t.Errorf("%s: not idempotent: %q then %q", c.name, got, again)
		}
	}
}
