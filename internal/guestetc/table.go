package guestetc

import (
	"bytes"
	"fmt"
	"strings"
)

// Table is a colon-separated database file (passwd, group, shadow) kept
// byte for byte. Build one with ParseTable.
type Table struct {
	file    string
	data    []byte
	entries []tableEntry
}

// tableEntry is one indexed line; fields are byte offsets into data.
type tableEntry struct {
	name   string
	fields [][2]int
}

// ParseTable indexes data, a file of the kind named by file ("passwd",
// "group", "shadow"; it appears in errors). Blank lines, comments and NIS
// compat lines ("+name", "-name") are kept but not indexed. It never fails;
// malformed lines are found when looked up.
func ParseTable(file string, data []byte) *Table {
	t := &Table{file: file, data: data}
	for start := 0; start < len(data); {
		end := bytes.IndexByte(data[start:], '\n')
		if end < 0 {
			end = len(data)
		} else {
			end += start
		}
		line := data[start:end]
		if len(line) > 0 && line[0] != '#' && line[0] != '+' && line[0] != '-' {
			var e tableEntry
			fieldStart := start
			for i := start; i <= end; i++ {
				if i == end || data[i] == ':' {
					e.fields = append(e.fields, [2]int{fieldStart, i})
					fieldStart = i + 1
				}
			}
			e.name = string(data[e.fields[0][0]:e.fields[0][1]])
			t.entries = append(t.entries, e)
		}
		start = end + 1
	}
	return t
}

// Bytes returns the file's content.
func (t *Table) Bytes() []byte { return t.data }

// Names returns the indexed names in file order, duplicates included.
func (t *Table) Names() []string {
	names := make([]string, len(t.entries))
	for i, e := range t.entries {
		names[i] = e.name
	}
	return names
}

func (t *Table) find(name string) (tableEntry, error) {
	found := -1
	for i, e := range t.entries {
		if e.name != name {
			continue
		}
		if found >= 0 {
			return tableEntry{}, &EntryError{File: t.file, Name: name, Err: ErrDuplicate}
		}
		found = i
	}
	if found < 0 {
		return tableEntry{}, &EntryError{File: t.file, Name: name, Err: ErrNotFound}
	}
	return t.entries[found], nil
}

// Fields returns the fields of the only line that names name.
func (t *Table) Fields(name string) ([]string, error) {
	e, err := t.find(name)
	if err != nil {
		return nil, err
	}
	fields := make([]string, len(e.fields))
	for i, f := range e.fields {
		fields[i] = string(t.data[f[0]:f[1]])
	}
	return fields, nil
}

// SetField returns a new Table in which field i (0 is the name) of the
// only line naming name is value; every other byte is unchanged.
func (t *Table) SetField(name string, i int, value string) (*Table, error) {
	if strings.ContainsAny(value, ":\n\x00") {
		return nil, &EntryError{File: t.file, Name: name, Err: fmt.Errorf("%w: field %d holds a separator", ErrInvalidValue, i)}
	}
	e, err := t.find(name)
	if err != nil {
		return nil, err
	}
	if i < 0 || i >= len(e.fields) {
		return nil, &EntryError{File: t.file, Name: name, Err: fmt.Errorf("%w: no field %d", ErrMalformed, i)}
	}
	f := e.fields[i]
	data := make([]byte, 0, len(t.data)-(f[1]-f[0])+len(value))
	data = append(data, t.data[:f[0]]...)
	data = append(data, value...)
	data = append(data, t.data[f[1]:]...)
	return ParseTable(t.file, data), nil
}
