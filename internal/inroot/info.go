package inroot

import (
	"fmt"
	"io/fs"
	"time"

	"github.com/guestinject/guestinject/internal/unixmode"

	"golang.org/x/sys/unix"

	"github.com/guestinject/guestinject/vfs"
)

// fileInfo describes a file from its stat data. Sys returns a *vfs.Attr.
type fileInfo struct {
	name string
	st   unix.Stat_t
}

func newInfo(name string, st *unix.Stat_t) *fileInfo {
	return &fileInfo{name: name, st: *st}
}

func (i *fileInfo) Name() string       { return i.name }
func (i *fileInfo) Size() int64        { return i.st.Size }
func (i *fileInfo) Mode() fs.FileMode  { return unixmode.ToFileMode(i.st.Mode) }
func (i *fileInfo) ModTime() time.Time { return time.Unix(i.st.Mtim.Unix()) }
func (i *fileInfo) IsDir() bool        { return i.st.Mode&unix.S_IFMT == unix.S_IFDIR }
func (i *fileInfo) Sys() any {
	return &vfs.Attr{
		UID:   int(i.st.Uid),
		GID:   int(i.st.Gid),
		Nlink: uint64(i.st.Nlink),
		Rdev:  uint64(i.st.Rdev),
		Atime: time.Unix(i.st.Atim.Unix()),
	}
}

// dirEntry is a directory entry with the lstat data of the entry itself.
type dirEntry struct{ info *fileInfo }

func (d dirEntry) Name() string               { return d.info.name }
func (d dirEntry) IsDir() bool                { return d.info.IsDir() }
func (d dirEntry) Type() fs.FileMode          { return d.info.Mode().Type() }
func (d dirEntry) Info() (fs.FileInfo, error) { return d.info, nil }
func (d dirEntry) String() string             { return fs.FormatDirEntry(d) }

// notRegular is vfs.ErrNotRegular saying what the file is instead.
func notRegular(m uint32) error {
	kinds := map[uint32]string{
		unix.S_IFDIR:  "directory",
		unix.S_IFLNK:  "symlink",
		unix.S_IFIFO:  "named pipe",
		unix.S_IFSOCK: "socket",
		unix.S_IFCHR:  "character device",
		unix.S_IFBLK:  "block device",
	}
	kind, ok := kinds[m&unix.S_IFMT]
	if !ok {
		kind = fmt.Sprintf("file type %#o", m&unix.S_IFMT)
	}
	return fmt.Errorf("%w: %s", vfs.ErrNotRegular, kind)
}
