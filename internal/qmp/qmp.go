package qmp

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"strconv"
	"sync"
	"time"

	"golang.org/x/sys/unix"
)

// MaxLine bounds one message from QEMU. Answers to the commands this
// package is used for are a few hundred bytes; query commands on a busy
// VM stay well below this.
const MaxLine = 1 << 20

// ErrClosed means the monitor connection is closed or QEMU hung up.
var ErrClosed = errors.New("qmp: monitor closed")

// ErrProtocol means QEMU sent something that is not QMP.
var ErrProtocol = errors.New("qmp: protocol error")

// Error is a command QEMU refused: its error class and description.
type Error struct {
	Command string
	Class   string
	Desc    string
}

func (e *Error) Error() string {
	return fmt.Sprintf("qmp: %s: %s: %s", e.Command, e.Class, e.Desc)
}

// Pair makes a connected unix stream socket pair: the host's end, and
// the end to hand to QEMU as an inherited descriptor
// (-chardev socket,id=qmp,fd=N -mon chardev=qmp,mode=control). Neither
// end has a name in the filesystem, so no other process can reach the
// monitor. The caller closes qemuEnd once QEMU has started.
func Pair() (host *net.UnixConn, qemuEnd *os.File, err error) {
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, nil, fmt.Errorf("qmp: socketpair: %w", err)
	}
	hf := os.NewFile(uintptr(fds[0]), "qmp-host")
	defer hf.Close()
	qemuEnd = os.NewFile(uintptr(fds[1]), "qmp-qemu")
	c, err := net.FileConn(hf)
	if err != nil {
		qemuEnd.Close()
		return nil, nil, fmt.Errorf("qmp: %w", err)
	}
	return c.(*net.UnixConn), qemuEnd, nil
}

// Monitor is a QMP connection in command mode. Its methods are safe for
// concurrent use.
type Monitor struct {
	conn *net.UnixConn

	wmu sync.Mutex // one command on the wire at a time (its descriptor goes with it)

	mu      sync.Mutex
	nextID  uint64
	waiting map[string]chan message
	err     error // why reading stopped; set before done closes
	done    chan struct{}
}

// Connect reads QEMU's greeting from conn, negotiates capabilities (none
// are asked for) and returns the monitor in command mode. ctx bounds the
// negotiation only. The Monitor owns conn.
func Connect(ctx context.Context, conn *net.UnixConn) (*Monitor, error) {
	m := &Monitor{conn: conn, waiting: map[string]chan message{}, done: make(chan struct{})}
	stop := context.AfterFunc(ctx, func() { conn.Close() })
	defer stop()
	r := bufio.NewReaderSize(conn, 4096)
	line, err := readLine(r)
	if err != nil {
		conn.Close()
		return nil, fmt.Errorf("qmp: reading the greeting: %w", ctxErr(ctx, err))
	}
	msg, err := decodeMessage(line)
	if err != nil || msg.kind != kindGreeting {
		conn.Close()
		return nil, fmt.Errorf("%w: expected a greeting, got %.100q", ErrProtocol, line)
	}
	go m.read(r)
	if err := m.Execute(ctx, "qmp_capabilities", nil, nil); err != nil {
		m.Close()
		return nil, err
	}
	return m, nil
}

func ctxErr(ctx context.Context, err error) error {
	if ctx.Err() != nil {
		return fmt.Errorf("%w (%v)", ctx.Err(), err)
	}
	return err
}

// Close closes the connection; pending calls fail with ErrClosed.
func (m *Monitor) Close() error {
	err := m.conn.Close()
	<-m.done
	return err
}

// Execute runs command with args (nil for none) and decodes its return
// value into result (nil to ignore it). files, when given, travel with
// the command as SCM_RIGHTS, as add-fd and getfd want; they are not
// closed. A refusal is an *Error. When ctx ends first, Execute returns
// its error; QEMU may still run the command. (An error QEMU sends for a
// line it could not parse carries no id and reaches no caller; commands
// made here always parse.)
func (m *Monitor) Execute(ctx context.Context, command string, args any, result any, files ...*os.File) error {
	m.mu.Lock()
	if m.err != nil {
		err := m.err
		m.mu.Unlock()
		return err
	}
	m.nextID++
	id := strconv.FormatUint(m.nextID, 10)
	ch := make(chan message, 1)
	m.waiting[id] = ch
	m.mu.Unlock()
	defer func() {
		m.mu.Lock()
		delete(m.waiting, id)
		m.mu.Unlock()
	}()

	req := map[string]any{"execute": command, "id": id}
	if args != nil {
		req["arguments"] = args
	}
	b, err := json.Marshal(req)
	if err != nil {
		return fmt.Errorf("qmp: %s: %w", command, err)
	}
	b = append(b, '\n')
	if err := m.write(ctx, b, files); err != nil {
		return fmt.Errorf("qmp: %s: %w", command, err)
	}
	select {
	case msg := <-ch:
		if msg.kind == kindError {
			return &Error{Command: command, Class: msg.errClass, Desc: msg.errDesc}
		}
		if result != nil {
			if err := json.Unmarshal(msg.ret, result); err != nil {
				return fmt.Errorf("%w: %s: return value: %v", ErrProtocol, command, err)
			}
		}
		return nil
	case <-m.done:
		return fmt.Errorf("qmp: %s: %w", command, m.err)
	case <-ctx.Done():
		return fmt.Errorf("qmp: %s: %w", command, ctx.Err())
	}
}

