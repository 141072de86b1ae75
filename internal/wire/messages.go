package wire

import (
	"errors"
	"fmt"
	"io/fs"
	"strings"
	"time"

	"github.com/guestinject/guestinject/internal/guestabi"
	"github.com/guestinject/guestinject/vfs"
)

// Hello opens a connection: the host sends the versions it speaks, the
// agent answers with the one it chose.
type Hello struct {
	Versions []int  `json:"versions,omitempty"`
	Version  int    `json:"version,omitempty"`
	Agent    string `json:"agent,omitempty"` // the agent's build, for logs
}

// Op names a request.
type Op string

// Operations: those of vfs.FS, the capabilities, and the session's own.
const (
	OpStat      Op = "stat"
	OpLstat     Op = "lstat"
	OpLstatMany Op = "lstatmany" // Names: answers with Lstats, one per name, in order
	OpReadlink  Op = "readlink"
	OpReadDir   Op = "readdir"
	OpOpen      Op = "open"  // Size: answers as OpRead with the first Size bytes, the file's info and a handle, none when EOF (the agent closed the file)
	OpRead      Op = "read"  // Handle, Size: answers with Data frames of at most Size bytes in all, then a Response (EOF at the end); no DataEnd
	OpCloseFile Op = "close" // Handle
	OpMkdirAll  Op = "mkdirall"
	OpWriteFile Op = "writefile" // followed by Data frames and DataEnd from the host
	OpChmod     Op = "chmod"
	OpLchown    Op = "lchown"
	OpRemove    Op = "remove"
	OpGetxattr  Op = "lgetxattr"
	OpSetxattr  Op = "lsetxattr"
	OpListxattr Op = "llistxattr"
	OpSymlink   Op = "symlink"
	OpRename    Op = "rename"   // Name to Target
	OpLchtimes  Op = "lchtimes" // Atime and Mtime of Name itself; nil leaves one
	OpSync      Op = "sync"     // flush everything to the disks
	OpShutdown  Op = "shutdown" // sync, unmount, power off
	OpRun       Op = "run"      // Command: run a guest command, answers with a CommandResult
)

// Request is one call from the host.
type Request struct {
	Op      Op     `json:"op"`
	Name    string `json:"name,omitempty"`
	Target  string `json:"target,omitempty"`
	Mode    uint32 `json:"mode,omitempty"` // fs.FileMode
	UID     int    `json:"uid,omitempty"`
	GID     int    `json:"gid,omitempty"`
	Policy  int    `json:"policy,omitempty"`
	Inherit bool   `json:"inherit,omitempty"`
	MaxSize int64  `json:"max_size,omitempty"`
	Attr    string `json:"attr,omitempty"`
	Value   []byte `json:"value,omitempty"`
	Handle  uint32 `json:"handle,omitempty"`
	Size    int    `json:"size,omitempty"`
	// Atime and Mtime are the times OpLchtimes sets; nil leaves that
	// time as it is.
	Atime *Timespec `json:"atime,omitempty"`
	Mtime *Timespec `json:"mtime,omitempty"`
	// Command is what OpRun runs.
	Command *Command `json:"command,omitempty"`
	// Names are OpLstatMany's.
	Names List[string, lstatManyBound] `json:"names,omitempty"`
}

// Timespec is a time in transit: seconds and nanoseconds since the Unix
// epoch, as utimensat takes them, so that every time a filesystem can hold
// survives the trip (Unix nanoseconds in an int64 end in 2262).
type Timespec struct {
	Sec  int64 `json:"sec"`
	Nsec int64 `json:"nsec"`
}

// TimespecFrom converts t for transit; the zero time is nil.
func TimespecFrom(t time.Time) *Timespec {
	if t.IsZero() {
		return nil
	}
	return &Timespec{Sec: t.Unix(), Nsec: int64(t.Nanosecond())}
}

