package guestetc

import (
	"errors"
	"testing"
)

func TestSetEnv(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{"", "LANG=de_DE.UTF-8\n"},
		{"# comment\nLC_TIME=C\n", "# comment\nLC_TIME=C\nLANG=de_DE.UTF-8\n"},
		{"LC_TIME=C", "LC_TIME=C\nLANG=de_DE.UTF-8\n"},
		{"LANG=\"en_US.UTF-8\"\r\nLC_ALL=C\n", "LANG=de_DE.UTF-8\r\nLC_ALL=C\n"},
		{"  export LANG=C\nX=1\nLANG=fr_FR\n", "LANG=de_DE.UTF-8\nX=1\n"},
		{"LANGUAGE=en\n", "LANGUAGE=en\nLANG=de_DE.UTF-8\n"},
	} {
		if got := string(SetEnv([]byte(c.in), "LANG", "de_DE.UTF-8")); got != c.want {
			t.Errorf("SetEnv(%q) = %q, want %q", c.in, got, c.want)
		}
	}
}

func TestEnvValue(t *testing.T) {
	for _, c := range []struct {
		in, want string
		ok       bool
	}{
		{"", "", false},
		{"LANG=C\nLANG='de_DE.UTF-8'\n", "de_DE.UTF-8", true},
		{"export LANG=\"en_US.UTF-8\"\n", "en_US.UTF-8", true},
		{"LANGUAGE=en\n", "", false},
		{"LANG=\"unterminated\n", "", false},
	} {
		if got, ok := EnvValue([]byte(c.in), "LANG"); got != c.want || ok != c.ok {
			t.Errorf("EnvValue(%q) = %q, %v; want %q, %v", c.in, got, ok, c.want, c.ok)
		}
	}
}

func TestLoginDefs(t *testing.T) {
	d := ParseLoginDefs([]byte("# c\nUID_MIN\t\t 1000\nUID_MAX 0x10000\nGID_MIN 0777\nUMASK 077\nUSERGROUPS_ENAB yes\nHOME_MODE \"0750\"\nBAD -5\nUID_MIN 2000\nNOVALUE\nlower 1\n"))
	for name, want := range map[string]int{"UID_MIN": 2000, "UID_MAX": 0x10000, "GID_MIN": 0o777, "UMASK": 0o77, "HOME_MODE": 0o750, "BAD": 7, "MISSING": 7} {
		if got := d.Int(name, 7); got != want {
			t.Errorf("Int(%s) = %d, want %d", name, got, want)
		}
	}
	if !d.Bool("USERGROUPS_ENAB", false) || d.Bool("NOVALUE", false) || !d.Bool("MISSING", true) {
		t.Errorf("Bool: %v", d)
	}
	if _, ok := d["NOVALUE"]; ok {
		t.Error("a name without a value was kept")
	}
}

func TestGroupMembers(t *testing.T) {
	g := ParseGroup([]byte("wheel:x:10:\nstaff:x:50:alice\nbad:x:1\n"))
	g2, err := g.AddMember("wheel", "bob")
	if err != nil {
		t.Fatal(err)
	}
	g3, err := g2.AddMember("staff", "bob")
	if err != nil {
		t.Fatal(err)
	}
	g4, err := g3.AddMember("staff", "alice")
	if err != nil {
		t.Fatal(err)
	}
	if want := "wheel:x:10:bob\nstaff:x:50:alice,bob\nbad:x:1\n"; string(g4.Bytes()) != want {
		t.Errorf("got %q, want %q", g4.Bytes(), want)
	}
	for _, c := range []struct {
		group, user string
		want        error
	}{{"bad", "bob", ErrMalformed}, {"nope", "bob", ErrNotFound}, {"wheel", "a,b", ErrInvalidValue}, {"wheel", "", ErrInvalidValue}} {
		if _, err := g.AddMember(c.group, c.user); !errors.Is(err, c.want) {
			t.Errorf("AddMember(%q, %q) = %v, want %v", c.group, c.user, err, c.want)
		}
	}
}

func TestGShadow(t *testing.T) {
	s := ParseGShadow([]byte("wheel:!::alice\nsudo:!:root:\nshort:!\n"))
	e, err := s.Entry("sudo")
	if err != nil || e.Password != "!" || len(e.Admins) != 1 || e.Admins[0] != "root" || e.Members != nil {
		t.Fatalf("Entry(sudo) = %+v, %v", e, err)
	}
	s2, err := s.AddMember("wheel", "bob")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.AddMember("short", "bob"); !errors.Is(err, ErrMalformed) {
		t.Errorf("AddMember on a short line: %v", err)
	}
	s3, err := s2.Table.AppendLine("bob:!::")
	if err != nil {
		t.Fatal(err)
	}
	if want := "wheel:!::alice,bob\nsudo:!:root:\nshort:!\nbob:!::\n"; string(s3.Bytes()) != want {
		t.Errorf("got %q, want %q", s3.Bytes(), want)
	}
	if _, err := s.Table.AppendLine("x\ny"); !errors.Is(err, ErrInvalidValue) {
		t.Errorf("AppendLine with a newline: %v", err)
	}
	n := 0
	ParseTable("passwd", []byte("a:1\n#c\na:2\n")).Entries(func([]string) { n++ })
	if n != 2 {
		t.Errorf("Entries saw %d lines, want 2", n)
	}
}
