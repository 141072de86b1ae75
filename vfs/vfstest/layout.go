package vfstest

import (
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/guestinject/guestinject/internal/bytesize"
	"github.com/guestinject/guestinject/internal/unixmode"
	"github.com/guestinject/guestinject/vfs"
)

// Kind is the type of a layout entry.
type Kind uint8

// Entry kinds, with their letters in the text form.
const (
	Dir         Kind = iota // d
	File                    // f
	Symlink                 // l
	FIFO                    // p
	CharDevice              // c
	BlockDevice             // b
)

var kindLetters = map[string]Kind{"d": Dir, "f": File, "l": Symlink, "p": FIFO, "c": CharDevice, "b": BlockDevice}

func (k Kind) String() string {
	for l, kk := range kindLetters {
		if kk == k {
			return l
		}
	}
	return "?"
}

// Entry is one node of a layout.
type Entry struct {
	Kind Kind
	Path string // guest path
	// Mode holds the permission bits and fs.ModeSetuid, fs.ModeSetgid and
	// fs.ModeSticky; the type comes from Kind.
	Mode fs.FileMode
	// UID and GID own the node; -1 when the layout leaves them unset.
	UID, GID int
	Data     string // content of a File
	// Size of a File when larger than Data: the rest is a hole, so a
	// "1G" file costs no space.
	Size         int64
	Target       string // of a Symlink, stored as written
	Major, Minor uint32 // of a device node
	Xattrs       map[string]string
}

// FileSize is the size of a File entry.
func (e Entry) FileSize() int64 { return max(e.Size, int64(len(e.Data))) }

// Layout describes a guest tree. Parents come before children; ParseLayout
// adds missing parent directories (0755, owner unset).
type Layout []Entry

// ParseLayout reads the compact text form: one entry per line, blank lines
// and lines starting with '#' ignored. A line is a kind letter, a guest path
// and key=value attributes, values optionally Go-quoted:
//
//	d /etc mode=0755 owner=0:0
//	f /etc/hostname mode=0644 data="guest\n"
//	f /var/big size=1G
//	l /etc/resolv.conf target=/run/resolv.conf
//	p /etc/fifo
//	c /dev/null mode=0666 dev=1:3
//	f /labelled xattr.user.test="value"
//
// Defaults: mode 0755 for d, 0644 for f, p, c and b; owner unset. Sizes
// are whole bytes or take a unit, K, M, G (powers of 1024) or KB, MB, GB
// (powers of 1000), up to 1TiB.
func ParseLayout(text string) (Layout, error) {
	var l Layout
	seen := map[string]bool{"/": true}
	for n, line := range strings.Split(text, "\n") {
		line = strings.TrimSpace(line)
		if line == "" || line[0] == '#' {
			continue
		}
		e, err := parseEntry(line)
		if err != nil {
			return nil, fmt.Errorf("layout line %d: %w", n+1, err)
		}
		if seen[e.Path] {
			return nil, fmt.Errorf("layout line %d: %s listed twice", n+1, e.Path)
		}
		for dir, _ := vfs.Split(e.Path); !seen[dir]; dir, _ = vfs.Split(dir) {
			seen[dir] = true
			l = append(l, Entry{Kind: Dir, Path: dir, Mode: 0o755, UID: -1, GID: -1})
		}
		seen[e.Path] = true
		l = append(l, e)
	}
	// Parents were appended after the entries that needed them.
	slices.SortStableFunc(l, func(a, b Entry) int {
		return len(vfs.Components(a.Path)) - len(vfs.Components(b.Path))
	})
	return l, nil
}

// MustParseLayout is ParseLayout for layouts written in code; it panics on
// a malformed layout.
func MustParseLayout(text string) Layout {
	l, err := ParseLayout(text)
	if err != nil {
		panic(err)
	}
	return l
}

