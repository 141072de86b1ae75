package main

import (
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/guestinject/guestinject/inject"
)

// errPerl marks a Perl expression that --edit cannot run: a feature of
// Perl that Go's RE2 regexp, or this translation, does not have.
var errPerl = errors.New("not supported")

// parsePerlSubst translates virt-customize's --edit expression, a Perl
// substitution s/RE/REPL/FLAGS, into an inject.Edit applied to each line
// as Perl's -p loop would. Any delimiter Perl takes is accepted: s|a|b|,
// s#a#b#, bracketing pairs s{a}{b}, s(a)[b] with nesting, and s'a'b' with
// no interpolation. Flags g, i, m and s are kept; e, x, r and the rest,
// and Perl features RE2 lacks (backreferences in the pattern, lookaround,
// possessive and atomic groups, variables, case modification in the
// replacement), are refused with errPerl. The pattern is matched against
// a line without its newline, so $ is the end of the line and a pattern
// cannot join lines.
func parsePerlSubst(expr string) (inject.Edit, error) {
	// A statement's final ";" is Perl's too.
	e := strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(expr), ";"))
	if !strings.HasPrefix(e, "s") || len(e) < 2 {
		return inject.Edit{}, fmt.Errorf("%q: %w: only a Perl substitution s/RE/REPL/[g] is supported", expr, errPerl)
	}
	s := perlScanner{src: e, pos: 1}
	open := s.delim()
	switch {
	case open == 0:
		return inject.Edit{}, fmt.Errorf("%q: want s/RE/REPL/", expr)
	case isWordRune(open) || open == '\\' || open == ' ' || open == '\t':
		return inject.Edit{}, fmt.Errorf("%q: %q cannot delimit a substitution", expr, open)
	}
	pattern, ok := s.until(open)
	if !ok {
		return inject.Edit{}, fmt.Errorf("%q: the pattern is not closed by %q", expr, closer(open))
	}
	replOpen := open
	if closer(open) != open {
		// s{RE}{REPL}: the replacement has its own delimiters, maybe
		// after blanks.
		for s.pos < len(s.src) && (s.src[s.pos] == ' ' || s.src[s.pos] == '\t') {
			s.pos++
		}
		if replOpen = s.delim(); replOpen == 0 || isWordRune(replOpen) || replOpen == '\\' {
			return inject.Edit{}, fmt.Errorf("%q: want the replacement in its own delimiters after %q", expr, closer(open))
		}
	}
	repl, ok := s.until(replOpen)
	if !ok {
		return inject.Edit{}, fmt.Errorf("%q: the replacement is not closed by %q", expr, closer(replOpen))
	}
	all := false
	var flags strings.Builder
	for _, f := range s.src[s.pos:] {
		switch f {
		case 'g':
			all = true
		case 'i', 'm', 's':
			if !strings.ContainsRune(flags.String(), f) {
				flags.WriteRune(f)
			}
		case 'e':
			return inject.Edit{}, fmt.Errorf("%q: the e flag (Perl code as the replacement) is %w", expr, errPerl)
		case 'x':
			return inject.Edit{}, fmt.Errorf("%q: the x flag (extended patterns) is %w: write the pattern without blanks and comments", expr, errPerl)
		default:
			if isWordRune(f) {
				return inject.Edit{}, fmt.Errorf("%q: the %c flag is %w (g, i, m and s are)", expr, f, errPerl)
			}
			return inject.Edit{}, fmt.Errorf("%q: %w: text after the substitution; one s/RE/REPL/ only", expr, errPerl)
		}
	}
	literal := open == '\''
	re, err := perlPattern(pattern, literal)
	if err != nil {
		return inject.Edit{}, fmt.Errorf("%q: %w", expr, err)
	}
	if re == "" {
		return inject.Edit{}, fmt.Errorf("%q: an empty pattern (Perl would reuse the last one) is %w", expr, errPerl)
	}
	if flags.Len() > 0 {
		re = "(?" + flags.String() + ")" + re
	}
	if _, err := regexp.Compile(re); err != nil {
		return inject.Edit{}, fmt.Errorf("%q: %w", expr, explainRE2(err))
	}
	tmpl, err := perlReplacement(repl, replOpen == '\'')
	if err != nil {
		return inject.Edit{}, fmt.Errorf("%q: %w", expr, err)
	}
	return inject.Edit{Pattern: re, Replacement: tmpl, All: all, Lines: true}, nil
}

type perlScanner struct {
	src string
	pos int
}

