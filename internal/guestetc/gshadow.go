package guestetc

import (
	"fmt"
	"slices"
	"strings"
)

// GShadowEntry is one /etc/gshadow entry.
type GShadowEntry struct {
	Name     string
	Password string
	Admins   []string
	Members  []string
}

// GShadow is a parsed /etc/gshadow.
type GShadow struct{ *Table }

// ParseGShadow indexes an /etc/gshadow file.
func ParseGShadow(data []byte) *GShadow { return &GShadow{ParseTable("gshadow", data)} }

// Entry returns the entry of the only line naming name.
func (g *GShadow) Entry(name string) (GShadowEntry, error) {
	f, err := g.Fields(name)
	if err != nil {
		return GShadowEntry{}, err
	}
	if len(f) != 4 {
		return GShadowEntry{}, &EntryError{File: "gshadow", Name: name, Err: fmt.Errorf("%w: %d fields, want 4", ErrMalformed, len(f))}
	}
	return GShadowEntry{Name: f[0], Password: f[1], Admins: splitList(f[2]), Members: splitList(f[3])}, nil
}

// AddMember returns g with user in the member list of group name; a
// member already listed is not added again.
func (g *GShadow) AddMember(name, user string) (*GShadow, error) {
	e, err := g.Entry(name)
	if err != nil {
		return nil, err
	}
	t, err := addToList(g.Table, name, 3, e.Members, user)
	if err != nil {
		return nil, err
	}
	return &GShadow{t}, nil
}

// AddMember returns g with user in the member list of group name; a
// member already listed is not added again.
func (g *Groups) AddMember(name, user string) (*Groups, error) {
	e, err := g.Group(name)
	if err != nil {
		return nil, err
	}
	t, err := addToList(g.Table, name, 3, e.Members, user)
	if err != nil {
		return nil, err
	}
	return &Groups{t}, nil
}

func addToList(t *Table, name string, field int, list []string, user string) (*Table, error) {
	if user == "" || strings.ContainsAny(user, ",: \t\r\n\x00") {
		return nil, &EntryError{File: t.file, Name: name, Err: fmt.Errorf("%w: member %q", ErrInvalidValue, user)}
	}
	if slices.Contains(list, user) {
		return t, nil
	}
	return t.SetField(name, field, strings.Join(append(slices.Clip(list), user), ","))
}

func splitList(s string) []string {
	if s == "" {
		return nil
	}
	return strings.Split(s, ",")
}

// AppendLine returns t with line added as a new last line (after a
// newline, when the file lacks a final one). The line must be one line
// of the file's format; it is indexed like the others.
func (t *Table) AppendLine(line string) (*Table, error) {
	if strings.ContainsAny(line, "\n\x00") {
		return nil, &EntryError{File: t.file, Name: line, Err: fmt.Errorf("%w: a line holds a newline or NUL", ErrInvalidValue)}
	}
	data := append([]byte{}, t.data...)
	if len(data) > 0 && data[len(data)-1] != '\n' {
		data = append(data, '\n')
	}
	data = append(data, line+"\n"...)
	return ParseTable(t.file, data), nil
}

// Entries calls fn with the fields of every indexed line, in file order,
// duplicates and malformed lines included: callers that choose a free id
// must see every id the file uses.
func (t *Table) Entries(fn func(fields []string)) {
	for _, e := range t.entries {
		fields := make([]string, len(e.fields))
		for i, f := range e.fields {
			fields[i] = string(t.data[f[0]:f[1]])
		}
		fn(fields)
	}
}
