package inroot

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/guestinject/guestinject/internal/unixmode"

	"golang.org/x/sys/unix"

	"github.com/guestinject/guestinject/vfs"
)

func TestMapErrno(t *testing.T) {
	for errno, want := range map[unix.Errno]error{
		unix.ENOENT:     fs.ErrNotExist,
		unix.EEXIST:     fs.ErrExist,
		unix.EACCES:     fs.ErrPermission,
		unix.EPERM:      fs.ErrPermission,
		unix.ENOTDIR:    vfs.ErrNotDir,
		unix.EISDIR:     vfs.ErrIsDir,
		unix.ENOTEMPTY:  vfs.ErrNotEmpty,
		unix.ELOOP:      vfs.ErrSymlinkLoop,
		unix.EXDEV:      vfs.ErrEscapesRoot,
		unix.ENOSPC:     vfs.ErrNoSpace,
		unix.EDQUOT:     vfs.ErrNoSpace,
		unix.EROFS:      vfs.ErrReadOnly,
		unix.EIO:        vfs.ErrIO,
		unix.EFBIG:      vfs.ErrTooLarge,
		unix.EOPNOTSUPP: vfs.ErrNotSupported, // also ENOTSUP
	} {
		err := pathErr("op", "/x", fmt.Errorf("wrapped: %w", errno))
		if !errors.Is(err, want) || !errors.Is(err, errno) {
			t.Errorf("%v: got %v, want both %v and the errno", errno, err, want)
		}
		if !strings.Contains(err.Error(), unix.ErrnoName(errno)) {
			t.Errorf("%v: message %q hides the errno", errno, err)
		}
	}
	if err := mapErrno(unix.EBUSY); err != unix.EBUSY {
		t.Errorf("unmapped errno became %v", err)
	}
	other := errors.New("other")
	if err := mapErrno(other); err != other {
		t.Errorf("non-errno became %v", err)
	}
	// An os.File error gives up its errno and its host path.
	err := pathErr("write", "/etc/x", &fs.PathError{Op: "write", Path: "/host/tmp", Err: unix.ENOSPC})
	var pe *fs.PathError
	if !errors.As(err, &pe) || pe.Path != "/etc/x" || !errors.Is(err, vfs.ErrNoSpace) {
		t.Errorf("os.File error: %v", err)
	}
}

func TestModeConversions(t *testing.T) {
	for m := uint32(0); m <= 0o7777; m++ {
		if got := unixmode.Bits(unixmode.Perm(m)); got != m {
			t.Fatalf("%#o -> %v -> %#o", m, unixmode.Perm(m), got)
		}
	}
	for st, want := range map[uint32]fs.FileMode{
		unix.S_IFREG | 0o644:                0o644,
		unix.S_IFDIR | unix.S_ISVTX | 0o777: fs.ModeDir | fs.ModeSticky | 0o777,
		unix.S_IFLNK | 0o777:                fs.ModeSymlink | 0o777,
		unix.S_IFIFO | 0o600:                fs.ModeNamedPipe | 0o600,
		unix.S_IFSOCK | 0o755:               fs.ModeSocket | 0o755,
		unix.S_IFCHR | 0o666:                fs.ModeDevice | fs.ModeCharDevice | 0o666,
		unix.S_IFBLK | 0o660:                fs.ModeDevice | 0o660,
		unix.S_IFREG | unix.S_ISUID | 0o755: fs.ModeSetuid | 0o755,
	} {
		if got := unixmode.ToFileMode(st); got != want {
			t.Errorf("unixmode.ToFileMode(%#o) = %v, want %v", st, got, want)
		}
	}
	if got := unixmode.Bits(fs.ModeDir | fs.ModeSetgid | 0o750); got != unix.S_ISGID|0o750 {
		t.Errorf("permBits kept type bits: %#o", got)
	}
}

// openPath returns an O_PATH descriptor of a host path.
func openPath(t *testing.T, p string) int {
	t.Helper()
	fd, err := unix.Open(p, unix.O_PATH|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { unix.Close(fd) })
	return fd
}

// The fallback for kernels without fchmodat2 must reach the same inode.
func TestChmodViaProc(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "f")
	if err := os.WriteFile(p, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	fd := openPath(t, p)
	if err := chmodViaProc(fd, unix.S_ISUID|0o700); err != nil {
		t.Fatal(err)
	}
	if info, err := os.Stat(p); err != nil || info.Mode() != fs.ModeSetuid|0o700 {
		t.Errorf("mode %v, %v", info.Mode(), err)
	}
	if err := chmodFd(fd, 0o640); err != nil {
		t.Fatal(err)
	}
	if info, err := os.Stat(p); err != nil || info.Mode() != 0o640 {
		t.Errorf("mode %v, %v", info.Mode(), err)
	}
}

// The fallback for filesystems without RENAME_NOREPLACE never replaces.
func TestLinkThenUnlink(t *testing.T) {
	dir := t.TempDir()
	for name, data := range map[string]string{"tmp": "new", "taken": "old"} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	dirfd := openPath(t, dir)
	if err := linkThenUnlink(dirfd, "tmp", "taken"); err != unix.EEXIST {
		t.Errorf("link over an existing name: %v", err)
	}
	if err := linkThenUnlink(dirfd, "tmp", "free"); err != nil {
		t.Fatal(err)
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 2 || entries[0].Name() != "free" || entries[1].Name() != "taken" {
		t.Errorf("directory holds %v", entries)
	}
	if data, _ := os.ReadFile(filepath.Join(dir, "taken")); string(data) != "old" {
		t.Errorf("existing file replaced: %q", data)
	}
}

func TestReopenRegularRefusesOthers(t *testing.T) {
	dir := t.TempDir()
	fifo := filepath.Join(dir, "fifo")
	if err := unix.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{fifo, dir} {
		if _, err := reopenRegular(openPath(t, p)); !errors.Is(err, vfs.ErrNotRegular) {
			t.Errorf("%s: %v", p, err)
		}
	}
}