// delim reads the next rune as a delimiter, 0 at the end.
func (s *perlScanner) delim() rune {
	if s.pos >= len(s.src) {
		return 0
	}
	r, n := utf8.DecodeRuneInString(s.src[s.pos:])
	s.pos += n
	return r
}

// closer is the delimiter that closes open: its pair for brackets.
func closer(open rune) rune {
	switch open {
	case '(':
		return ')'
	case '[':
		return ']'
	case '{':
		return '}'
	case '<':
		return '>'
	}
	return open
}

// until reads up to the delimiter closing open, nesting brackets and
// keeping backslash escapes as they are.
func (s *perlScanner) until(open rune) (string, bool) {
	end, depth, start := closer(open), 0, s.pos
	for s.pos < len(s.src) {
		r, n := utf8.DecodeRuneInString(s.src[s.pos:])
		switch {
		case r == '\\':
			if s.pos+n >= len(s.src) {
				return "", false
			}
			_, m := utf8.DecodeRuneInString(s.src[s.pos+n:])
			s.pos += n + m
			continue
		case r == end && depth == 0:
			text := s.src[start:s.pos]
			s.pos += n
			return text, true
		case r == end:
			depth--
		case r == open && end != open:
			depth++
		}
		s.pos += n
	}
	return "", false
}

func isWordRune(r rune) bool {
	return r == '_' || ('a' <= r && r <= 'z') || ('A' <= r && r <= 'Z') || ('0' <= r && r <= '9')
}

// perlPattern checks a Perl pattern for what RE2 would silently read
// otherwise, and rewrites the little that differs: \Z (end, before a final
// newline) is \z, since the line's newline is off. Without literal, a $ or
// @ that Perl would read as a variable is refused.
func perlPattern(p string, literal bool) (string, error) {
	var b strings.Builder
	for i := 0; i < len(p); i++ {
		c := p[i]
		switch {
		case c == '\\' && i+1 < len(p):
			next := p[i+1]
			switch {
			case next >= '1' && next <= '9':
				return "", fmt.Errorf("the backreference \\%c is %w: RE2 has no backreferences", next, errPerl)
			case next == 'Z':
				b.WriteString(`\z`)
			case next == 'G' || next == 'K':
				return "", fmt.Errorf("\\%c is %w by RE2", next, errPerl)
			default:
				b.WriteByte(c)
				b.WriteByte(next)
			}
			i++
			continue
		case (c == '$' || c == '@') && !literal && i+1 < len(p) && (isWordRune(rune(p[i+1])) || p[i+1] == '{' || p[i+1] == ':'):
			return "", fmt.Errorf("%c%c would interpolate a Perl variable, which is %w: write \\%c for the character", c, p[i+1], errPerl, c)
		}
		b.WriteByte(c)
	}
	return b.String(), nil
}

// explainRE2 words a regexp.Compile error for a Perl user.
func explainRE2(err error) error {
	msg := err.Error()
	switch {
	case strings.Contains(msg, "(?=") || strings.Contains(msg, "(?!") || strings.Contains(msg, "(?<=") || strings.Contains(msg, "(?<!"):
		return fmt.Errorf("lookahead and lookbehind are %w by Go's RE2 regexp: %v", errPerl, err)
	case strings.Contains(msg, "(?>"):
		return fmt.Errorf("atomic groups are %w by Go's RE2 regexp: %v", errPerl, err)
	case strings.Contains(msg, "nested repetition"):
		return fmt.Errorf("possessive quantifiers are %w by Go's RE2 regexp: %v", errPerl, err)
	}
	return fmt.Errorf("a Perl pattern feature %w by Go's RE2 regexp, or a malformed pattern: %v", errPerl, err)
}

