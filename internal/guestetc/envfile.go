package guestetc

import (
	"bytes"
	"strings"
)

// EnvValue returns the value the last assignment of key in an
// environment-style file (/etc/locale.conf, /etc/vconsole.conf,
// /etc/default/locale) gives it, unquoted as systemd reads it, and whether
// one does. A later assignment overrides an earlier one, as in the shell
// and in systemd's parser.
func EnvValue(data []byte, key string) (string, bool) {
	value, found := "", false
	for line := range bytes.Lines(data) {
		if v, ok := assignment(line, key); ok {
			if u, ok := unquote(v); ok {
				value, found = u, true
			}
		}
	}
	return value, found
}

// SetEnv returns data with key assigned value: the first line assigning key
// is rewritten to KEY=value, later ones are dropped so that no stale
// assignment overrides it, and every other line is kept byte for byte.
// When no line assigns key, the assignment is appended. value is written
// as given; callers pass only values that need no quoting.
func SetEnv(data []byte, key, value string) []byte {
	entry := key + "=" + value
	var out []byte
	done := false
	for line := range bytes.Lines(data) {
		if _, ok := assignment(line, key); !ok {
			out = append(out, line...)
			continue
		}
		if done {
			continue
		}
		done = true
		body := bytes.TrimRight(line, "\r\n")
		out = append(out, entry...)
		out = append(out, line[len(body):]...)
	}
	if done {
		return out
	}
	if len(out) > 0 && out[len(out)-1] != '\n' {
		out = append(out, '\n')
	}
	return append(out, entry+"\n"...)
}

// assignment returns the raw value of a line assigning key ("KEY=value",
// optionally indented or prefixed by "export ").
func assignment(line []byte, key string) (string, bool) {
	s := strings.TrimSpace(string(line))
	if rest, ok := strings.CutPrefix(s, "export "); ok {
		s = strings.TrimLeft(rest, " \t")
	}
	v, ok := strings.CutPrefix(s, key+"=")
	return v, ok
}
