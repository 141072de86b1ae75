package wire

import (
	"bytes"
	"encoding/json"

	"github.com/guestinject/guestinject/vfs"
)

// Bounds on the lists an answer carries, past those of inspection.go and
// MaxDirEntries.
const (
	// MaxXattrNames bounds the names of one Llistxattr answer: Linux
	// lists at most 64 KiB of names, each with its terminating NUL.
	MaxXattrNames = 16 << 10
	// MaxXattrName bounds an extended attribute's name (XATTR_NAME_MAX).
	MaxXattrName = 255
	// MaxXattrValue bounds an extended attribute's value (XATTR_SIZE_MAX).
	MaxXattrValue = 64 << 10
)

// listBound gives the most elements a List decodes.
type listBound interface{ max() int }

type (
	dirEntriesBound  struct{}
	xattrNamesBound  struct{}
	filesystemsBound struct{}
	fstabLinesBound  struct{}
	issuesBound      struct{}
	lstatManyBound   struct{}
)

func (dirEntriesBound) max() int  { return MaxDirEntries }
func (xattrNamesBound) max() int  { return MaxXattrNames }
func (filesystemsBound) max() int { return MaxFilesystems }
func (fstabLinesBound) max() int  { return MaxFstabLines }
func (issuesBound) max() int      { return MaxIssues }
func (lstatManyBound) max() int   { return vfs.MaxLstatMany }

// List is a JSON array of at most B's bound elements. Decoding counts the
// elements before it allocates any and refuses a longer list with
// ErrProtocol: a peer that claims a million filesystems in a frame of a
// few MiB makes the host allocate for the bound, not for its claim. A
// List is a []T for everything else.
type List[T any, B listBound] []T

// UnmarshalJSON decodes the array, refusing unknown fields as Decode does.
func (l *List[T, B]) UnmarshalJSON(data []byte) error {
	var bound B
	if n := countElements(data); n > bound.max() {
		return protocolErr("a list of %d elements, more than %d", n, bound.max())
	}
	var out []T
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&out); err != nil {
		return err
	}
	*l = out
	return nil
}

// countElements returns the number of elements of the JSON array data,
// which the decoder has already found valid; 0 for anything else.
func countElements(data []byte) int {
	depth, n := 0, 0
	inString, escaped, empty := false, false, true
	for _, b := range data {
		switch {
		case inString:
			switch {
			case escaped:
				escaped = false
			case b == '\\':
				escaped = true
			case b == '"':
				inString = false
			}
			continue
		case b == ' ' || b == '\t' || b == '\n' || b == '\r':
			continue
		case b == '"':
			inString = true
		case b == '[' || b == '{':
			depth++
			if depth == 1 {
				continue
			}
		case b == ']' || b == '}':
			depth--
		case b == ',' && depth == 1:
			n++
		}
		if depth >= 1 {
			empty = false
		}
	}
	if empty {
		return 0
	}
	return n + 1
}
