package wire

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"testing"

	"github.com/guestinject/guestinject/vfs"
)

// TestCodeNumbers pins the numbers on the wire: an agent and a host built
// from different commits must agree on them.
func TestCodeNumbers(t *testing.T) {
	for code, want := range map[ErrorCode]uint16{
		CodeOther:            0,
		CodeInvalidPath:      1,
		CodeEscapesRoot:      2,
		CodeNotRegular:       3,
		CodeIsSymlink:        4,
		CodeSymlinkLoop:      5,
		CodeNotDir:           6,
		CodeIsDir:            7,
		CodeNotEmpty:         8,
		CodeTooLarge:         9,
		CodeNotSupported:     10,
		CodeClosed:           11,
		CodeNoSpace:          12,
		CodeReadOnly:         13,
		CodeIO:               14,
		CodeNotExist:         15,
		CodeExist:            16,
		CodePermission:       17,
		CodeCanceled:         18,
		CodeDeadlineExceeded: 19,
		CodeInvalid:          20,
		CodeFileClosed:       21,
		CodeCannotRun:        22,
	} {
		if uint16(code) != want {
			t.Errorf("code %d, want %d", code, want)
		}
	}
	j, err := json.Marshal(Error{Code: CodeIO})
	if err != nil || string(j) != `{"code":14}` {
		t.Errorf("CodeIO in transit: %s, %v", j, err)
	}
}

// TestCode checks that every sentinel of the contract has a code of its
// own and comes back as itself.
func TestCode(t *testing.T) {
	sentinels := []error{
		vfs.ErrInvalidPath, vfs.ErrEscapesRoot, vfs.ErrNotRegular, vfs.ErrIsSymlink, vfs.ErrSymlinkLoop,
		vfs.ErrNotDir, vfs.ErrIsDir, vfs.ErrNotEmpty, vfs.ErrTooLarge, vfs.ErrNotSupported, vfs.ErrClosed,
		vfs.ErrNoSpace, vfs.ErrReadOnly, vfs.ErrIO,
		fs.ErrNotExist, fs.ErrExist, fs.ErrPermission, fs.ErrInvalid, fs.ErrClosed,
		context.Canceled, context.DeadlineExceeded, vfs.ErrCannotRun,
	}
	seen := map[ErrorCode]error{}
	for _, s := range sentinels {
		wrapped := &fs.PathError{Op: "op", Path: "/x", Err: fmt.Errorf("because: %w", s)}
		c := Code(wrapped)
		if c == CodeOther {
			t.Errorf("%v has no code", s)
			continue
		}
		if prev, ok := seen[c]; ok {
			t.Errorf("%v and %v share code %d", prev, s, c)
		}
		seen[c] = s
		if got := Sentinel(c); got != s {
			t.Errorf("Sentinel(Code(%v)) = %v", s, got)
		}
	}
	for c := CodeInvalidPath; c <= CodeCannotRun; c++ {
		if Sentinel(c) == nil {
			t.Errorf("code %d has no sentinel", c)
		}
	}
	if Code(errors.New("other")) != CodeOther || Code(nil) != CodeOther {
		t.Error("an unknown error should be CodeOther")
	}
	if Sentinel(CodeOther) != nil || Sentinel(CodeCannotRun+1) != nil || Sentinel(9999) != nil {
		t.Error("CodeOther and unknown codes have no sentinel")
	}
}
