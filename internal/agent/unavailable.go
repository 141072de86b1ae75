package agent

import (
	"context"
	"fmt"
	"io"
	"io/fs"

	"github.com/guestinject/guestinject/vfs"
)

// Unavailable returns a vfs.FS whose every call fails with vfs.ErrIO and
// says why: the agent serves it when it could not set up the guest root,
// so the host learns the reason from its first call.
func Unavailable(why error) vfs.FS { return unavailable{why: why} }

type unavailable struct{ why error }

func (u unavailable) fail(op, name string) error {
	return &fs.PathError{Op: op, Path: name, Err: fmt.Errorf("%w: guest filesystem unavailable: %v", vfs.ErrIO, u.why)}
}

func (u unavailable) Stat(_ context.Context, name string) (fs.FileInfo, error) {
	return nil, u.fail("stat", name)
}
func (u unavailable) Lstat(_ context.Context, name string) (fs.FileInfo, error) {
	return nil, u.fail("lstat", name)
}
func (u unavailable) Readlink(_ context.Context, name string) (string, error) {
	return "", u.fail("readlink", name)
}
func (u unavailable) ReadDir(_ context.Context, name string) ([]fs.DirEntry, error) {
	return nil, u.fail("readdir", name)
}
func (u unavailable) Open(_ context.Context, name string) (vfs.File, error) {
	return nil, u.fail("open", name)
}
func (u unavailable) MkdirAll(_ context.Context, name string, _ fs.FileMode) error {
	return u.fail("mkdirall", name)
}
func (u unavailable) WriteFile(_ context.Context, name string, _ io.Reader, _ vfs.WriteOptions) error {
	return u.fail("writefile", name)
}
func (u unavailable) Chmod(_ context.Context, name string, _ fs.FileMode) error {
	return u.fail("chmod", name)
}
func (u unavailable) Lchown(_ context.Context, name string, _, _ int) error {
	return u.fail("lchown", name)
}
func (u unavailable) Remove(_ context.Context, name string) error { return u.fail("remove", name) }
func (u unavailable) Close() error                                { return nil }
