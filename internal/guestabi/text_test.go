package guestabi_test

import (
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/guestinject/guestinject/internal/guestabi"
)

func TestClean(t *testing.T) {
	for _, tc := range []struct {
		in   string
		max  int
		want string
	}{
		{"Debian GNU/Linux 12", guestabi.MaxShortText, "Debian GNU/Linux 12"},
		{"a\x1b[31mb\n", 16, "a?[31mb?"},
		{"\xff\xfeok", 16, "?ok"},
		{"\u0085x", 16, "?x"}, // C1 control
		{"abcdef", 3, "abc…"},
		{"ééé", 5, "éé…"}, // cut between the bytes of a character
		{"", 0, ""},
	} {
		got := guestabi.Clean(tc.in, tc.max)
		if got != tc.want {
			t.Errorf("Clean(%q, %d) = %q, want %q", tc.in, tc.max, got, tc.want)
		}
		if !guestabi.IsClean(got, tc.max) {
			t.Errorf("IsClean(Clean(%q, %d)) = false", tc.in, tc.max)
		}
	}
}

func TestIsCleanRejects(t *testing.T) {
	for _, tc := range []struct {
		s   string
		max int
	}{
		{"a\nb", 16},
		{"\x7f", 16},
		{"\xff", 16},
		{"\u009b", 16},
		{strings.Repeat("a", guestabi.MaxText+len("…")+1), guestabi.MaxText},
	} {
		if guestabi.IsClean(tc.s, tc.max) {
			t.Errorf("IsClean(%.40q, %d) = true", tc.s, tc.max)
		}
	}
}

func TestTruncate(t *testing.T) {
	if got := guestabi.Truncate("a\x01b", 8); got != "a\x01b" {
		t.Errorf("Truncate changed a short string: %q", got)
	}
	long := strings.Repeat("é", guestabi.MaxText)
	got := guestabi.Truncate(long, guestabi.MaxText)
	if len(got) > guestabi.MaxText+len("…") || !utf8.ValidString(got) || !strings.HasSuffix(got, "…") {
		t.Errorf("Truncate(%d bytes) = %d bytes %.20q", len(long), len(got), got)
	}
}

func FuzzClean(f *testing.F) {
	f.Add("Debian GNU/Linux 12", guestabi.MaxShortText)
	f.Add("a\x1b[31m\xff\u0085é", 4)
	f.Add(strings.Repeat("é", 600), guestabi.MaxText)
	f.Fuzz(func(t *testing.T, s string, max int) {
		if max < 0 || max > 4*guestabi.MaxText {
			return
		}
		got := guestabi.Clean(s, max)
		if !guestabi.IsClean(got, max) {
			t.Fatalf("Clean(%q, %d) = %q, which IsClean refuses", s, max, got)
		}
		if guestabi.IsClean(s, max) && len(s) <= max && got != s {
			t.Fatalf("Clean(%q, %d) = %q changed clean text", s, max, got)
		}
		// Replacing never lengthens text, so only a cut adds the ellipsis.
		if len(s) <= max && len(got) > len(s) {
			t.Fatalf("Clean(%q, %d) = %q grew short text", s, max, got)
		}
	})
}
