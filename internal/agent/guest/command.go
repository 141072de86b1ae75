package guest

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/guestinject/guestinject/internal/guestabi"
	"github.com/guestinject/guestinject/internal/inroot"
	"github.com/guestinject/guestinject/internal/wire"
	"github.com/guestinject/guestinject/vfs"
)

// CommandHelper is the argv[0] under which the agent's executable runs as
// the helper that sets up a command's namespaces and becomes its shell
// (RunCommandHelper).
const CommandHelper = "guestinject-command"

// Shell is the guest program every command runs under.
const Shell = "/bin/sh"

// outputDrain bounds the wait for the output pipe to close once the
// command's processes are gone: a process that escaped the namespace
// with the pipe must not hold the agent.
const outputDrain = 2 * time.Second

// Runner runs guest commands (vfs.Command) chrooted into the guest root
// mounted at Dir. Each runs under a helper that is process 1 of new PID,
// mount, IPC, UTS and network namespaces: it mounts the command's /proc,
// /sys, /dev, /run and /tmp in its own mount namespace (so the agent's
// view of the guest root never holds them), chroots and becomes the
// shell. When the shell ends, or is killed at the time limit, the kernel
// kills every process left in its PID namespace, and the mounts go with
// the namespace.
type Runner struct {
	Root *inroot.Root // the guest root, for the checks before a run
	Dir  string       // where the guest root is mounted
	// Exe is the agent's executable, run as the helper; "" means
	// /proc/self/exe.
	Exe string
	// Cgroups is a cgroup v2 directory with the pids controller enabled
	// for its children; each command runs in a child of its own that
	// bounds its processes (pids.max). "" runs commands without a process
	// bound, as tests on a host without cgroup v2 do.
	Cgroups string
	// Proxy, when set, is the HTTP proxy URL of the appliance's package
	// network: commands then run in the agent's network namespace, which
	// reaches that proxy and nothing else, with http_proxy set to it.
	// Otherwise each command has a network namespace of its own, with
	// only a loopback that is down.
	Proxy string

	seq atomic.Uint64
}

// helperRequest is what the agent hands the helper on descriptor 3.
type helperRequest struct {
	Dir    string `json:"dir"`
	Shell  string `json:"shell,omitempty"`
	Script []byte `json:"script,omitempty"`
	Proxy  string `json:"proxy,omitempty"`
}

// Run runs c, whose limits are set, and reports how it ended. A guest
// whose /bin/sh is missing or not a program of the appliance's machine
// fails with vfs.ErrCannotRun before anything runs.
func (r *Runner) Run(ctx context.Context, c vfs.Command) (*wire.CommandResult, error) {
	if err := r.checkShell(ctx); err != nil {
		return nil, err
	}
	exe := r.Exe
	if exe == "" {
		exe = "/proc/self/exe"
	}
	req, err := json.Marshal(helperRequest{Dir: r.Dir, Shell: c.Shell, Script: c.Script, Proxy: r.Proxy})
	if err != nil {
		return nil, err
	}
	cg, err := r.cgroup(c.MaxProcs)
	if err != nil {
		return nil, &fs.PathError{Op: "run", Path: "/", Err: err}
	}
	defer cg.remove()

	outR, outW, err := os.Pipe()
	if err != nil {
		return nil, err
	}
	defer outR.Close()
	reqR, reqW, err := os.Pipe()
	if err != nil {
		outW.Close()
		return nil, err
	}
	statusR, statusW, err := os.Pipe()
	if err != nil {
		outW.Close()
		reqR.Close()
		reqW.Close()
		return nil, err
	}
	defer statusR.Close()
	cmd := &exec.Cmd{
		Path: exe, Args: []string{CommandHelper},
		Env:        []string{},
		Stdout:     outW,
		Stderr:     outW,
		ExtraFiles: []*os.File{reqR, statusW},
		SysProcAttr: &syscall.SysProcAttr{
			Cloneflags: unix.CLONE_NEWPID | unix.CLONE_NEWNS | unix.CLONE_NEWIPC | unix.CLONE_NEWUTS | unix.CLONE_NEWNET,
			Pdeathsig:  syscall.SIGKILL,
		},
	}
	if r.Proxy != "" {
		cmd.SysProcAttr.Cloneflags &^= unix.CLONE_NEWNET
	}
	if cg != nil {
		cmd.SysProcAttr.UseCgroupFD, cmd.SysProcAttr.CgroupFD = true, int(cg.fd.Fd())
	}
	start := time.Now()
	err = cmd.Start()
	outW.Close()
	reqR.Close()
	statusW.Close()
	if err != nil {
		reqW.Close()
		return nil, &fs.PathError{Op: "run", Path: "/", Err: fmt.Errorf("starting the command: %w", err)}
	}
	go func() {
		// A helper that dies early stops reading: the write fails, and
		// its status says why.
		reqW.Write(req)
		reqW.Close()
	}()
	out := &cappedBuffer{max: c.MaxOutput}
	copied := make(chan struct{})
	go func() {
		io.Copy(out, outR)
		close(copied)
	}()

	var timedOut atomic.Bool
	kill := func() {
		cmd.Process.Kill()
		cg.kill()
	}
	timer := time.AfterFunc(c.Timeout, func() { timedOut.Store(true); kill() })
	stop := context.AfterFunc(ctx, kill)
	waitErr := cmd.Wait()
	timer.Stop()
	stop()
	// The shell was process 1 of its namespace: the kernel has killed
	// the rest. A process that left it still dies with the cgroup.
	cg.kill()
	select {
	case <-copied:
	case <-time.After(outputDrain):
		outR.Close()
		<-copied
	}
	elapsed := time.Since(start)

	status, _ := io.ReadAll(io.LimitReader(statusR, guestabi.MaxText))
	if msg, ok := strings.CutPrefix(string(status), cannotExec); ok {
		return nil, &fs.PathError{Op: "run", Path: Shell, Err: fmt.Errorf("%w: %s", vfs.ErrCannotRun, guestabi.Clean(msg, guestabi.MaxText))}
	}
	if len(status) > 0 {
		return nil, &fs.PathError{Op: "run", Path: "/", Err: fmt.Errorf("setting up the command: %s", guestabi.Clean(string(status), guestabi.MaxText))}
	}
	if err := ctx.Err(); err != nil {
		return nil, &fs.PathError{Op: "run", Path: "/", Err: err}
	}
	res := &wire.CommandResult{Output: out.buf.Bytes(), Dropped: out.dropped, DurationMS: elapsed.Milliseconds(), TimedOut: timedOut.Load()}
	var ee *exec.ExitError
	switch {
	case waitErr == nil:
	case errors.As(waitErr, &ee):
		ws, _ := ee.Sys().(syscall.WaitStatus)
		res.Exit = ws.ExitStatus()
		if ws.Signaled() {
			res.Exit, res.Signal = -1, int(ws.Signal())
		}
	default:
		return nil, &fs.PathError{Op: "run", Path: "/", Err: waitErr}
	}
	if res.TimedOut {
		res.Exit, res.Signal = -1, 0
	}
	return res, nil
}

