package guest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"

	"golang.org/x/sys/unix"

	"github.com/guestinject/guestinject/internal/guestabi"
	"github.com/guestinject/guestinject/internal/inroot"
)

// Descriptors the agent hands the helper.
const (
	helperRequestFD = 3 // the helperRequest, JSON, then end of file
	helperStatusFD  = 4 // why the setup failed; closed by a successful exec
)

// cannotExec starts the status of a helper whose exec of the shell
// failed, as opposed to one whose setup did.
const cannotExec = "exec: "

// scriptName is where a script is written in the command's private /tmp
// (or /run, when the guest has no /tmp).
const scriptName = "guestinject-script"

// commandEnv is the environment of every command.
var commandEnv = []string{
	"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
	"HOME=/root", "LANG=C", "LC_ALL=C", "TERM=dumb", "SHELL=/bin/sh", "USER=root", "LOGNAME=root",
}

// RunCommandHelper is the helper's whole life: it runs when the agent's
// executable is started as CommandHelper by Runner.Run, as process 1 of
// its own namespaces. It mounts the command's filesystems inside the
// guest root, chroots there and executes the shell, or writes why it
// could not on its status descriptor and exits. It never returns.
func RunCommandHelper() {
	status := os.NewFile(helperStatusFD, "status")
	if err := prepareCommand(); err != nil {
		fmt.Fprint(status, err)
		os.Exit(127)
	}
	// Only a failed exec comes back: the guest's shell cannot run here
	// (a missing interpreter, a damaged program).
	fmt.Fprint(status, cannotExec+execShell().Error())
	os.Exit(127)
}

var (
	helperArgs []string
	helperEnv  []string
)

// proxyEnv is the environment that points a command's HTTP clients (apt,
// dnf's libcurl, zypper, apk, wget, curl) at the package proxy.
func proxyEnv(proxy string) []string {
	return []string{"http_proxy=" + proxy, "HTTP_PROXY=" + proxy, "no_proxy=", "NO_PROXY="}
}

func prepareCommand() error {
	unix.CloseOnExec(helperStatusFD)
	data, err := io.ReadAll(io.LimitReader(os.NewFile(helperRequestFD, "request"), 4*guestabi.MaxScriptSize))
	if err != nil {
		return fmt.Errorf("reading the request: %w", err)
	}
	var req helperRequest
	if err := json.Unmarshal(data, &req); err != nil {
		return fmt.Errorf("reading the request: %w", err)
	}
	// Nothing mounted here may show in the agent's namespace.
	if err := unix.Mount("", "/", "", unix.MS_REC|unix.MS_PRIVATE, ""); err != nil {
		return fmt.Errorf("making the mounts private: %w", err)
	}
	root, err := inroot.Open(req.Dir)
	if err != nil {
		return err
	}
	defer root.Close()
	ctx := context.Background()
	var m Mounts
	mount := func(target, fstype string, flags uintptr, data string) (string, error) {
		where, err := m.MountInRoot(ctx, root, target, fstype, fstype, flags, data)
		if errors.Is(err, fs.ErrNotExist) {
			// A guest without the directory goes without the mount:
			// making it would change the guest.
			return "", nil
		}
		if err != nil {
			return "", fmt.Errorf("mounting the command's %s: %w", target, err)
		}
		return filepath.Join(req.Dir, where), nil
	}
	const pseudo = unix.MS_NOSUID | unix.MS_NODEV | unix.MS_NOEXEC
	if _, err := mount("/proc", "proc", pseudo, ""); err != nil {
		return err
	}
	if _, err := mount("/sys", "sysfs", pseudo|unix.MS_RDONLY, ""); err != nil {
		return err
	}
	dev, err := mount("/dev", "tmpfs", unix.MS_NOSUID|unix.MS_NOEXEC, "mode=0755,size=1m,nr_inodes=256")
	if err != nil {
		return err
	}
	if dev != "" {
		if err := populateDev(dev); err != nil {
			return err
		}
	}
	var scratch string
	for _, t := range []struct{ target, mode string }{{"/tmp", "1777"}, {"/run", "0755"}} {
		where, err := mount(t.target, "tmpfs", unix.MS_NOSUID|unix.MS_NODEV, "mode="+t.mode)
		if err != nil {
			return err
		}
		if scratch == "" && where != "" {
			scratch = where
		}
	}
	helperEnv = commandEnv
	if req.Proxy != "" {
		helperEnv = append(slices.Clip(commandEnv), proxyEnv(req.Proxy)...)
	}
	helperArgs = []string{"sh", "-c", req.Shell}
	if req.Script != nil {
		if scratch == "" {
			return errors.New("the guest has neither /tmp nor /run to hold the script")
		}
		name := filepath.Join(scratch, scriptName)
		if err := os.WriteFile(name, req.Script, 0o700); err != nil {
			return fmt.Errorf("writing the script: %w", err)
		}
		helperArgs = []string{"sh", "/" + scriptName}
		if rel, err := filepath.Rel(req.Dir, name); err == nil {
			helperArgs[1] = "/" + rel
		}
	}
	if err := unix.Chroot(req.Dir); err != nil {
		return fmt.Errorf("chroot: %w", err)
	}
	if err := unix.Chdir("/"); err != nil {
		return fmt.Errorf("chdir: %w", err)
	}
	unix.Sethostname([]byte("localhost"))
	return nil
}

func execShell() error {
	err := unix.Exec(Shell, helperArgs, helperEnv)
	return fmt.Errorf("executing %s: %w", Shell, err)
}

// populateDev fills the command's /dev, a fresh tmpfs at dir, with the
// nodes programs expect and a pty instance of its own.
func populateDev(dir string) error {
	for _, n := range []struct {
		name         string
		major, minor uint32
	}{
		{"null", 1, 3}, {"zero", 1, 5}, {"full", 1, 7}, {"random", 1, 8}, {"urandom", 1, 9}, {"tty", 5, 0},
	} {
		if err := unix.Mknod(filepath.Join(dir, n.name), unix.S_IFCHR|0o666, int(unix.Mkdev(n.major, n.minor))); err != nil {
			return fmt.Errorf("making /dev/%s: %w", n.name, err)
		}
		// The umask is not the mode's business.
		if err := unix.Chmod(filepath.Join(dir, n.name), 0o666); err != nil {
			return err
		}
	}
	for _, d := range []string{"pts", "shm"} {
		if err := os.Mkdir(filepath.Join(dir, d), 0o755); err != nil {
			return err
		}
	}
	if err := unix.Chmod(filepath.Join(dir, "shm"), 0o1777); err != nil {
		return err
	}
	if err := unix.Mount("devpts", filepath.Join(dir, "pts"), "devpts", unix.MS_NOSUID|unix.MS_NOEXEC, "newinstance,ptmxmode=0666,mode=0620"); err != nil {
		return fmt.Errorf("mounting /dev/pts: %w", err)
	}
	for name, target := range map[string]string{"ptmx": "pts/ptmx", "fd": "/proc/self/fd", "stdin": "/proc/self/fd/0",
		"stdout": "/proc/self/fd/1", "stderr": "/proc/self/fd/2"} {
		if err := os.Symlink(target, filepath.Join(dir, name)); err != nil {
			return err
		}
	}
	return nil
}
