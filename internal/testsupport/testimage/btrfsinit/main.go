// Command btrfsinit is the /init of a throwaway VM that testimage.Btrfs
// boots to turn directories of a btrfs image into subvolumes, which the
// btrfs-progs of some hosts cannot make without mounting the image there
// (mkfs.btrfs --subvol is recent). It mounts the whole-disk btrfs on the
// first virtio disk, and for each name in the btrfsinit.subvols
// parameter creates subvolume NAME at the top level and copies
// /.trees/NAME into it (modes, owners, symlinks), removes /.trees,
// unmounts, prints "btrfsinit: ok" and powers off.
package main

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/guestinject/guestinject/internal/agent/guest"
	"github.com/guestinject/guestinject/internal/guestabi"
)

// SubvolParam names the subvolumes to make, comma-separated.
const SubvolParam = "btrfsinit.subvols"

// btrfsIocSubvolCreate is BTRFS_IOC_SUBVOL_CREATE: _IOW(0x94, 14, struct
// btrfs_ioctl_vol_args), whose size is 4096.
const btrfsIocSubvolCreate = 0x5000940e

type volArgs struct {
	fd   int64
	name [4088]byte
}

func main() {
	err := run()
	if err != nil {
		fmt.Fprintf(os.Stderr, "btrfsinit: %v\n", err)
	} else {
		fmt.Fprintln(os.Stderr, "btrfsinit: ok")
	}
	guest.PowerOff()
	os.Exit(1)
}

func run() error {
	if os.Getpid() != 1 {
		return errors.New("runs only as /init")
	}
	if err := guest.MountPseudo(); err != nil {
		return err
	}
	mods, err := guest.ReadModules()
	if err != nil {
		return err
	}
	for _, g := range []string{guestabi.CoreGroup, "btrfs"} {
		if err := mods.Load(g); err != nil {
			return err
		}
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		if _, err := os.Stat("/dev/vda"); err == nil {
			break
		}
		if time.Now().After(deadline) {
			return errors.New("no /dev/vda")
		}
		time.Sleep(10 * time.Millisecond)
	}
	const top = "/mnt"
	if err := os.MkdirAll(top, 0o755); err != nil {
		return err
	}
	if err := unix.Mount("/dev/vda", top, "btrfs", 0, "subvolid=5"); err != nil {
		return fmt.Errorf("mounting: %w", err)
	}
	dir, err := os.Open(top)
	if err != nil {
		return err
	}
	for name := range strings.SplitSeq(guest.Cmdline(SubvolParam), ",") {
		if name == "" || strings.Contains(name, "/") || len(name) >= 4088 {
			return fmt.Errorf("bad subvolume name %q", name)
		}
		var args volArgs
		copy(args.name[:], name)
		if _, _, e := syscall.Syscall(syscall.SYS_IOCTL, dir.Fd(), btrfsIocSubvolCreate, uintptr(unsafe.Pointer(&args))); e != 0 {
			return fmt.Errorf("creating subvolume %s: %w", name, e)
		}
		if err := copyTree(filepath.Join(top, ".trees", name), filepath.Join(top, name)); err != nil {
			return err
		}
	}
	dir.Close()
	if err := os.RemoveAll(filepath.Join(top, ".trees")); err != nil {
		return err
	}
	unix.Sync()
	return unix.Unmount(top, 0)
}

// copyTree copies the content of src into the existing directory dst,
// with modes and owners.
func copyTree(src, dst string) error {
	return filepath.WalkDir(src, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, p)
		to := filepath.Join(dst, rel)
		info, err := os.Lstat(p)
		if err != nil {
			return err
		}
		st := info.Sys().(*syscall.Stat_t)
		switch {
		case info.IsDir():
			if rel != "." {
				if err := os.Mkdir(to, 0o700); err != nil {
					return err
				}
			}
		case info.Mode()&fs.ModeSymlink != 0:
			target, err := os.Readlink(p)
			if err != nil {
				return err
			}
			if err := os.Symlink(target, to); err != nil {
				return err
			}
		case info.Mode().IsRegular():
			if err := copyFile(p, to); err != nil {
				return err
			}
		default:
			return fmt.Errorf("%s: not a file, directory or symlink", p)
		}
		if err := os.Lchown(to, int(st.Uid), int(st.Gid)); err != nil {
			return err
		}
		if info.Mode()&fs.ModeSymlink == 0 {
			return os.Chmod(to, info.Mode()&(fs.ModePerm|fs.ModeSetuid|fs.ModeSetgid|fs.ModeSticky))
		}
		return nil
	})
}

func copyFile(src, dst string) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}
