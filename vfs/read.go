package vfs

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"

	"github.com/guestinject/guestinject/internal/ctxio"
)

// ReadFile reads the regular file name, refusing with ErrTooLarge a file of
// more than limit bytes whatever its size claims: at most limit+1 bytes are
// ever read or allocated, so a guest cannot make the caller read a giant or
// endless file.
func ReadFile(ctx context.Context, fsys FS, name string, limit int64) ([]byte, error) {
	f, err := fsys.Open(ctx, name)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	if info, err := f.Stat(); err == nil && info.Size() > limit {
		return nil, &fs.PathError{Op: "read", Path: name, Err: fmt.Errorf("%w: %d bytes, limit %d", ErrTooLarge, info.Size(), limit)}
	}
	data, err := io.ReadAll(&io.LimitedReader{R: ctxio.Reader(ctx, f), N: limit + 1})
	if err != nil {
		var pe *fs.PathError
		if errors.As(err, &pe) {
			return nil, err
		}
		return nil, &fs.PathError{Op: "read", Path: name, Err: err}
	}
	if int64(len(data)) > limit {
		return nil, &fs.PathError{Op: "read", Path: name, Err: fmt.Errorf("%w: more than %d bytes", ErrTooLarge, limit)}
	}
	return data, nil
}
