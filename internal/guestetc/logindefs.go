package guestetc

import (
	"bytes"
	"strconv"
	"strings"
)

// LoginDefs is a parsed /etc/login.defs: shadow-utils' settings, one
// "NAME value" pair a line. When a name appears twice the last wins, as
// in shadow-utils.
type LoginDefs map[string]string

// ParseLoginDefs parses login.defs(5) content. Blank lines, comments and
// lines without a value are ignored; values may be double-quoted.
func ParseLoginDefs(data []byte) LoginDefs {
	d := LoginDefs{}
	for line := range bytes.Lines(data) {
		s := strings.TrimSpace(string(line))
		if s == "" || s[0] == '#' {
			continue
		}
		name, value, ok := strings.Cut(strings.ReplaceAll(s, "\t", " "), " ")
		if !ok || !validKey(name) {
			continue
		}
		value = strings.TrimSpace(value)
		if len(value) >= 2 && value[0] == '"' && value[len(value)-1] == '"' {
			value = value[1 : len(value)-1]
		}
		d[name] = value
	}
	return d
}

// Int returns the number name holds (decimal, 0x hexadecimal or 0 octal,
// as shadow-utils reads it), or def when it is missing or not a number
// in [0, MaxID].
func (d LoginDefs) Int(name string, def int) int {
	v, ok := d[name]
	if !ok {
		return def
	}
	n, err := strconv.ParseInt(v, 0, 64)
	if err != nil || n < 0 || n > MaxID {
		return def
	}
	return int(n)
}

// Bool returns whether name is "yes" (case-insensitively), or def when it
// is missing.
func (d LoginDefs) Bool(name string, def bool) bool {
	v, ok := d[name]
	if !ok {
		return def
	}
	return strings.EqualFold(v, "yes")
}
