package appliance

import (
	"bytes"
	"context"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/guestinject/guestinject/internal/accel"
)

// consoleTail keeps the last bytes of the VM console, optionally logs
// each line, and watches every line, from the first, for QEMU's report
// that KVM cannot run the guest. It never blocks the writer, so the
// console is always drained.
type consoleTail struct {
	mu         sync.Mutex
	buf        []byte
	written    time.Time // last write
	max        int
	log        *slog.Logger
	line       []byte        // partial line
	kvmFailed  chan struct{} // closed at the first KVM failure line
	kvmFailure string        // that line
}

func newConsoleTail(max int, log *slog.Logger) *consoleTail {
	return &consoleTail{max: max, log: log, kvmFailed: make(chan struct{})}
}

func (c *consoleTail) Write(p []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.written = time.Now()
	c.buf = append(c.buf, p...)
	if over := len(c.buf) - c.max; over > 0 {
		c.buf = append(c.buf[:0], c.buf[over:]...)
	}
	logging := c.log != nil && c.log.Enabled(context.Background(), slog.LevelDebug)
	c.line = append(c.line, p...)
	for {
		i := bytes.IndexByte(c.line, '\n')
		if i < 0 {
			break
		}
		line := strings.TrimRight(string(c.line[:i]), "\r")
		if c.kvmFailure == "" && accel.FailureLine(line) {
			c.kvmFailure = strings.ToValidUTF8(line, "?")
			close(c.kvmFailed)
		}
		if logging {
			c.log.Debug("appliance console", "line", line)
		}
		c.line = c.line[i+1:]
	}
	if len(c.line) > c.max {
		c.line = c.line[:0]
	}
	return len(p), nil
}

// settle waits until nothing has been written for quiet, or for at most
// max: QEMU prints its register dump after the failure line.
func (c *consoleTail) settle(quiet, max time.Duration) {
	for end := time.Now().Add(max); time.Now().Before(end); time.Sleep(quiet / 4) {
		c.mu.Lock()
		idle := time.Since(c.written)
		c.mu.Unlock()
		if idle >= quiet {
			return
		}
	}
}

// failure returns the line that reported KVM's failure, or "".
func (c *consoleTail) failure() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.kvmFailure
}

// String returns the tail, with invalid UTF-8 replaced.
func (c *consoleTail) String() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return strings.ToValidUTF8(string(c.buf), "?")
}
