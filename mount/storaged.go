package mount

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/guestinject/guestinject/imagecheck"
	"github.com/guestinject/guestinject/internal/ownerdir"
)

// storageDaemon is a qemu-storage-daemon exporting one block node as a raw
// file over FUSE.
type storageDaemon struct {
	cmd    *exec.Cmd
	export string
	done   chan struct{}
	err    error // set before done closes
	stderr *tailBuffer
}

// exportSpec describes the node graph to export. Every node is spelled
// out: formats are explicit and the image never gets a backing file, so
// QEMU reads no file name or format from any header.
type exportSpec struct {
	image    string            // the guest image
	format   imagecheck.Format // its declared format
	overlay  string            // qcow2 overlay over the image, "" for none
	readOnly bool
	export   string // existing regular file the export is mounted on
}

func (s exportSpec) args() ([]string, error) {
	imageRO := s.readOnly || s.overlay != ""
	image := map[string]any{"driver": s.format, "node-name": "image", "read-only": imageRO,
		"file": map[string]any{"driver": "file", "filename": s.image, "read-only": imageRO}}
	if s.format == imagecheck.QCOW2 {
		image["backing"] = nil
	}
	nodes := []map[string]any{image}
	top := "image"
	if s.overlay != "" {
		nodes = append(nodes, map[string]any{"driver": "qcow2", "node-name": "overlay", "backing": "image",
			"file": map[string]any{"driver": "file", "filename": s.overlay}})
		top = "overlay"
	}
	var args []string
	for _, n := range nodes {
		j, err := json.Marshal(n)
		if err != nil {
			return nil, err
		}
		args = append(args, "--blockdev", string(j))
	}
	exp, err := json.Marshal(map[string]any{"type": "fuse", "id": "export", "node-name": top,
		"mountpoint": s.export, "writable": !s.readOnly, "allow-other": "off"})
	if err != nil {
		return nil, err
	}
	return append(args, "--export", string(exp)), nil
}

// daemonReadyTimeout bounds the wait for the FUSE export to appear.
const daemonReadyTimeout = 15 * time.Second

// startStorageDaemon runs the daemon for spec and returns once the export
// is mounted. pidFile records the daemon's pid and start time for a sweep
// after a crash.
func startStorageDaemon(ctx context.Context, bin string, spec exportSpec, pidFile string) (*storageDaemon, error) {
	args, err := spec.args()
	if err != nil {
		return nil, err
	}
	if err := os.WriteFile(spec.export, nil, 0o600); err != nil {
		return nil, err
	}
	var before unix.Stat_t
	if err := unix.Stat(spec.export, &before); err != nil {
		return nil, err
	}
	cmd := exec.Command(bin, args...)
	d := &storageDaemon{cmd: cmd, export: spec.export, done: make(chan struct{}), stderr: &tailBuffer{max: 8 << 10}}
	cmd.Stdout = d.stderr
	cmd.Stderr = d.stderr
	// The daemon dies with the process that started it.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("starting qemu-storage-daemon: %w", err)
	}
	go func() {
		d.err = cmd.Wait()
		close(d.done)
	}()
	if start, err := ownerdir.ProcessStart(cmd.Process.Pid); err == nil {
		os.WriteFile(pidFile, []byte(fmt.Sprintf("%d %d\n", cmd.Process.Pid, start)), 0o600)
	}
	ctx, cancel := context.WithTimeout(ctx, daemonReadyTimeout)
	defer cancel()
	for {
		// The export is up once the file is a FUSE mount: another device.
		var st unix.Stat_t
		if err := unix.Stat(spec.export, &st); err == nil && st.Dev != before.Dev {
			return d, nil
		}
		select {
		case <-d.done:
			return nil, fmt.Errorf("qemu-storage-daemon exited before exporting: %v: %s", d.err, strings.TrimSpace(d.stderr.String()))
		case <-ctx.Done():
			d.stop(context.WithoutCancel(ctx))
			return nil, fmt.Errorf("waiting for qemu-storage-daemon's export: %w: %s", ctx.Err(), strings.TrimSpace(d.stderr.String()))
		case <-time.After(2 * time.Millisecond):
		}
	}
}

// stop asks the daemon to flush and exit (SIGTERM), kills it if it does
// not within a few seconds, and makes sure its export is unmounted.
func (d *storageDaemon) stop(ctx context.Context) error {
	if d == nil {
		return nil
	}
	d.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-d.done:
	case <-time.After(10 * time.Second):
		d.cmd.Process.Kill()
		<-d.done
	}
	var exitErr *exec.ExitError
	err := d.err
	if errors.As(err, &exitErr) && exitErr.Sys().(syscall.WaitStatus).Signal() == syscall.SIGTERM {
		err = nil
	}
	// A killed daemon leaves its FUSE mount behind.
	if uerr := unmount(ctx, d.export); uerr != nil {
		return errors.Join(err, uerr)
	}
	if err != nil {
		return fmt.Errorf("qemu-storage-daemon: %w: %s", err, strings.TrimSpace(d.stderr.String()))
	}
	return nil
}

// tailBuffer keeps the last max bytes written to it.
type tailBuffer struct {
	mu  sync.Mutex
	max int
	b   []byte
}

func (t *tailBuffer) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.b = append(t.b, p...)
	if over := len(t.b) - t.max; over > 0 {
		t.b = t.b[over:]
	}
	return len(p), nil
}

func (t *tailBuffer) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return string(t.b)
}

// qemuImgCommit merges overlay into image (both spelled out, so qemu-img
// reads no file name or format from a header).
func qemuImgCommit(ctx context.Context, qemuImg, image string, format imagecheck.Format, overlay string) error {
	base := map[string]any{"driver": format, "file": map[string]any{"driver": "file", "filename": image}}
	if format == imagecheck.QCOW2 {
		base["backing"] = nil
	}
	j, err := json.Marshal(map[string]any{"driver": "qcow2", "file": map[string]any{"driver": "file", "filename": overlay}, "backing": base})
	if err != nil {
		return err
	}
	return runTool(ctx, qemuImg, "commit", "-q", "-d", "json:"+string(j))
}

// qemuImgCreateOverlay makes an empty qcow2 overlay of size bytes. The
// backing name in its header is for people only (-u); the daemon and the
// commit spell the backing node out.
func qemuImgCreateOverlay(ctx context.Context, qemuImg, overlay, image string, format imagecheck.Format, size int64) error {
	return runTool(ctx, qemuImg, "create", "-q", "-f", "qcow2", "-u", "-F", string(format), "-b", image, overlay, strconv.FormatInt(size, 10))
}

func runTool(ctx context.Context, name string, args ...string) error {
	cmd := exec.CommandContext(ctx, name, args...)
	var out strings.Builder
	cmd.Stdout = &out
	cmd.Stderr = &out
	if err := cmd.Run(); err != nil {
		if ctx.Err() != nil {
			err = ctx.Err()
		}
		return fmt.Errorf("%s %s: %w: %s", name, args[0], err, strings.TrimSpace(out.String()))
	}
	return nil
}
