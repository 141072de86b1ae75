package guestetc

import (
	"bytes"
	"errors"
	"slices"
	"strings"
	"testing"
)

func FuzzPasswd(f *testing.F) {
	f.Add([]byte(passwdFixture), "alice")
	f.Add([]byte("a:x:0:0::/:\n"), "a")
	f.Add([]byte("::::::\n:"), "")
	f.Fuzz(func(t *testing.T, data []byte, name string) {
		p := ParsePasswd(data)
		u, err := p.User(name)
		if err != nil {
			var ee *EntryError
			if !errors.As(err, &ee) {
				t.Fatalf("error %v is not an *EntryError", err)
			}
			return
		}
		if u.Name != name || u.UID < 0 || u.UID > MaxID || u.GID < 0 || u.GID > MaxID {
			t.Fatalf("User(%q) = %+v", name, u)
		}
		q, err := p.SetPassword(name, "*")
		if err != nil {
			t.Fatalf("SetPassword on a found user: %v", err)
		}
		checkOneFieldChanged(t, data, q.Bytes(), u.Password, "*")
		if u2, err := q.User(name); err != nil || u2.Password != "*" || u2.Home != u.Home {
			t.Fatalf("after SetPassword: %+v, %v", u2, err)
		}
	})
}

// checkOneFieldChanged checks that after differs from before only within a
// window no longer than the old and new field values.
func checkOneFieldChanged(t *testing.T, before, after []byte, old, new string) {
	t.Helper()
	if len(after) != len(before)-len(old)+len(new) {
		t.Fatalf("length %d -> %d for %q -> %q", len(before), len(after), old, new)
	}
	p := 0
	for p < len(before) && p < len(after) && before[p] == after[p] {
		p++
	}
	s := 0
	for s < len(before)-p && s < len(after)-p && before[len(before)-1-s] == after[len(after)-1-s] {
		s++
	}
	if len(before)-p-s > len(old) || len(after)-p-s > len(new) {
		t.Fatalf("more than the field changed:\n%q\n%q", before, after)
	}
}

func FuzzGroup(f *testing.F) {
	f.Add([]byte("wheel:x:10:alice,bob\n"), "wheel")
	f.Add([]byte("g:x:1:\ng:x:2:\n"), "g")
	f.Fuzz(func(t *testing.T, data []byte, name string) {
		g, err := ParseGroup(data).Group(name)
		if err == nil && (g.Name != name || g.GID < 0 || g.GID > MaxID) {
			t.Fatalf("Group(%q) = %+v", name, g)
		}
	})
}

func FuzzShadow(f *testing.F) {
	f.Add([]byte(shadowFixture), "alice", "$6$s$h")
	f.Add([]byte("x:!:::::::"), "x", "h")
	f.Fuzz(func(t *testing.T, data []byte, name, hash string) {
		s := ParseShadow(data)
		before, err := s.Entry(name)
		if err != nil {
			return
		}
		s2, err := s.SetHash(name, hash, 12345)
		if strings.ContainsAny(hash, ":\n\x00") {
			if !errors.Is(err, ErrInvalidValue) {
				t.Fatalf("SetHash(%q) = %v, want ErrInvalidValue", hash, err)
			}
			return
		}
		if err != nil {
			t.Fatalf("SetHash: %v", err)
		}
		after, err := s2.Entry(name)
		if err != nil || after.Hash != hash || after.LastChange != "12345" || strings.Join(after.Rest, ":") != strings.Join(before.Rest, ":") {
			t.Fatalf("after SetHash: %+v, %v (before %+v)", after, err, before)
		}
		if names, names2 := s.Names(), s2.Names(); strings.Join(names, "\n") != strings.Join(names2, "\n") {
			t.Fatalf("names changed: %q -> %q", names, names2)
		}
		locked, err := s2.Lock(name)
		if err != nil {
			t.Fatal(err)
		}
		if e, _ := locked.Entry(name); !e.Locked() {
			t.Fatalf("not locked: %+v", e)
		}
	})
}

func FuzzOSRelease(f *testing.F) {
	f.Add([]byte("ID=debian\nID_LIKE=\"a b\"\nX='y'\n"))
	f.Add([]byte("A=\"\\\"\"\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		for k := range ParseOSRelease(data) {
			if !validKey(k) {
				t.Fatalf("invalid key %q", k)
			}
		}
	})
}

func FuzzSetHostsName(f *testing.F) {
	f.Add([]byte("127.0.0.1 localhost\n127.0.1.1 old\n"), "vm")
	f.Add([]byte("127.0.1.1"), "vm")
	f.Fuzz(func(t *testing.T, data []byte, name string) {
		if name == "" || strings.ContainsAny(name, " \t\r\n#\v\f\u0085\u00a0") || !isPrintableASCII(name) {
			return
		}
		out := SetHostsName(data, name)
		if again := SetHostsName(out, name); !bytes.Equal(again, out) {
			t.Fatalf("not idempotent:\n%q\n%q", out, again)
		}
	})
}

func isPrintableASCII(s string) bool {
	for _, c := range []byte(s) {
		if c <= ' ' || c > '~' {
			return false
		}
	}
	return true
}

func FuzzLoginDefs(f *testing.F) {
	f.Add([]byte("UID_MIN 1000\nUID_MAX\t60000\nUMASK 022\nHOME_MODE \"0700\"\n"), "UID_MIN")
	f.Add([]byte("X 0x\nY 099\n"), "Y")
	f.Fuzz(func(t *testing.T, data []byte, name string) {
		d := ParseLoginDefs(data)
		for k := range d {
			if !validKey(k) {
				t.Fatalf("invalid name %q", k)
			}
		}
		if n := d.Int(name, -1); n < -1 || n > MaxID {
			t.Fatalf("Int(%q) = %d", name, n)
		}
	})
}

func FuzzSetEnv(f *testing.F) {
	f.Add([]byte("LANG=C\n# x\nexport LANG='a'\r\n"), "LANG", "de_DE.UTF-8")
	f.Add([]byte("KEYMAP"), "KEYMAP", "us")
	f.Fuzz(func(t *testing.T, data []byte, key, value string) {
		if !validKey(key) || value == "" || !isPrintableASCII(value) || strings.ContainsAny(value, "'\"\\") {
			return
		}
		out := SetEnv(data, key, value)
		if got, ok := EnvValue(out, key); !ok || got != value {
			t.Fatalf("after SetEnv(%q, %q): EnvValue = %q, %v\n%q", key, value, got, ok, out)
		}
		if again := SetEnv(out, key, value); !bytes.Equal(again, out) {
			t.Fatalf("not idempotent:\n%q\n%q", out, again)
		}
	})
}

func FuzzGShadow(f *testing.F) {
	f.Add([]byte("wheel:!::alice\n"), "wheel", "bob")
	f.Add([]byte("g:::\ng:::\n"), "g", "a")
	f.Fuzz(func(t *testing.T, data []byte, name, user string) {
		s := ParseGShadow(data)
		s2, err := s.AddMember(name, user)
		if err != nil {
			return
		}
		e, err := s2.Entry(name)
		if err != nil || !slices.Contains(e.Members, user) {
			t.Fatalf("after AddMember(%q, %q): %+v, %v", name, user, e, err)
		}
		if s3, _ := s2.AddMember(name, user); !bytes.Equal(s3.Bytes(), s2.Bytes()) {
			t.Fatalf("a second AddMember changed the file")
		}
	})
}