// perlReplacement turns a Perl replacement, a double-quoted string, into
// a regexp.Expand template: $1, ${1} and \1 name groups, $& the match,
// $+{name} a named group; \n, \t, \r, \e, \0, \xHH and \x{H...} are
// characters; a backslash before punctuation makes it literal. Perl
// variables and the case modifiers \u \l \U \L \Q \E are refused. With
// literal (the ' delimiter) nothing is interpolated.
func perlReplacement(r string, literal bool) (string, error) {
	var b strings.Builder
	if literal {
		return strings.ReplaceAll(r, "$", "$$"), nil
	}
	group := func(name string) { b.WriteString("${" + name + "}") }
	for i := 0; i < len(r); i++ {
		c := r[i]
		switch c {
		case '$':
			rest := r[i+1:]
			switch {
			case rest == "":
				return "", fmt.Errorf("a final $ in the replacement: write \\$ for the character")
			case rest[0] >= '0' && rest[0] <= '9':
				n := 1
				for n < len(rest) && rest[n] >= '0' && rest[n] <= '9' {
					n++
				}
				group(rest[:n])
				i += n
			case rest[0] == '&':
				group("0")
				i++
			case rest[0] == '{':
				end := strings.IndexByte(rest, '}')
				if end < 0 || !allDigits(rest[1:end]) {
					return "", fmt.Errorf("${...} in the replacement: only ${N} group numbers are %w as variables", errPerl)
				}
				group(rest[1:end])
				i += end + 1
			case strings.HasPrefix(rest, "+{"):
				end := strings.IndexByte(rest, '}')
				if end < 0 || !validGroupName(rest[2:end]) {
					return "", fmt.Errorf("$+{...} in the replacement wants a group name")
				}
				group(rest[2:end])
				i += end + 1
			default:
				return "", fmt.Errorf("$%s in the replacement would interpolate a Perl variable, which is %w: write \\$ for the character", firstRune(rest), errPerl)
			}
		case '@':
			if i+1 < len(r) && (isWordRune(rune(r[i+1])) || r[i+1] == '{' || r[i+1] == '$' || r[i+1] == ':') {
				return "", fmt.Errorf("@%s in the replacement would interpolate a Perl array, which is %w: write \\@ for the character", firstRune(r[i+1:]), errPerl)
			}
			b.WriteByte(c)
		case '\\':
			if i+1 >= len(r) {
				return "", fmt.Errorf("a final \\ in the replacement")
			}
			i++
			n, err := perlEscape(r[i:], &b, group)
			if err != nil {
				return "", err
			}
			i += n - 1
		default:
			b.WriteByte(c)
		}
	}
	return b.String(), nil
}

// perlEscape writes the escape that starts s (after its backslash) and
// returns how many bytes it took.
func perlEscape(s string, b *strings.Builder, group func(string)) (int, error) {
	c := s[0]
	switch {
	case c >= '1' && c <= '9':
		group(string(c))
		return 1, nil
	case c == 'n':
		b.WriteByte('\n')
	case c == 't':
		b.WriteByte('\t')
	case c == 'r':
		b.WriteByte('\r')
	case c == 'e':
		b.WriteByte(0x1b)
	case c == 'a':
		b.WriteByte(0x07)
	case c == 'f':
		b.WriteByte('\f')
	case c == '0':
		b.WriteByte(0)
	case c == 'x':
		return perlHex(s, b)
	case c == 'u' || c == 'l' || c == 'U' || c == 'L' || c == 'Q' || c == 'E' || c == 'F':
		return 0, fmt.Errorf("the case modifier \\%c in the replacement is %w", c, errPerl)
	case c == '$':
		b.WriteString("$$")
	case c < utf8.RuneSelf && !isWordRune(rune(c)):
		b.WriteByte(c)
	default:
		_, n := utf8.DecodeRuneInString(s)
		if n > 1 {
			b.WriteString(s[:n])
			return n, nil
		}
		return 0, fmt.Errorf("the escape \\%c in the replacement is %w", c, errPerl)
	}
	return 1, nil
}

// perlHex reads \xHH or \x{H...} (s starts at the x).
func perlHex(s string, b *strings.Builder) (int, error) {
	digits, n := "", 1
	if strings.HasPrefix(s, "x{") {
		end := strings.IndexByte(s, '}')
		if end < 0 {
			return 0, fmt.Errorf("\\x{ without its }")
		}
		digits, n = s[2:end], end+1
	} else {
		for n < len(s) && n < 3 && strings.IndexByte("0123456789abcdefABCDEF", s[n]) >= 0 {
			n++
		}
		digits = s[1:n]
	}
	if digits == "" {
		digits = "0"
	}
	v, err := strconv.ParseUint(digits, 16, 32)
	if err != nil || v > utf8.MaxRune {
		return 0, fmt.Errorf("\\x%s: not a character", digits)
	}
	if v < 0x100 {
		b.WriteByte(byte(v)) // a byte, as Perl writes it to a file without layers
	} else {
		b.WriteRune(rune(v))
	}
	if v == '$' {
		b.WriteByte('$') // doubled: a literal $ in the template
	}
	return n, nil
}

func allDigits(s string) bool {
	if s == "" {
		return false
	}
	for i := range len(s) {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

func validGroupName(s string) bool {
	if s == "" {
		return false
	}
	for _, r := range s {
		if !isWordRune(r) {
			return false
		}
	}
	return true
}

func firstRune(s string) string {
	_, n := utf8.DecodeRuneInString(s)
	return s[:n]
}
