// Package qemuimg runs qemu-img on untrusted images: under resource limits
// that prlimit(1) applies before qemu-img starts, with a fixed minimal
// environment, and with the files it works on inherited as descriptors.
package qemuimg

import (
	"context"
	"os"
	"os/exec"
	"slices"
	"strconv"
)

// Limits are the resource limits of one qemu-img process.
type Limits struct {
	AddressSpace int64 // bytes; RLIMIT_AS
	CPUSeconds   int64 // RLIMIT_CPU
	FileSize     int64 // bytes; RLIMIT_FSIZE, the largest file it may write; zero leaves it unlimited
}

// env is the environment qemu-img runs with. MALLOC_ARENA_MAX keeps
// glibc from reserving 64 MiB of address space per malloc arena (up to
// eight per CPU), which under the address-space limit makes a busy
// qemu-img fail to start its I/O threads and abort, rather than bounding
// what a crafted header can make it allocate; one arena was reliable
// where two still failed now and then under load.
var env = []string{"LC_ALL=C", "PATH=/usr/bin:/bin", "MALLOC_ARENA_MAX=1"}

// Command returns the command that runs qemuImg (a path, or a name looked
// up in $PATH) with args under lim, and with files inherited as
// descriptors 3, 4... (see FD). Killing it on ctx's end kills qemu-img
// itself: prlimit executes it in its own place.
func Command(ctx context.Context, qemuImg string, lim Limits, files []*os.File, args ...string) (*exec.Cmd, error) {
	bin, err := exec.LookPath(qemuImg)
	if err != nil {
		return nil, err
	}
	prlimit, err := exec.LookPath("prlimit")
	if err != nil {
		return nil, err
	}
	argv := []string{
		"--as=" + strconv.FormatInt(lim.AddressSpace, 10),
		"--cpu=" + strconv.FormatInt(lim.CPUSeconds, 10),
	}
	if lim.FileSize > 0 {
		argv = append(argv, "--fsize="+strconv.FormatInt(lim.FileSize, 10))
	}
	argv = append(argv, "--core=0", "--", bin)
	cmd := exec.CommandContext(ctx, prlimit, append(argv, args...)...)
	cmd.ExtraFiles = files
	cmd.Env = slices.Clone(env)
	return cmd, nil
}

// FD is the name qemu-img opens the i-th of Command's files by. The
// name reopens the inherited file itself, whatever its path has become.
func FD(i int) string { return "/proc/self/fd/" + strconv.Itoa(3+i) }
