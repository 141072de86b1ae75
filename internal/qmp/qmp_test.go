package qmp

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/guestinject/guestinject/internal/testsupport/testimage"
)

// startQEMU runs a QEMU with no machine at all (it starts at once, under
// TCG too) whose only monitor is the far end of a Pair, and returns the
// connected Monitor.
func startQEMU(t *testing.T) (*Monitor, *exec.Cmd) {
	t.Helper()
	bin := testimage.NeedTool(t, "qemu-system-x86_64")
	host, qemuEnd, err := Pair()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "-machine", "none", "-nodefaults", "-no-user-config", "-display", "none",
		"-chardev", "socket,id=qmp,fd=3", "-mon", "chardev=qmp,mode=control")
	cmd.ExtraFiles = []*os.File{qemuEnd}
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	var stderr strings.Builder
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	qemuEnd.Close()
	t.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
	})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	m, err := Connect(ctx, host)
	if err != nil {
		t.Fatalf("%v; QEMU said: %s", err, stderr.String())
	}
	t.Cleanup(func() { m.Close() })
	return m, cmd
}

func TestQEMUCommands(t *testing.T) {
	m, _ := startQEMU(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	var version struct {
		QEMU struct{ Major, Minor int } `json:"qemu"`
	}
	if err := m.Execute(ctx, "query-version", nil, &version); err != nil {
		t.Fatal(err)
	}
	if version.QEMU.Major < 2 {
		t.Errorf("query-version: %+v", version)
	}

	// A refusal is an *Error with QEMU's class.
	err := m.Execute(ctx, "no-such-command", nil, nil)
	var qe *Error
	if !errors.As(err, &qe) || qe.Class != "CommandNotFound" {
		t.Errorf("unknown command: %v, want a CommandNotFound *Error", err)
	}

	// A descriptor travels with add-fd and lands in the fd set.
	f, err := os.Open(filepath.Join(t.TempDir(), "."))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var added struct {
		FDSetID int `json:"fdset-id"`
		FD      int `json:"fd"`
	}
	if err := m.Execute(ctx, "add-fd", map[string]any{"fdset-id": 7, "opaque": "test"}, &added, f); err != nil {
		t.Fatal(err)
	}
	if added.FDSetID != 7 || added.FD < 0 {
		t.Errorf("add-fd returned %+v", added)
	}
	var sets []struct {
		FDSetID int `json:"fdset-id"`
		FDs     []struct {
			FD     int    `json:"fd"`
			Opaque string `json:"opaque"`
		} `json:"fds"`
	}
	if err := m.Execute(ctx, "query-fdsets", nil, &sets); err != nil {
		t.Fatal(err)
	}
	if len(sets) != 1 || sets[0].FDSetID != 7 || len(sets[0].FDs) != 1 || sets[0].FDs[0].Opaque != "test" {
		t.Errorf("query-fdsets: %+v", sets)
	}
	// add-fd without a descriptor is refused: none is left over from the
	// last command.
	if err := m.Execute(ctx, "add-fd", map[string]any{"fdset-id": 8}, nil); !errors.As(err, &qe) {
		t.Errorf("add-fd without a descriptor: %v, want an *Error", err)
	}
}

func TestQEMUConcurrentCommands(t *testing.T) {
	m, _ := startQEMU(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	errs := make(chan error, 8)
	for i := range 8 {
		go func() {
			var status struct {
				Status string `json:"status"`
			}
			cmd := "query-status"
			if i%2 == 1 {
				cmd = "query-name"
			}
			errs <- m.Execute(ctx, cmd, nil, &status)
		}()
	}
	for range 8 {
		if err := <-errs; err != nil {
			t.Error(err)
		}
	}
}

// TestQuitAndExit: quit is answered (QEMU sends its SHUTDOWN event too,
// which is dropped), QEMU exits, and a call after that fails with
// ErrClosed, however the hang-up and the call interleave.
func TestQuitAndExit(t *testing.T) {
	m, cmd := startQEMU(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := m.Execute(ctx, "quit", nil, nil); err != nil {
		t.Fatal(err)
	}
	if err := cmd.Wait(); err != nil {
		t.Fatalf("QEMU after quit: %v", err)
	}
	for range 3 {
		if err := m.Execute(ctx, "query-status", nil, nil); !errors.Is(err, ErrClosed) {
			t.Errorf("after QEMU exited: %v, want ErrClosed", err)
		}
	}
}

// fakeQEMU is the far end of a Pair driven by the test, for what a real
// QEMU does not do: stay silent, or misbehave.
func fakeQEMU(t *testing.T, greeting string) (*net.UnixConn, *bufio.Reader, func(ctx context.Context) (*Monitor, error)) {
	t.Helper()
	host, qemuEnd, err := Pair()
	if err != nil {
		t.Fatal(err)
	}
	c, err := net.FileConn(qemuEnd)
	qemuEnd.Close()
	if err != nil {
		t.Fatal(err)
	}
	peer := c.(*net.UnixConn)
	t.Cleanup(func() { peer.Close() })
	if greeting != "" {
		go peer.Write([]byte(greeting))
	}
	return peer, bufio.NewReader(peer), func(ctx context.Context) (*Monitor, error) { return Connect(ctx, host) }
}

const greeting = `{"QMP": {"version": {"qemu": {"micro": 0, "minor": 2, "major": 7}}, "capabilities": []}}` + "\n"

func TestConnectDeadline(t *testing.T) {
	_, _, connect := fakeQEMU(t, "")
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	if _, err := connect(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("silent peer: %v, want DeadlineExceeded", err)
	}
}

func TestNotAGreeting(t *testing.T) {
	_, _, connect := fakeQEMU(t, `{"return": {}}`+"\n")
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if _, err := connect(ctx); !errors.Is(err, ErrProtocol) {
		t.Fatalf("%v, want ErrProtocol", err)
	}
}

// serveCapabilities answers qmp_capabilities and returns the monitor.
func serveCapabilities(t *testing.T, peer *net.UnixConn, r *bufio.Reader, connect func(context.Context) (*Monitor, error)) *Monitor {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	type result struct {
		m   *Monitor
		err error
	}
	ch := make(chan result, 1)
	go func() {
		m, err := connect(ctx)
		ch <- result{m, err}
	}()
	var req struct {
		Execute string `json:"execute"`
		ID      string `json:"id"`
	}
	line, err := r.ReadBytes('\n')
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(line, &req); err != nil || req.Execute != "qmp_capabilities" {
		t.Fatalf("first command %q: %v", line, err)
	}
	peer.Write([]byte(`{"return": {}, "id": "` + req.ID + `"}` + "\n"))
	res := <-ch
	if res.err != nil {
		t.Fatal(res.err)
	}
	t.Cleanup(func() { res.m.Close() })
	return res.m
}

func TestCommandDeadline(t *testing.T) {
	peer, r, connect := fakeQEMU(t, greeting)
	m := serveCapabilities(t, peer, r, connect)
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	if err := m.Execute(ctx, "query-status", nil, nil); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("unanswered command: %v, want DeadlineExceeded", err)
	}
}

func TestLongLine(t *testing.T) {
	peer, r, connect := fakeQEMU(t, greeting)
	m := serveCapabilities(t, peer, r, connect)
	go func() {
		big := `{"event": "X", "data": "` + strings.Repeat("a", MaxLine) + `"}` + "\n"
		peer.Write([]byte(big))
	}()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := m.Execute(ctx, "query-status", nil, nil); !errors.Is(err, ErrProtocol) {
		t.Fatalf("after an over-long line: %v, want ErrProtocol", err)
	}
}

// TestEventsAndStrayAnswersDropped: events and an answer to a command no
// one sent reach no caller; the next command gets its own answer.
func TestEventsAndStrayAnswersDropped(t *testing.T) {
	peer, r, connect := fakeQEMU(t, greeting)
	m := serveCapabilities(t, peer, r, connect)
	peer.Write([]byte(`{"event": "VSERPORT_CHANGE", "data": {"id": "a", "open": true}, "timestamp": {}}` + "\n" +
		`{"return": {"status": "stray"}, "id": "999"}` + "\n"))
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	answered := make(chan error, 1)
	var status struct {
		Status string `json:"status"`
	}
	go func() { answered <- m.Execute(ctx, "query-status", nil, &status) }()
	req, err := r.ReadBytes('\n')
	if err != nil {
		t.Fatal(err)
	}
	var cmd struct {
		ID string `json:"id"`
	}
	if err := json.Unmarshal(req, &cmd); err != nil {
		t.Fatal(err)
	}
	peer.Write([]byte(`{"event": "RESUME", "timestamp": {}}` + "\n" + `{"return": {"status": "running"}, "id": "` + cmd.ID + `"}` + "\n"))
	if err := <-answered; err != nil {
		t.Fatal(err)
	}
	if status.Status != "running" {
		t.Errorf("status %q, want the answer to this command", status.Status)
	}
}

func FuzzDecodeMessage(f *testing.F) {
	for _, s := range []string{
		greeting,
		`{"return": {}, "id": "1"}`,
		`{"return": [{"fdset-id": 1}], "id": "2"}`,
		`{"error": {"class": "GenericError", "desc": "x"}, "id": "3"}`,
		`{"error": {"class": "GenericError", "desc": "x"}}`,
		`{"event": "DEVICE_DELETED", "data": {"device": "d"}, "timestamp": {"seconds": 1, "microseconds": 2}}`,
		`{"return": {}, "event": "X"}`,
		`{"return": {}, "id": 5}`,
		`[]`, `null`, `{}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, line []byte) {
		msg, err := decodeMessage(line)
		if err != nil {
			if !errors.Is(err, ErrProtocol) {
				t.Fatalf("error %v is not ErrProtocol", err)
			}
			return
		}
		switch msg.kind {
		case kindGreeting, kindReturn, kindEvent:
		case kindError:
			if len(msg.errDesc) > maxErrorText || len(msg.errClass) > 64 {
				t.Fatalf("unbounded error text")
			}
		default:
			t.Fatalf("kind %d", msg.kind)
		}
		if msg.kind != kindReturn && msg.kind != kindError && msg.id != "" {
			t.Fatalf("id on a %d", msg.kind)
		}
	})
}

func FuzzReadLine(f *testing.F) {
	f.Add([]byte("abc\n"), 4)
	f.Add([]byte("abc"), 1)
	f.Fuzz(func(t *testing.T, data []byte, size int) {
		if size < 16 {
			size = 16
		}
		r := bufio.NewReaderSize(strings.NewReader(string(data)), size%4096+16)
		line, err := readLine(r)
		if err == nil && (len(line) > MaxLine || strings.ContainsAny(string(line), "\n")) {
			t.Fatalf("line of %d bytes with a newline or too long", len(line))
		}
	})
}
