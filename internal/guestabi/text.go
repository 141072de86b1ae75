package guestabi

import (
	"strings"
	"unicode"
	"unicode/utf8"
)

// Limits on the text the agent sends the host, in bytes. The agent makes
// its strings fit with Clean; the host accepts them only if IsClean, so
// they can be printed and logged as they are.
const (
	// MaxText bounds a message, a note, an error, a path or an fstab
	// source.
	MaxText = 1024
	// MaxShortText bounds a name: a device, label, UUID, filesystem type
	// or os-release field.
	MaxShortText = 256
)

// ellipsis marks text that Truncate cut.
const ellipsis = "…"

// Clean makes s, which may come from the guest image, fit the rules for
// text to the host: invalid UTF-8 and control characters become "?", and
// text longer than max bytes is cut by Truncate.
func Clean(s string, max int) string {
	s = strings.ToValidUTF8(s, "?")
	s = strings.Map(func(r rune) rune {
		if unicode.IsControl(r) {
			return '?'
		}
		return r
	}, s)
	return Truncate(s, max)
}

// IsClean reports whether s keeps the rules Clean applies: valid UTF-8
// without control characters, at most max bytes plus the ellipsis
// Truncate adds.
func IsClean(s string, max int) bool {
	return len(s) <= max+len(ellipsis) && utf8.ValidString(s) && !strings.ContainsFunc(s, unicode.IsControl)
}

// Truncate returns s when it has at most max bytes; otherwise the longest
// valid UTF-8 prefix of its first max bytes followed by "…". It changes
// nothing else.
func Truncate(s string, max int) string {
	if len(s) <= max {
		return s
	}
	s = s[:max]
	for !utf8.ValidString(s) && len(s) > 0 {
		s = s[:len(s)-1]
	}
	return s + ellipsis
}
