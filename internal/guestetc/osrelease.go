package guestetc

import (
	"bytes"
	"strings"
)

// OSRelease is a parsed os-release(5) file.
type OSRelease map[string]string

// ParseOSRelease parses os-release(5) content: KEY=value lines, values
// optionally in single or double quotes, backslash escapes inside double
// quotes. Lines it does not understand are ignored, as systemd does.
func ParseOSRelease(data []byte) OSRelease {
	m := OSRelease{}
	for line := range bytes.Lines(data) {
		s := strings.TrimSpace(string(line))
		if s == "" || s[0] == '#' {
			continue
		}
		key, value, ok := strings.Cut(s, "=")
		if !ok || !validKey(key) {
			continue
		}
		v, ok := unquote(value)
		if !ok {
			continue
		}
		m[key] = v
	}
	return m
}

func validKey(k string) bool {
	if k == "" {
		return false
	}
	for i, c := range []byte(k) {
		switch {
		case c >= 'A' && c <= 'Z', c == '_', c >= '0' && c <= '9' && i > 0, c >= 'a' && c <= 'z':
		default:
			return false
		}
	}
	return true
}

func unquote(v string) (string, bool) {
	if v == "" {
		return "", true
	}
	switch q := v[0]; q {
	case '"', '\'':
		if len(v) < 2 || v[len(v)-1] != q {
			return "", false
		}
		inner := v[1 : len(v)-1]
		if q == '\'' {
			return inner, !strings.ContainsRune(inner, '\'')
		}
		var b strings.Builder
		for i := 0; i < len(inner); i++ {
			c := inner[i]
			if c == '\\' && i+1 < len(inner) {
				i++
				c = inner[i]
			} else if c == '"' || c == '\\' {
				return "", false
			}
			b.WriteByte(c)
		}
		return b.String(), true
	}
	return v, true
}

// IDs returns ID followed by the words of ID_LIKE, lower-cased: the
// distribution and those it derives from, most specific first.
func (o OSRelease) IDs() []string {
	var ids []string
	if id := strings.ToLower(o["ID"]); id != "" {
		ids = append(ids, id)
	}
	for w := range strings.FieldsSeq(strings.ToLower(o["ID_LIKE"])) {
		ids = append(ids, w)
	}
	return ids
}

// Like reports whether the distribution is id or derives from it.
func (o OSRelease) Like(id string) bool {
	for _, x := range o.IDs() {
		if x == id {
			return true
		}
	}
	return false
}