// checkShell refuses a guest whose /bin/sh, resolved in the root, is
// missing or not a program for this machine.
func (r *Runner) checkShell(ctx context.Context) error {
	refuse := func(why string) error {
		return &fs.PathError{Op: "run", Path: Shell, Err: fmt.Errorf("%w: %s", vfs.ErrCannotRun, why)}
	}
	want, ok := HostMachine()
	if !ok {
		return refuse("the appliance's machine is unknown")
	}
	f, err := r.Root.Open(ctx, Shell)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return refuse("the guest has no " + Shell)
	case errors.Is(err, vfs.ErrNotRegular):
		return refuse(Shell + " is not a regular file")
	case err != nil:
		return refuse(err.Error())
	}
	defer f.Close()
	header := make([]byte, ELFHeaderSize)
	n, err := io.ReadFull(f, header)
	if err != nil && !errors.Is(err, io.ErrUnexpectedEOF) && !errors.Is(err, io.EOF) {
		return refuse(err.Error())
	}
	if err := CheckELF(header[:n], want); err != nil {
		return refuse(Shell + " is " + err.Error())
	}
	return nil
}

// cappedBuffer keeps the first max bytes written to it and counts the
// rest.
type cappedBuffer struct {
	mu      sync.Mutex
	max     int
	buf     bytes.Buffer
	dropped int64
}

func (b *cappedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	keep := min(len(p), b.max-b.buf.Len())
	b.buf.Write(p[:keep])
	b.dropped += int64(len(p) - keep)
	return len(p), nil
}

// commandCgroup is the cgroup of one command.
type commandCgroup struct {
	dir string
	fd  *os.File
}

// cgroup makes the cgroup of one command, bounded to procs processes; nil
// when the Runner has no cgroups.
func (r *Runner) cgroup(procs int) (*commandCgroup, error) {
	if r.Cgroups == "" {
		return nil, nil
	}
	dir := filepath.Join(r.Cgroups, "command"+strconv.FormatUint(r.seq.Add(1), 10))
	if err := os.Mkdir(dir, 0o755); err != nil {
		return nil, fmt.Errorf("making the command's cgroup: %w", err)
	}
	cg := &commandCgroup{dir: dir}
	if err := os.WriteFile(filepath.Join(dir, "pids.max"), []byte(strconv.Itoa(procs)), 0); err != nil {
		cg.remove()
		return nil, fmt.Errorf("bounding the command's processes: %w", err)
	}
	fd, err := os.Open(dir)
	if err != nil {
		cg.remove()
		return nil, err
	}
	cg.fd = fd
	return cg, nil
}

// kill kills every process in the cgroup.
func (cg *commandCgroup) kill() {
	if cg != nil {
		os.WriteFile(filepath.Join(cg.dir, "cgroup.kill"), []byte("1"), 0)
	}
}

// remove removes the cgroup once its processes are gone, which the kernel
// reports a moment after they die.
func (cg *commandCgroup) remove() {
	if cg == nil {
		return
	}
	if cg.fd != nil {
		cg.fd.Close()
	}
	for range 100 {
		if err := os.Remove(cg.dir); err == nil || errors.Is(err, fs.ErrNotExist) {
			return
		}
		cg.kill()
		time.Sleep(10 * time.Millisecond)
	}
}

// SetupCgroups mounts cgroup v2 at dir, when it is not there yet, and
// enables the pids controller for its children, for Runner.Cgroups.
func SetupCgroups(dir string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	if err := unix.Mount("cgroup2", dir, "cgroup2", unix.MS_NOSUID|unix.MS_NODEV|unix.MS_NOEXEC, ""); err != nil && !errors.Is(err, unix.EBUSY) {
		return fmt.Errorf("mounting cgroup2 on %s: %w", dir, err)
	}
	if err := os.WriteFile(filepath.Join(dir, "cgroup.subtree_control"), []byte("+pids"), 0); err != nil {
		return fmt.Errorf("enabling the pids controller: %w", err)
	}
	return nil
}
