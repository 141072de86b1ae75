package guestetc

import (
	"errors"
	"fmt"
)

// Sentinel errors, wrapped in *EntryError.
var (
	// ErrNotFound: no line names the entry.
	ErrNotFound = errors.New("no such entry")
	// ErrDuplicate: more than one line names the entry.
	ErrDuplicate = errors.New("entry appears more than once")
	// ErrMalformed: the entry's line is not in the file's format.
	ErrMalformed = errors.New("malformed entry")
	// ErrInvalidValue: a value to store cannot be stored in the file's
	// format (it holds a separator, a newline or a NUL).
	ErrInvalidValue = errors.New("invalid value")
)

// EntryError says which entry of which file an error is about.
type EntryError struct {
	File string // "passwd", "group", "shadow"
	Name string // user or group name
	Err  error
}

func (e *EntryError) Error() string {
	return fmt.Sprintf("%s: %q: %v", e.File, e.Name, e.Err)
}

func (e *EntryError) Unwrap() error { return e.Err }