// Time returns ts as a time, the zero time for nil. Nanoseconds outside
// 0..999999999 are refused with fs.ErrInvalid.
func (ts *Timespec) Time() (time.Time, error) {
	if ts == nil {
		return time.Time{}, nil
	}
	if ts.Nsec < 0 || ts.Nsec >= int64(time.Second) {
		return time.Time{}, fmt.Errorf("%w: %d nanoseconds", fs.ErrInvalid, ts.Nsec)
	}
	t := time.Unix(ts.Sec, ts.Nsec)
	if t.IsZero() {
		// The one instant that means "leave this time" cannot be sent.
		return time.Time{}, fmt.Errorf("%w: the zero time", fs.ErrInvalid)
	}
	return t, nil
}

// Response is the agent's one answer to a request.
type Response struct {
	Err     *Error                          `json:"err,omitempty"`
	Info    *FileInfo                       `json:"info,omitempty"`
	Entries List[FileInfo, dirEntriesBound] `json:"entries,omitempty"`
	Target  string                          `json:"target,omitempty"`
	Names   List[string, xattrNamesBound]   `json:"names,omitempty"`
	Value   []byte                          `json:"value,omitempty"`
	Handle  uint32                          `json:"handle,omitempty"`
	EOF     bool                            `json:"eof,omitempty"` // a read or open reached the end of the file
	// Inspection answers OpInspect.
	Inspection *Inspection `json:"inspection,omitempty"`
	// Command answers OpRun.
	Command *CommandResult `json:"command,omitempty"`
	// Lstats answers OpLstatMany.
	Lstats List[LstatAnswer, lstatManyBound] `json:"lstats,omitempty"`
}

// LstatAnswer is one name's part of an OpLstatMany answer: Info or Err.
type LstatAnswer struct {
	Info *FileInfo `json:"info,omitempty"`
	Err  *Error    `json:"err,omitempty"`
}

// Error is a contract error in transit.
type Error struct {
	Code ErrorCode `json:"code"`
	Op   string    `json:"op,omitempty"`
	Path string    `json:"path,omitempty"`
	Msg  string    `json:"msg,omitempty"`
}

// FileInfo is an fs.FileInfo in transit.
type FileInfo struct {
	Name    string `json:"name"`
	Size    int64  `json:"size"`
	Mode    uint32 `json:"mode"`  // fs.FileMode
	ModTime int64  `json:"mtime"` // Unix nanoseconds
	UID     int    `json:"uid"`
	GID     int    `json:"gid"`
	Nlink   uint64 `json:"nlink,omitempty"`
	Rdev    uint64 `json:"rdev,omitempty"`
	Atime   *int64 `json:"atime,omitempty"` // Unix nanoseconds; nil when not reported
}

// ErrorFrom converts an error for transit. The op, path and message are
// cut to guestabi.MaxText bytes.
func ErrorFrom(err error) *Error {
	if err == nil {
		return nil
	}
	e := &Error{Code: Code(err), Msg: err.Error()}
	var pe *fs.PathError
	if errors.As(err, &pe) {
		e.Op, e.Path, e.Msg = pe.Op, pe.Path, pe.Err.Error()
	}
	e.Op, e.Path, e.Msg = truncate(e.Op), truncate(e.Path), truncate(e.Msg)
	return e
}

// remoteError is an error that came over the wire: its text is the
// peer's, its identity the sentinel of its code.
type remoteError struct {
	msg      string
	sentinel error
}

func (e *remoteError) Error() string { return e.msg }
func (e *remoteError) Unwrap() error { return e.sentinel }

// PathError converts an error from transit into an *fs.PathError for op
// and name, wrapping the sentinel of its code. The peer's op and path are
// not trusted to name anything: the caller's are used, and its message
// is cleaned (guestabi.Clean).
func (e *Error) PathError(op, name string) error {
	// The message is printed and logged as the host's own error text:
	// no invalid UTF-8, no control characters (terminal escapes).
	msg := guestabi.Clean(e.Msg, guestabi.MaxText)
	s := Sentinel(e.Code)
	if s == nil {
		s = vfs.ErrIO
		if msg == "" {
			msg = "error from agent"
		}
	}
	if msg == "" {
		msg = s.Error()
	}
	return &fs.PathError{Op: op, Path: name, Err: &remoteError{msg: msg, sentinel: s}}
}

