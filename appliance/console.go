package appliance

import (
	"bytes"
	"context"
	"log/slog"
	"strings"
	"sync"
)

// consoleTail keeps the last bytes of the VM console, and optionally logs
// each line. It never blocks the writer, so the console is always drained.
type consoleTail struct {
	mu   sync.Mutex
	buf  []byte
	max  int
	log  *slog.Logger
	line []byte // partial line for the logger
}

func newConsoleTail(max int, log *slog.Logger) *consoleTail {
	return &consoleTail{max: max, log: log}
}

func (c *consoleTail) Write(p []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.buf = append(c.buf, p...)
	if over := len(c.buf) - c.max; over > 0 {
		c.buf = append(c.buf[:0], c.buf[over:]...)
	}
	if c.log != nil && c.log.Enabled(context.Background(), slog.LevelDebug) {
		c.line = append(c.line, p...)
		for {
			i := bytes.IndexByte(c.line, '\n')
			if i < 0 {
				break
			}
			c.log.Debug("appliance console", "line", strings.TrimRight(string(c.line[:i]), "\r"))
			c.line = c.line[i+1:]
		}
		if len(c.line) > c.max {
			c.line = c.line[:0]
		}
	}
	return len(p), nil
}

// String returns the tail, with invalid UTF-8 replaced.
func (c *consoleTail) String() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return strings.ToValidUTF8(string(c.buf), "?")
}
