package main

import (
	"context"
	"errors"
	"os/exec"
	"regexp"
	"strings"
	"testing"

	"github.com/guestinject/guestinject/inject"
	"github.com/guestinject/guestinject/internal/testsupport/testimage"
	"github.com/guestinject/guestinject/vfs"
	"github.com/guestinject/guestinject/vfs/memfs"
)

func TestParsePerlSubst(t *testing.T) {
	for expr, want := range map[string]inject.Edit{
		`s/^#?ServerName.*/ServerName example.com/`: {Pattern: `^#?ServerName.*`, Replacement: "ServerName example.com"},
		`s/a(b)c/$1-$&/g`:       {Pattern: `a(b)c`, Replacement: "${1}-${0}", All: true},
		`s|/usr/bin|/opt/bin|`:  {Pattern: `/usr/bin`, Replacement: "/opt/bin"},
		`s#x#y#gi`:              {Pattern: `(?i)x`, Replacement: "y", All: true},
		`s{a{2}}{b}`:            {Pattern: `a{2}`, Replacement: "b"},
		`s(a) [b]`:              {Pattern: `a`, Replacement: "b"},
		`s/\/etc\//x/`:          {Pattern: `\/etc\/`, Replacement: "x"},
		`s/x/\$1 \@ \\ \/ \t/`:  {Pattern: `x`, Replacement: "$$1 @ \\ / \t"},
		`s/(\d+)/${1}0/`:        {Pattern: `(\d+)`, Replacement: "${1}0"},
		`s/(?<k>\w+)/$+{k}!/`:   {Pattern: `(?<k>\w+)`, Replacement: "${k}!"},
		`s/(a)/\1\x41\x{263a}/`: {Pattern: `(a)`, Replacement: "${1}A\u263a"},
		`s'$x'$y'`:              {Pattern: `$x`, Replacement: "$$y"},
		`s/foo$/bar/s`:          {Pattern: `(?s)foo$`, Replacement: "bar"},
		`s/a\Z/b/`:              {Pattern: `a\z`, Replacement: "b"},
		` s/a/b/ `:              {Pattern: `a`, Replacement: "b"},
		`s/a/user@/`:            {Pattern: `a`, Replacement: "user@"},
		`s/a/b/g;`:              {Pattern: `a`, Replacement: "b", All: true},
	} {
		got, err := parsePerlSubst(expr)
		want.Lines = true
		if err != nil || got != want {
			t.Errorf("parsePerlSubst(%q) = %+v, %v; want %+v", expr, got, err, want)
		}
	}
}

func TestParsePerlSubstRefusals(t *testing.T) {
	for expr, wantMsg := range map[string]string{
		`$_ = "" if /x/`:   "only a Perl substitution",
		`y/a/b/`:           "only a Perl substitution",
		`s/a/b`:            "not closed",
		`s/a`:              "not closed",
		`sabac`:            "cannot delimit",
		`s`:                "only a Perl substitution",
		`s\a\b\`:           "cannot delimit",
		`s{a}`:             "own delimiters",
		`s/(a)\1/x/`:       "backreference",
		`s/a(?=b)/x/`:      "lookahead and lookbehind",
		`s/(?<!a)b/x/`:     "lookahead and lookbehind",
		`s/a++/x/`:         "possessive",
		`s/(?>a)/x/`:       "not supported",
		`s/a/b/e`:          "the e flag",
		`s/a/b/x`:          "the x flag",
		`s/a/b/gr`:         "the r flag",
		`s/a/b/; system 1`: "one s/RE/REPL/ only",
		`s//x/`:            "empty pattern",
		`s/$HOME/x/`:       "Perl variable",
		`s/a@b.c/x/`:       "Perl variable",
		`s/a/$x/`:          "Perl variable",
		`s/a/@list/`:       "Perl array",
		`s/a/\u$1/`:        "case modifier",
		`s/a/\z/`:          "escape",
		`s/a/${name}/`:     "${N}",
		`s/a/$/`:           "final $",
		`s/a\h/x/`:         "RE2",
		`s/[/x/`:           "RE2",
	} {
		_, err := parsePerlSubst(expr)
		if err == nil || !strings.Contains(err.Error(), wantMsg) {
			t.Errorf("parsePerlSubst(%q) = %v; want an error with %q", expr, err, wantMsg)
		}
	}
	if _, err := parsePerlSubst(`s/(?=a)/x/`); !errors.Is(err, errPerl) {
		t.Errorf("lookahead: %v, want errPerl", err)
	}
}

