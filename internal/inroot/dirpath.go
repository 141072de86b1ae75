package inroot

import (
	"context"
	"os"

	"golang.org/x/sys/unix"
)

// OpenDir returns an O_PATH descriptor of the directory name, resolved in
// the root like every other name, symlinks included. The agent mounts
// guest filesystems onto /proc/self/fd/<fd> of such a descriptor, so a
// mount point named by the guest cannot lie outside the root.
func (r *Root) OpenDir(ctx context.Context, name string) (*os.File, error) {
	rootfd, err := r.begin(ctx, "opendir", name)
	if err != nil {
		return nil, err
	}
	defer r.release()
	fd, err := openInRoot(rootfd, name, unix.O_PATH|unix.O_DIRECTORY)
	if err != nil {
		return nil, pathErr("opendir", name, err)
	}
	return os.NewFile(uintptr(fd), name), nil
}
