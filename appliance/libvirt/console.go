package libvirt

import (
	"io"
	"os"
)

// logTail copies what the domain appends to its console log file (written
// by virtlogd or QEMU) to a writer. drain copies what is there now; the
// watcher calls it on every poll, so the writer lags by a poll interval.
type logTail struct {
	path string
	f    *os.File
	w    io.Writer
	buf  []byte
}

func newLogTail(path string, w io.Writer) *logTail {
	if w == nil {
		w = io.Discard
	}
	return &logTail{path: path, w: w, buf: make([]byte, 32<<10)}
}

func (t *logTail) drain() {
	if t.f == nil {
		f, err := os.Open(t.path)
		if err != nil {
			return // not created yet
		}
		t.f = f
	}
	for {
		n, err := t.f.Read(t.buf)
		if n > 0 {
			t.w.Write(t.buf[:n])
		}
		if err != nil || n == 0 {
			return
		}
	}
}

func (t *logTail) close() {
	if t.f != nil {
		t.f.Close()
	}
}
