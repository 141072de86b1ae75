package vfs

import (
	"io/fs"
	"syscall"
	"time"
)

// Attr is the ownership and identity of a file that fs.FileInfo has no
// methods for. Backends return a *Attr or a *syscall.Stat_t from
// FileInfo.Sys; AttrOf reads either.
type Attr struct {
	UID, GID int
	Nlink    uint64
	Rdev     uint64 // device number of a device node, in Linux encoding
	// Atime is the access time, zero when the backend does not report
	// one. The modification time is FileInfo.ModTime.
	Atime time.Time
}

// AttrOf returns the Attr of info, or false when its backend reports none.
func AttrOf(info fs.FileInfo) (Attr, bool) {
	switch s := info.Sys().(type) {
	case *Attr:
		return *s, true
	case Attr:
		return s, true
	case *syscall.Stat_t:
		return Attr{UID: int(s.Uid), GID: int(s.Gid), Nlink: uint64(s.Nlink), Rdev: uint64(s.Rdev), Atime: time.Unix(s.Atim.Unix())}, true
	}
	return Attr{}, false
}
