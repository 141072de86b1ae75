package guestetc

import (
	"fmt"
	"strconv"
	"strings"
)

// ShadowEntry is one /etc/shadow entry; the ageing fields are kept as the
// strings the file holds (often empty).
type ShadowEntry struct {
	Name       string
	Hash       string // crypt(3) hash, "*" or "!" for no password, "!" prefix when locked
	LastChange string // days since 1970-01-01
	Rest       []string
}

// Locked reports whether the entry's password is locked (a "!" prefix).
func (e ShadowEntry) Locked() bool { return strings.HasPrefix(e.Hash, "!") }

// Shadow is a parsed /etc/shadow.
type Shadow struct{ *Table }

// ParseShadow indexes an /etc/shadow file.
func ParseShadow(data []byte) *Shadow { return &Shadow{ParseTable("shadow", data)} }

// Entry returns the entry of the only line naming name.
func (s *Shadow) Entry(name string) (ShadowEntry, error) {
	f, err := s.Fields(name)
	if err != nil {
		return ShadowEntry{}, err
	}
	if len(f) != 9 {
		return ShadowEntry{}, &EntryError{File: "shadow", Name: name, Err: fmt.Errorf("%w: %d fields, want 9", ErrMalformed, len(f))}
	}
	return ShadowEntry{Name: f[0], Hash: f[1], LastChange: f[2], Rest: f[3:]}, nil
}

// SetHash returns s with the hash of name set to hash and, when
// lastChange is not negative, its last-change day set to lastChange.
func (s *Shadow) SetHash(name, hash string, lastChange int64) (*Shadow, error) {
	if _, err := s.Entry(name); err != nil {
		return nil, err
	}
	t, err := s.SetField(name, 1, hash)
	if err != nil {
		return nil, err
	}
	if lastChange >= 0 {
		if t, err = t.SetField(name, 2, strconv.FormatInt(lastChange, 10)); err != nil {
			return nil, err
		}
	}
	return &Shadow{t}, nil
}

// Lock returns s with the password of name locked: a "!" prefix that
// keeps the hash, as passwd -l does. A locked password is left alone.
func (s *Shadow) Lock(name string) (*Shadow, error) {
	e, err := s.Entry(name)
	if err != nil {
		return nil, err
	}
	if e.Locked() {
		return s, nil
	}
	return s.SetHash(name, "!"+e.Hash, -1)
}

// Unlock returns s with the "!" prefixes of name's hash removed. A hash
// that would be left empty (a password-less login) is refused.
func (s *Shadow) Unlock(name string) (*Shadow, error) {
	e, err := s.Entry(name)
	if err != nil {
		return nil, err
	}
	hash := strings.TrimLeft(e.Hash, "!")
	if hash == "" {
		return nil, &EntryError{File: "shadow", Name: name, Err: fmt.Errorf("%w: unlocking would leave an empty password", ErrInvalidValue)}
	}
	if hash == e.Hash {
		return s, nil
	}
	return s.SetHash(name, hash, -1)
}