// The translation edits as perl -pe does, compared on the same input by
// running Perl itself.
func TestPerlSubstAgreesWithPerl(t *testing.T) {
	perl := testimage.NeedTool(t, "perl")
	input := "#ServerName old\nListen 80\r\nListen 8080\na-b-c a-b\nuser=alice home=/home/alice\nTAB\there\n\nno newline at the end"
	for _, expr := range []string{
		`s/^#?ServerName.*/ServerName example.com/`,
		`s/^Listen (\d+)$/Listen [::]:$1/`,
		`s/-/+/`,
		`s/-/+/g`,
		`s|/home/(\w+)|/srv/$1|g`,
		`s{(\w+)=(\w+)}{$2:$1}g`,
		`s/e/E/gi`,
		`s/^/# /`,
		`s/$/;/`,
		`s/a/\t\$&\\/g`,
		`s/(a)(-)?/[$1$2]/g`,
		`s/x*/_/`,
		`s/[ \t]+$//`,
		`s/(?<who>alice)/$+{who}!/`,
		`s'e'$&'g`,
		`s/^$/(empty)/`,
		`s/(\w)(\w*)/$2$1ay/g`,
		`s/n\Z/N/`,
	} {
		e, err := parsePerlSubst(expr)
		if err != nil {
			t.Errorf("%s: %v", expr, err)
			continue
		}
		cmd := exec.Command(perl, "-pe", expr)
		cmd.Stdin = strings.NewReader(input)
		want, err := cmd.Output()
		if err != nil {
			t.Fatalf("perl -pe %s: %v", expr, err)
		}
		if got := editOnMem(t, input, e); got != string(want) {
			t.Errorf("%s:\n got %q\nwant %q (perl)", expr, got, want)
		}
	}
	// Where Perl's line keeps its newline and the pattern can reach it,
	// the documented difference: the newline is kept, nothing joins.
	for expr, want := range map[string]string{
		`s/\s+$//`: "a\nb\n",
		`s/x*/_/g`: "_a_ _\n_b_\n",
	} {
		e, err := parsePerlSubst(expr)
		if err != nil {
			t.Fatal(err)
		}
		if got := editOnMem(t, "a \nb\n", e); got != want {
			t.Errorf("%s: got %q, want %q", expr, got, want)
		}
	}
}

// FuzzPerlSubst: any expression either translates into a pattern Go
// compiles and a template that expands, or is refused; nothing panics.
func FuzzPerlSubst(f *testing.F) {
	for _, s := range []string{
		`s/a/b/`, `s|a|b|g`, `s{a{1}}{b}`, `s(a)<b>i`, `s'a'$b'`, `s/(\d)/$1\1${1}$&/g`, `s/a/\x{41}\x4/`,
		`s/a/$+{n}/`, `s/\//\\/`, `s/a(?=b)/x/`, `s/a/@x/`, "s/a/b/\x00", `s{a}\n{b}`, `s/a/\`,
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, expr string) {
		e, err := parsePerlSubst(expr)
		if err != nil {
			return
		}
		if _, err := regexp.Compile(e.Pattern); err != nil {
			t.Fatalf("%q translated to a pattern Go refuses: %q: %v", expr, e.Pattern, err)
		}
		if !e.Lines || e.Pattern == "" {
			t.Fatalf("%q: %+v", expr, e)
		}
		editOnMem(t, "abc\n(a)-b/c $1\n", e)
	})
}

// editOnMem applies e to a file holding input in an in-memory guest and
// returns the file's content afterwards.
func editOnMem(t *testing.T, input string, e inject.Edit) string {
	t.Helper()
	ctx := context.Background()
	m := memfs.New()
	if err := m.Add(memfs.Node{Path: "/f", Mode: 0o644, Data: []byte(input)}); err != nil {
		t.Fatal(err)
	}
	e.Path = "/f"
	if _, err := inject.Apply(ctx, m, inject.Spec{Operations: []inject.Operation{{Edit: &e}}}); err != nil {
		t.Fatalf("edit %+v: %v", e, err)
	}
	data, err := vfs.ReadFile(ctx, m, "/f", 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	return string(data)
}
