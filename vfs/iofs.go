package vfs

import (
	"context"
	"errors"
	"io"
	"io/fs"
	"strings"
)

// IOFS exposes fsys read-only as an io/fs file system, for fs.WalkDir,
// fs.ReadFile, fs.Glob, testing/fstest and the like. io/fs names are
// unrooted ("etc/passwd", "." for the root) and map to guest paths
// ("/etc/passwd", "/"). io/fs calls carry no context, so every call made
// through the result uses ctx. Directories open as fs.ReadDirFile; special
// files fail to open with ErrNotRegular, as with FS.Open.
func IOFS(ctx context.Context, fsys FS) fs.FS {
	return &ioFS{ctx: ctx, fsys: fsys}
}

type ioFS struct {
	ctx  context.Context // bound because io/fs has no per-call context
	fsys FS
}

var (
	_ fs.StatFS     = (*ioFS)(nil)
	_ fs.ReadDirFS  = (*ioFS)(nil)
	_ fs.ReadLinkFS = (*ioFS)(nil)
)

// guestName maps an io/fs name to a guest path.
func guestName(op, name string) (string, error) {
	if !fs.ValidPath(name) {
		return "", &fs.PathError{Op: op, Path: name, Err: fs.ErrInvalid}
	}
	if name == "." {
		return "/", nil
	}
	return "/" + name, nil
}

// ioErr rewrites guest paths in err back to the io/fs name.
func ioErr(name string, err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return &fs.PathError{Op: pe.Op, Path: name, Err: pe.Err}
	}
	return err
}

func (f *ioFS) Open(name string) (fs.File, error) {
	g, err := guestName("open", name)
	if err != nil {
		return nil, err
	}
	info, err := f.fsys.Stat(f.ctx, g)
	if err != nil {
		return nil, ioErr(name, err)
	}
	if info.IsDir() {
		return &ioDir{fsys: f, name: name, guest: g, info: renamed(info, name)}, nil
	}
	file, err := f.fsys.Open(f.ctx, g)
	if err != nil {
		return nil, ioErr(name, err)
	}
	return &ioFile{File: file, name: name}, nil
}

func (f *ioFS) Stat(name string) (fs.FileInfo, error) {
	g, err := guestName("stat", name)
	if err != nil {
		return nil, err
	}
	info, err := f.fsys.Stat(f.ctx, g)
	if err != nil {
		return nil, ioErr(name, err)
	}
	return renamed(info, name), nil
}

func (f *ioFS) Lstat(name string) (fs.FileInfo, error) {
	g, err := guestName("lstat", name)
	if err != nil {
		return nil, err
	}
	info, err := f.fsys.Lstat(f.ctx, g)
	if err != nil {
		return nil, ioErr(name, err)
	}
	return renamed(info, name), nil
}

func (f *ioFS) ReadLink(name string) (string, error) {
	g, err := guestName("readlink", name)
	if err != nil {
		return "", err
	}
	target, err := f.fsys.Readlink(f.ctx, g)
	return target, ioErr(name, err)
}

func (f *ioFS) ReadDir(name string) ([]fs.DirEntry, error) {
	g, err := guestName("readdir", name)
	if err != nil {
		return nil, err
	}
	entries, err := f.fsys.ReadDir(f.ctx, g)
	return entries, ioErr(name, err)
}

// renamed gives the root the io/fs name "." instead of the backend's.
func renamed(info fs.FileInfo, name string) fs.FileInfo {
	if name == "." {
		return namedInfo{FileInfo: info, name: "."}
	}
	return info
}

type namedInfo struct {
	fs.FileInfo
	name string
}

func (i namedInfo) Name() string { return i.name }

type ioFile struct {
	File
	name string
}

func (f *ioFile) Stat() (fs.FileInfo, error) {
	info, err := f.File.Stat()
	return info, ioErr(f.name, err)
}

func (f *ioFile) Read(p []byte) (int, error) {
	n, err := f.File.Read(p)
	if err != nil && err != io.EOF {
		err = ioErr(f.name, err)
	}
	return n, err
}

// ioDir is an open directory; its entries are listed on first ReadDir.
type ioDir struct {
	fsys    *ioFS
	name    string
	guest   string
	info    fs.FileInfo
	entries []fs.DirEntry
	listed  bool
	closed  bool
}

func (d *ioDir) Stat() (fs.FileInfo, error) { return d.info, nil }

func (d *ioDir) Read([]byte) (int, error) {
	return 0, &fs.PathError{Op: "read", Path: d.name, Err: ErrIsDir}
}

func (d *ioDir) Close() error {
	if d.closed {
		return &fs.PathError{Op: "close", Path: d.name, Err: fs.ErrClosed}
	}
	d.closed = true
	return nil
}

func (d *ioDir) ReadDir(n int) ([]fs.DirEntry, error) {
	if d.closed {
		return nil, &fs.PathError{Op: "readdir", Path: d.name, Err: fs.ErrClosed}
	}
	if !d.listed {
		entries, err := d.fsys.fsys.ReadDir(d.fsys.ctx, d.guest)
		if err != nil {
			return nil, ioErr(d.name, err)
		}
		d.entries, d.listed = entries, true
	}
	if n <= 0 {
		rest := d.entries
		d.entries = nil
		return rest, nil
	}
	if len(d.entries) == 0 {
		return nil, io.EOF
	}
	n = min(n, len(d.entries))
	head := d.entries[:n:n]
	d.entries = d.entries[n:]
	return head, nil
}

// BaseName returns the final component of a guest path for FileInfo.Name:
// "passwd" for "/etc/passwd", "/" for the root.
func BaseName(name string) string {
	if name == "/" {
		return "/"
	}
	return name[strings.LastIndexByte(name, '/')+1:]
}
