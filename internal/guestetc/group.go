package guestetc

import (
	"fmt"
	"strings"
)

// Group is one /etc/group entry.
type Group struct {
	Name    string
	GID     int
	Members []string
}

// Groups is a parsed /etc/group.
type Groups struct{ *Table }

// ParseGroup indexes an /etc/group file.
func ParseGroup(data []byte) *Groups { return &Groups{ParseTable("group", data)} }

// Group returns the entry of the only line naming name.
func (g *Groups) Group(name string) (Group, error) {
	f, err := g.Fields(name)
	if err != nil {
		return Group{}, err
	}
	if len(f) != 4 {
		return Group{}, &EntryError{File: "group", Name: name, Err: fmt.Errorf("%w: %d fields, want 4", ErrMalformed, len(f))}
	}
	gid, err := ParseID(f[2])
	if err != nil {
		return Group{}, &EntryError{File: "group", Name: name, Err: fmt.Errorf("%w: gid: %v", ErrMalformed, err)}
	}
	var members []string
	if f[3] != "" {
		members = strings.Split(f[3], ",")
	}
	return Group{Name: f[0], GID: gid, Members: members}, nil
}