func (m *Monitor) write(ctx context.Context, b []byte, files []*os.File) error {
	m.wmu.Lock()
	defer m.wmu.Unlock()
	if dl, ok := ctx.Deadline(); ok {
		m.conn.SetWriteDeadline(dl)
		defer m.conn.SetWriteDeadline(time.Time{})
	}
	var oob []byte
	if len(files) > 0 {
		fds := make([]int, len(files))
		for i, f := range files {
			fds[i] = int(f.Fd())
		}
		oob = unix.UnixRights(fds...)
	}
	// The descriptors go with the first bytes; the rest of a long
	// command follows as ordinary data.
	n, _, err := m.conn.WriteMsgUnix(b, oob, nil)
	for err == nil && n < len(b) {
		var k int
		k, err = m.conn.Write(b[n:])
		n += k
	}
	if errors.Is(err, net.ErrClosed) || errors.Is(err, unix.EPIPE) || errors.Is(err, unix.ECONNRESET) {
		// The connection is gone, and the reader is about to say why:
		// QEMU hung up, or Close ran.
		select {
		case <-m.done:
			return m.err
		case <-ctx.Done():
		}
	}
	return err
}

// read dispatches QEMU's messages until the connection fails.
func (m *Monitor) read(r *bufio.Reader) {
	err := func() error {
		for {
			line, err := readLine(r)
			if errors.Is(err, io.EOF) || errors.Is(err, net.ErrClosed) {
				return ErrClosed
			}
			if err != nil {
				if errors.Is(err, ErrProtocol) {
					return err
				}
				return fmt.Errorf("%w: %v", ErrClosed, err)
			}
			msg, err := decodeMessage(line)
			if err != nil {
				return err
			}
			switch msg.kind {
			case kindEvent:
				// Nothing here waits for events: QEMU sends them
				// unasked, and they are dropped.
			case kindReturn, kindError:
				m.mu.Lock()
				ch := m.waiting[msg.id]
				m.mu.Unlock()
				if ch != nil {
					ch <- msg
				}
				// An answer nobody waits for belongs to a call whose
				// context ended.
			default:
				return fmt.Errorf("%w: unexpected %.100q", ErrProtocol, line)
			}
		}
	}()
	m.mu.Lock()
	m.err = err
	m.mu.Unlock()
	m.conn.Close()
	close(m.done)
}

// readLine reads one line, at most MaxLine bytes before its newline.
func readLine(r *bufio.Reader) ([]byte, error) {
	var line []byte
	for {
		chunk, err := r.ReadSlice('\n')
		if len(line)+len(chunk) > MaxLine+1 {
			return nil, fmt.Errorf("%w: message longer than %d bytes", ErrProtocol, MaxLine)
		}
		line = append(line, chunk...)
		switch {
		case err == nil:
			return bytes.TrimRight(line, "\r\n"), nil
		case errors.Is(err, bufio.ErrBufferFull):
			continue
		default:
			return nil, err
		}
	}
}

type messageKind int

const (
	kindGreeting messageKind = iota + 1
	kindReturn
	kindError
	kindEvent
)

type message struct {
	kind              messageKind
	id                string
	ret               json.RawMessage
	errClass, errDesc string
}

// maxErrorText bounds what is kept of QEMU's error description.
const maxErrorText = 1024

// decodeMessage decodes one line from QEMU: a greeting, the answer to a
// command (return or error, with its id) or an event. Anything else, or
// a message that is two of those at once, is an ErrProtocol.
func decodeMessage(line []byte) (message, error) {
	var raw struct {
		QMP   json.RawMessage `json:"QMP"`
		Ret   json.RawMessage `json:"return"`
		Error *struct {
			Class string `json:"class"`
			Desc  string `json:"desc"`
		} `json:"error"`
		Event *string         `json:"event"`
		ID    json.RawMessage `json:"id"`
	}
	if err := json.Unmarshal(line, &raw); err != nil {
		return message{}, fmt.Errorf("%w: %v", ErrProtocol, err)
	}
	kinds := 0
	var msg message
	if raw.QMP != nil {
		kinds++
		msg.kind = kindGreeting
	}
	if raw.Ret != nil {
		kinds++
		msg.kind, msg.ret = kindReturn, raw.Ret
	}
	if raw.Error != nil {
		kinds++
		msg.kind, msg.errClass, msg.errDesc = kindError, clip(raw.Error.Class, 64), clip(raw.Error.Desc, maxErrorText)
	}
	if raw.Event != nil {
		kinds++
		msg.kind = kindEvent
	}
	if kinds != 1 {
		return message{}, fmt.Errorf("%w: a message of %d kinds", ErrProtocol, kinds)
	}
	if msg.kind == kindReturn || msg.kind == kindError {
		// Commands are sent with string ids; an error about a command
		// QEMU could not parse carries none.
		if raw.ID != nil {
			if err := json.Unmarshal(raw.ID, &msg.id); err != nil {
				return message{}, fmt.Errorf("%w: id: %v", ErrProtocol, err)
			}
		}
	}
	return msg, nil
}

func clip(s string, n int) string {
	if len(s) > n {
		return s[:n]
	}
	return s
}
