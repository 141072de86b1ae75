package inject

import (
	"bytes"
	"context"
	"fmt"
	"io/fs"
	"regexp"

	"github.com/guestinject/guestinject/vfs"
)

// Edit replaces what a regular expression matches in an existing regular
// file, keeping the file's mode, owner and labels. The whole file is read
// (at most MaxEditSize bytes) and replaced atomically; a final symlink, a
// directory, a FIFO or a device is refused. An edit that matches nothing,
// or whose replacement changes nothing, is reported as kept.
//
// Pattern is Go's regexp syntax (RE2: no backreferences, no lookaround;
// matching time is linear in the file's size whatever the pattern).
// Without Lines the pattern is matched against the whole file as one
// text: ^ and $ match at its start and end unless the pattern sets (?m),
// and . does not match a newline unless it sets (?s). With Lines it is
// matched against each line separately, as virt-customize's --edit applies
// a Perl expression to each line: the line's "\n" is taken off first and
// put back after (a "\r" before it stays, as in Perl), so a match never
// spans lines or eats the newline, and ^ and $ are the line's ends. Perl,
// whose line keeps its newline, differs only where a pattern could match
// it: s/\s+$// there also removes the newline, joining lines, and an
// empty match is also found after it.
//
// Replacement is a template for regexp.Expand: $1 or ${1} is the first
// group's text, ${name} a named group's, $$ a literal $. All replaces every
// match (per line with Lines, as Perl's g flag); otherwise only the first
// one (the first of each line with Lines).
type Edit struct {
	Path        string `json:"path"`
	Pattern     string `json:"pattern"`
	Replacement string `json:"replacement"`
	All         bool   `json:"all,omitempty"`
	Lines       bool   `json:"lines,omitempty"`
}

func (p *planner) planEdit(ctx context.Context, item Item, e Edit) error {
	if err := opPath(item, e.Path, false); err != nil {
		return err
	}
	if e.Pattern == "" {
		return itemErrf(item, e.Path, ErrInvalidSpec, "an empty pattern")
	}
	re, err := regexp.Compile(e.Pattern)
	if err != nil {
		return itemErr(item, e.Path, fmt.Errorf("%w: pattern: %w", ErrInvalidSpec, err))
	}
	old, err := p.existing(ctx, item, e.Path)
	if err != nil {
		return err
	}
	if old == nil {
		return itemErr(item, e.Path, fs.ErrNotExist)
	}
	content, err := vfs.ReadFile(ctx, p.fsys, e.Path, MaxEditSize)
	if err != nil {
		return itemErr(item, e.Path, err)
	}
	edited, n, err := applyEdit(re, content, []byte(e.Replacement), e.All, e.Lines)
	if err != nil {
		return itemErr(item, e.Path, err)
	}
	if n == 0 {
		p.add(keep(item, e.Path, old, "no match"))
		return nil
	}
	if bytes.Equal(edited, content) {
		p.add(keep(item, e.Path, old, fmt.Sprintf("%d matches, replaced by the same text", n)))
		return nil
	}
	m, u, g := modeOwner(old)
	p.add(step{op: opWrite, change: Change{Item: item, Path: e.Path, Action: ActionReplace, Mode: m, UID: u, GID: g, Size: int64(len(edited)), Detail: plural(n, "replacement")}, data: edited, opts: inheritOpts})
	return nil
}

func plural(n int, what string) string {
	if n == 1 {
		return "1 " + what
	}
	return fmt.Sprintf("%d %ss", n, what)
}

// MaxEditMatches bounds the matches replaced at once (in the whole file,
// or in one line with Edit.Lines), so that a pattern matching everywhere,
// even the empty string, in a large file cannot make the plan hold
// millions of matches.
const MaxEditMatches = 1 << 18

// applyEdit returns content with re's matches replaced by the template,
// and how many there were. It fails with vfs.ErrTooLarge past
// MaxEditMatches matches at once or a result over MaxEditSize bytes.
func applyEdit(re *regexp.Regexp, content, template []byte, all, lines bool) ([]byte, int, error) {
	e := editor{re: re, template: template, all: all}
	if !lines {
		out, err := e.replace(nil, content)
		return out, e.count, err
	}
	var out []byte
	for line := range bytes.Lines(content) {
		body, end := line, []byte(nil)
		if bytes.HasSuffix(body, []byte("\n")) {
			body, end = body[:len(body)-1], []byte("\n")
		}
		var err error
		if out, err = e.replace(out, body); err != nil {
			return nil, 0, err
		}
		out = append(out, end...)
	}
	return out, e.count, nil
}

type editor struct {
	re       *regexp.Regexp
	template []byte
	all      bool
	count    int
}

// replace appends src to out with the first match of re replaced, or
// every one when all is set.
func (e *editor) replace(out, src []byte) ([]byte, error) {
	limit := 1
	if e.all {
		limit = MaxEditMatches + 1
	}
	matches := e.re.FindAllSubmatchIndex(src, limit)
	if len(matches) > MaxEditMatches {
		return nil, fmt.Errorf("%w: more than %d matches in one text", vfs.ErrTooLarge, MaxEditMatches)
	}
	e.count += len(matches)
	last := 0
	for _, m := range matches {
		out = append(out, src[last:m[0]]...)
		out = e.re.Expand(out, e.template, src, m)
		last = m[1]
		if len(out) > MaxEditSize {
			return nil, fmt.Errorf("%w: the edited file would be over %d bytes", vfs.ErrTooLarge, MaxEditSize)
		}
	}
	out = append(out, src[last:]...)
	if len(out) > MaxEditSize {
		return nil, fmt.Errorf("%w: the edited file would be over %d bytes", vfs.ErrTooLarge, MaxEditSize)
	}
	return out, nil
}
