package guest

import (
	"bytes"
	"fmt"
	"path"
	"strings"
	"unicode/utf8"
)

// Bounds on a guest's /etc/fstab: a file or entry beyond them is not read.
const (
	MaxFstabSize    = 64 << 10
	MaxFstabEntries = 128
	maxFstabField   = 4096
)

// FstabEntry is one line of fstab(5), its fields unescaped.
type FstabEntry struct {
	Line    int      // 1-based line number
	Source  string   // fs_spec: UUID=..., LABEL=..., /dev/vdb1, ...
	Target  string   // fs_file: the mount point, or "none" for swap
	Type    string   // fs_vfstype
	Options []string // fs_mntops split at commas
}

// HasOption reports whether the entry's options include opt.
func (e FstabEntry) HasOption(opt string) bool {
	for _, o := range e.Options {
		if o == opt {
			return true
		}
	}
	return false
}

// FstabSkip is a line ParseFstab did not accept, and why.
type FstabSkip struct {
	Line   int
	Reason string
}

// ParseFstab parses fstab(5) content. Blank lines and comments are
// ignored; a line with fewer than three fields or more than six, a field
// with a bad octal escape, invalid UTF-8 or a control character is skipped
// with a reason. Content past MaxFstabSize and entries past
// MaxFstabEntries are skipped too.
func ParseFstab(data []byte) ([]FstabEntry, []FstabSkip) {
	var entries []FstabEntry
	var skips []FstabSkip
	if len(data) > MaxFstabSize {
		data = data[:MaxFstabSize]
		skips = append(skips, FstabSkip{Reason: fmt.Sprintf("file larger than %d bytes: the rest is ignored", MaxFstabSize)})
	}
	n := 0
	for line := range bytes.Lines(data) {
		n++
		fields := strings.Fields(string(line))
		if len(fields) == 0 || strings.HasPrefix(fields[0], "#") {
			continue
		}
		skip := func(format string, args ...any) {
			skips = append(skips, FstabSkip{Line: n, Reason: fmt.Sprintf(format, args...)})
		}
		if len(entries) == MaxFstabEntries {
			skip("more than %d entries", MaxFstabEntries)
			break
		}
		if len(fields) < 3 || len(fields) > 6 {
			skip("not an fstab entry: %d fields, want 3 to 6", len(fields))
			continue
		}
		var bad error
		for i, f := range fields[:min(len(fields), 4)] {
			if fields[i], bad = unescapeFstab(f); bad != nil {
				break
			}
		}
		if bad != nil {
			skip("%v", bad)
			continue
		}
		e := FstabEntry{Line: n, Source: fields[0], Target: fields[1], Type: fields[2], Options: []string{"defaults"}}
		if len(fields) >= 4 {
			e.Options = strings.Split(fields[3], ",")
		}
		entries = append(entries, e)
	}
	return entries, skips
}

// unescapeFstab decodes the octal escapes (\040 for a space) getmntent(3)
// knows and refuses what a mount point or source can never hold.
func unescapeFstab(s string) (string, error) {
	if len(s) > maxFstabField {
		return "", fmt.Errorf("field longer than %d bytes", maxFstabField)
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c == '\\' {
			// Three octal digits of at most 0377.
			if !isOctal(s, i+1) || s[i+1] > '3' {
				return "", fmt.Errorf("bad escape in %q", clip(s))
			}
			c = (s[i+1]-'0')<<6 | (s[i+2]-'0')<<3 | (s[i+3] - '0')
			i += 3
		}
		b.WriteByte(c)
	}
	out := b.String()
	if !utf8.ValidString(out) {
		return "", fmt.Errorf("field %q is not UTF-8", clip(s))
	}
	if strings.ContainsFunc(out, func(r rune) bool { return r < 0x20 || r == 0x7f }) {
		return "", fmt.Errorf("field %q holds a control character", clip(s))
	}
	return out, nil
}

func isOctal(s string, at int) bool {
	if at+3 > len(s) {
		return false
	}
	for _, c := range []byte(s[at : at+3]) {
		if c < '0' || c > '7' {
			return false
		}
	}
	return true
}

// clip bounds a hostile string quoted in a reason.
func clip(s string) string {
	const n = 64
	if len(s) <= n {
		return strings.ToValidUTF8(s, "?")
	}
	return strings.ToValidUTF8(s[:n], "?") + "…"
}

// cleanTarget returns the clean absolute form of a mount point, or an
// error saying why it cannot be one.
func cleanTarget(target string) (string, error) {
	if !strings.HasPrefix(target, "/") {
		return "", fmt.Errorf("mount point %q is not an absolute path", clip(target))
	}
	return path.Clean(target), nil
}