func truncate(s string) string { return guestabi.Truncate(s, guestabi.MaxText) }

// InfoFrom converts a file's fs.FileInfo for transit.
func InfoFrom(info fs.FileInfo) FileInfo {
	fi := FileInfo{Name: info.Name(), Size: info.Size(), Mode: uint32(info.Mode()), ModTime: info.ModTime().UnixNano()}
	if a, ok := vfs.AttrOf(info); ok {
		fi.UID, fi.GID, fi.Nlink, fi.Rdev = a.UID, a.GID, a.Nlink, a.Rdev
		if !a.Atime.IsZero() {
			n := a.Atime.UnixNano()
			fi.Atime = &n
		}
	}
	return fi
}

// validModeBits are the fs.FileMode bits a guest file can have.
const validModeBits = fs.ModePerm | fs.ModeSetuid | fs.ModeSetgid | fs.ModeSticky |
	fs.ModeDir | fs.ModeSymlink | fs.ModeNamedPipe | fs.ModeSocket | fs.ModeDevice | fs.ModeCharDevice

// Check validates a FileInfo from the peer: a name that is a single path
// component (or "/" for the root, when root is true), one file type, and
// no negative size or owner.
func (fi *FileInfo) Check(root bool) error {
	mode := fs.FileMode(fi.Mode)
	switch {
	case root && fi.Name == "/":
	case fi.Name == "" || fi.Name == "." || fi.Name == ".." || len(fi.Name) > vfs.MaxNameLen ||
		strings.ContainsAny(fi.Name, "/\x00"):
		return protocolErr("bad file name %q", truncate(fi.Name))
	}
	if mode&^validModeBits != 0 {
		return protocolErr("bad mode %#o", fi.Mode)
	}
	typ := mode.Type()
	switch typ {
	case 0, fs.ModeDir, fs.ModeSymlink, fs.ModeNamedPipe, fs.ModeSocket, fs.ModeDevice, fs.ModeDevice | fs.ModeCharDevice:
	default:
		return protocolErr("bad file type %v", typ)
	}
	if fi.Size < 0 {
		return protocolErr("negative size %d", fi.Size)
	}
	if fi.UID < 0 || fi.GID < 0 {
		return protocolErr("negative owner %d:%d", fi.UID, fi.GID)
	}
	return nil
}

// FileInfo returns fi as an fs.FileInfo whose Sys is a *vfs.Attr.
func (fi *FileInfo) FileInfo() fs.FileInfo { return fileInfo{*fi} }

type fileInfo struct{ fi FileInfo }

func (f fileInfo) Name() string       { return f.fi.Name }
func (f fileInfo) Size() int64        { return f.fi.Size }
func (f fileInfo) Mode() fs.FileMode  { return fs.FileMode(f.fi.Mode) }
func (f fileInfo) ModTime() time.Time { return time.Unix(0, f.fi.ModTime) }
func (f fileInfo) IsDir() bool        { return f.Mode().IsDir() }
func (f fileInfo) Sys() any {
	a := &vfs.Attr{UID: f.fi.UID, GID: f.fi.GID, Nlink: f.fi.Nlink, Rdev: f.fi.Rdev}
	if f.fi.Atime != nil {
		a.Atime = time.Unix(0, *f.fi.Atime)
	}
	return a
}
func (f fileInfo) String() string { return fs.FormatFileInfo(f) }

// DirEntry returns fi as an fs.DirEntry.
func (fi *FileInfo) DirEntry() fs.DirEntry { return fs.FileInfoToDirEntry(fi.FileInfo()) }