func parseEntry(line string) (Entry, error) {
	fields, err := splitFields(line)
	if err != nil {
		return Entry{}, err
	}
	if len(fields) < 2 {
		return Entry{}, fmt.Errorf("want a kind and a path: %q", line)
	}
	kind, ok := kindLetters[fields[0]]
	if !ok {
		return Entry{}, fmt.Errorf("unknown kind %q", fields[0])
	}
	e := Entry{Kind: kind, Path: fields[1], UID: -1, GID: -1, Mode: 0o644}
	if kind == Dir {
		e.Mode = 0o755
	}
	if err := vfs.CheckPath("layout", e.Path); err != nil || e.Path == "/" {
		return Entry{}, fmt.Errorf("bad path %q", e.Path)
	}
	for _, f := range fields[2:] {
		key, val, ok := strings.Cut(f, "=")
		if !ok {
			return Entry{}, fmt.Errorf("attribute %q is not key=value", f)
		}
		if strings.HasPrefix(val, `"`) {
			if val, err = strconv.Unquote(val); err != nil {
				return Entry{}, fmt.Errorf("attribute %s: %w", key, err)
			}
		}
		switch {
		case key == "mode":
			m, err := strconv.ParseUint(val, 8, 32)
			if err != nil || m > 0o7777 {
				return Entry{}, fmt.Errorf("bad mode %q", val)
			}
			e.Mode = unixmode.Perm(uint32(m))
		case key == "owner":
			u, g, ok := strings.Cut(val, ":")
			uid, err1 := strconv.Atoi(u)
			gid, err2 := strconv.Atoi(g)
			if !ok || err1 != nil || err2 != nil || uid < 0 || gid < 0 {
				return Entry{}, fmt.Errorf("bad owner %q", val)
			}
			e.UID, e.GID = uid, gid
		case key == "data" && kind == File:
			e.Data = val
		case key == "size" && kind == File:
			s, err := parseSize(val)
			if err != nil {
				return Entry{}, err
			}
			e.Size = s
		case key == "target" && kind == Symlink:
			e.Target = val
		case key == "dev" && (kind == CharDevice || kind == BlockDevice):
			ma, mi, ok := strings.Cut(val, ":")
			major, err1 := strconv.ParseUint(ma, 10, 32)
			minor, err2 := strconv.ParseUint(mi, 10, 32)
			if !ok || err1 != nil || err2 != nil {
				return Entry{}, fmt.Errorf("bad dev %q", val)
			}
			e.Major, e.Minor = uint32(major), uint32(minor)
		case strings.HasPrefix(key, "xattr."):
			if e.Xattrs == nil {
				e.Xattrs = map[string]string{}
			}
			e.Xattrs[strings.TrimPrefix(key, "xattr.")] = val
		default:
			return Entry{}, fmt.Errorf("attribute %q does not apply to kind %s", key, fields[0])
		}
	}
	if kind == Symlink && e.Target == "" {
		return Entry{}, fmt.Errorf("symlink %s without target", e.Path)
	}
	return e, nil
}

// splitFields splits on spaces, keeping Go-quoted values whole.
func splitFields(line string) ([]string, error) {
	var fields []string
	for line = strings.TrimLeft(line, " \t"); line != ""; line = strings.TrimLeft(line, " \t") {
		end := strings.IndexAny(line, " \t\"")
		if end < 0 {
			fields = append(fields, line)
			break
		}
		if line[end] != '"' {
			fields = append(fields, line[:end])
			line = line[end:]
			continue
		}
		q, err := strconv.QuotedPrefix(line[end:])
		if err != nil {
			return nil, fmt.Errorf("bad quoting in %q", line)
		}
		fields = append(fields, line[:end]+q)
		line = line[end+len(q):]
	}
	return fields, nil
}

// maxLayoutSize bounds a File's size in a layout: sizes are sparse, but a
// test tree has no business being larger.
const maxLayoutSize = 1 << 40

func parseSize(s string) (int64, error) {
	n, err := bytesize.Parse(s)
	if err != nil {
		return 0, err
	}
	if n > maxLayoutSize {
		return 0, fmt.Errorf("bad size %q: more than 1TiB", s)
	}
	return n, nil
}

// WriteDir materialises layout under the host directory dir, which becomes
// the guest root. Owners are applied when set, xattrs always; device nodes
// and foreign owners need root.
func (l Layout) WriteDir(dir string) error {
	for _, e := range l {
		p := filepath.Join(dir, filepath.FromSlash(e.Path))
		var err error
		switch e.Kind {
		case Dir:
			err = os.Mkdir(p, 0o700)
		case File:
			err = writeSparse(p, e)
		case Symlink:
			err = os.Symlink(e.Target, p)
		case FIFO:
			err = unix.Mkfifo(p, 0o600)
		case CharDevice:
			err = unix.Mknod(p, unix.S_IFCHR|0o600, int(unix.Mkdev(e.Major, e.Minor)))
		case BlockDevice:
			err = unix.Mknod(p, unix.S_IFBLK|0o600, int(unix.Mkdev(e.Major, e.Minor)))
		}
		if err != nil {
			return &fs.PathError{Op: "layout", Path: e.Path, Err: err}
		}
		if e.UID >= 0 {
			if err := os.Lchown(p, e.UID, e.GID); err != nil {
				return err
			}
		}
		for k, v := range e.Xattrs {
			if err := unix.Lsetxattr(p, k, []byte(v), 0); err != nil {
				return &fs.PathError{Op: "lsetxattr " + k, Path: e.Path, Err: err}
			}
		}
		if e.Kind != Symlink {
			// After chown, which clears setuid/setgid.
			if err := unix.Fchmodat(unix.AT_FDCWD, p, unixmode.Bits(e.Mode), 0); err != nil {
				return &fs.PathError{Op: "chmod", Path: e.Path, Err: err}
			}
		}
	}
	return nil
}

func writeSparse(p string, e Entry) error {
	f, err := os.OpenFile(p, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return err
	}
	if _, err := f.WriteString(e.Data); err != nil {
		f.Close()
		return err
	}
	if err := f.Truncate(e.FileSize()); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}
