package imagecheck

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/guestinject/guestinject/internal/qemuimg"
)

// ErrResourceLimit is returned by Convert when qemu-img ran out of one of
// its ConvertLimits: CPU time, file size or wall time.
var ErrResourceLimit = errors.New("imagecheck: qemu-img exceeded its resource limits")

// errSourceChanged means the source was written to while it was converted.
var errSourceChanged = errors.New("changed while it was converted")

// ConvertLimits bounds the qemu-img process Convert runs. A zero or
// negative field takes its value from DefaultConvertLimits.
type ConvertLimits struct {
	AddressSpace int64         // bytes; RLIMIT_AS
	CPUSeconds   int64         // RLIMIT_CPU
	FileSize     int64         // bytes; RLIMIT_FSIZE: no file qemu-img writes may grow past it
	WallTime     time.Duration // from qemu-img's start to its exit
}

// DefaultConvertLimits returns the limits Convert applies to the
// conversion of an image of virtualSize bytes: 1 GiB of address space
// (qemu-img convert maps about 200 MiB), 10 s of CPU time and a second
// more per 64 MiB, an output of at most the virtual size plus 1/64 of it
// and 64 MiB (qcow2 metadata), and a minute of wall time and a second
// more per 16 MiB.
func DefaultConvertLimits(virtualSize int64) ConvertLimits {
	virtualSize = max(virtualSize, 0)
	return ConvertLimits{
		AddressSpace: 1 << 30,
		CPUSeconds:   10 + virtualSize>>26,
		FileSize:     virtualSize + virtualSize/64 + 64<<20,
		WallTime:     time.Minute + time.Duration(virtualSize>>24)*time.Second,
	}
}

func (l ConvertLimits) orDefault(virtualSize int64) ConvertLimits {
	d := DefaultConvertLimits(virtualSize)
	if l.AddressSpace <= 0 {
		l.AddressSpace = d.AddressSpace
	}
	if l.CPUSeconds <= 0 {
		l.CPUSeconds = d.CPUSeconds
	}
	if l.FileSize <= 0 {
		l.FileSize = d.FileSize
	}
	if l.WallTime <= 0 {
		l.WallTime = d.WallTime
	}
	return l
}

// ConvertOption configures Convert.
type ConvertOption func(*convertConfig)

type convertConfig struct {
	progress func(percent float64)
	limits   ConvertLimits
}

// WithProgress has Convert report qemu-img's progress to fn, as a
// percentage from 0 to 100 that never decreases. fn is called from a
// goroutine Convert starts, one call at a time, and never after Convert
// returns; while it runs qemu-img waits.
func WithProgress(fn func(percent float64)) ConvertOption {
	return func(c *convertConfig) { c.progress = fn }
}

// WithLimits replaces the limits of DefaultConvertLimits, field by field.
func WithLimits(l ConvertLimits) ConvertOption {
	return func(c *convertConfig) { c.limits = l }
}

// Convert converts the untrusted image at src, of the declared format,
// into a new image at dst of format to (Raw or QCOW2), and returns what
// Check found in the new image.
//
// The source must pass CheckFile under p (encryption is never allowed:
// there would be no key); the descriptor qemu-img reads is the one
// checked, so replacing src meanwhile changes nothing. dst is created
// with O_CREAT|O_EXCL, mode 0644 before the umask: an existing file, or
// a symlink, is never replaced nor written to.
//
// qemu-img convert runs under prlimit with the limits of WithLimits or
// DefaultConvertLimits and the wall time in addition to ctx. It is given
// no name it could resolve: the source is a json: specification naming
// the declared driver over the inherited descriptor, with no backing
// file, and the output is the created file's descriptor. A source
// modified during the conversion fails it.
//
// The new image is then checked as format to, with the source's virtual
// size, and nothing named inside it. On any failure, cancellation
// included, dst is removed (if it still is the file Convert created) and
// nil is returned with the error: a *RejectionError when the source or
// the output is refused, ErrResourceLimit when qemu-img ran out of its
// limits, ErrQEMUImgMissing, or an error from ctx or the file system
// (fs.ErrExist when dst exists).
func Convert(ctx context.Context, src string, declared Format, dst string, to Format, p Policy, opts ...ConvertOption) (*Info, error) {
	var c convertConfig
	for _, o := range opts {
		o(&c)
	}
	if to != Raw && to != QCOW2 {
		return nil, fmt.Errorf("imagecheck: cannot convert to %q: the output format is raw or qcow2", to)
	}
	p.AllowEncryption = false
	// CheckFile for the rules on names; the descriptor qemu-img inherits
	// is checked again below.
	if _, err := CheckFile(ctx, src, declared, p); err != nil {
		return nil, err
	}
	in, size, err := openImage(src)
	if err != nil {
		return nil, err
	}
	defer in.Close()
	before, err := in.Stat()
	if err != nil {
		return nil, err
	}
	srcInfo, err := Check(ctx, in, size, declared, p)
	if err != nil {
		var rej *RejectionError
		if errors.As(err, &rej) {
			rej.Path = src
		}
		return nil, err
	}
	out, err := os.OpenFile(dst, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o644)
	if err != nil {
		return nil, err
	}
	info, err := c.convert(ctx, in, before, srcInfo, src, declared, out, dst, to, p)
	if err == nil {
		err = out.Close()
	}
	if err != nil {
		removeCreated(out, dst)
		return nil, err
	}
	return info, nil
}

func (c *convertConfig) convert(ctx context.Context, in *os.File, before os.FileInfo, srcInfo *Info, src string, declared Format,
	out *os.File, dst string, to Format, p Policy) (*Info, error) {
	lim := c.limits.orDefault(srcInfo.VirtualSize)
	if err := c.run(ctx, in, out, src, declared, to, lim); err != nil {
		return nil, err
	}
	after, err := in.Stat()
	if err != nil {
		return nil, err
	}
	if after.Size() != before.Size() || !after.ModTime().Equal(before.ModTime()) {
		return nil, fmt.Errorf("imagecheck: %s: %w", src, errSourceChanged)
	}
	fi, err := out.Stat()
	if err != nil {
		return nil, err
	}
	outDeclared := to
	if to == Raw && declared == ISO {
		outDeclared = ISO
	}
	op := Policy{AllowedFormats: []Format{outDeclared}, MaxVirtualSize: srcInfo.VirtualSize, AllowISOHybrid: p.AllowISOHybrid}
	info, err := Check(ctx, out, fi.Size(), outDeclared, op)
	if err != nil {
		var rej *RejectionError
		if errors.As(err, &rej) {
			rej.Path = dst
		}
		return nil, fmt.Errorf("imagecheck: converting %s: the output is refused: %w", src, err)
	}
	if info.VirtualSize != srcInfo.VirtualSize || info.BackingFile != "" || info.DataFile != "" {
		return nil, &RejectionError{Reason: ReasonQEMUDisagrees, Format: declared, Path: src,
			Detail: fmt.Sprintf("qemu-img made a %s image of virtual size %d naming %q, the source has %d", to, info.VirtualSize, info.BackingFile+info.DataFile, srcInfo.VirtualSize)}
	}
	return info, nil
}

// sourceSpec names every node of the source for qemu-img: the declared
// driver over the file driver on name, and no backing file for formats
// that can have one.
func sourceSpec(declared Format, name string) string {
	spec := map[string]any{"driver": qemuFormatName(declared), "file": map[string]any{"driver": "file", "filename": name}}
	switch declared {
	case QCOW2, QED, VMDK:
		spec["backing"] = nil
	}
	j, _ := json.Marshal(spec)
	return "json:" + string(j)
}

// convertArgs is qemu-img's command line: the source inherited as the
// first descriptor, the output as the second.
func convertArgs(declared, to Format, progress bool) []string {
	args := []string{"convert"}
	if progress {
		args = append(args, "-p")
	}
	return append(args, "-O", string(to), sourceSpec(declared, qemuimg.FD(0)), qemuimg.FD(1))
}

var errWallTime = errors.New("wall time")

func (c *convertConfig) run(ctx context.Context, in, out *os.File, src string, declared, to Format, lim ConvertLimits) error {
	ctx, cancel := context.WithTimeoutCause(ctx, lim.WallTime, errWallTime)
	defer cancel()
	cmd, err := qemuimg.Command(ctx, "qemu-img", qemuimg.Limits{AddressSpace: lim.AddressSpace, CPUSeconds: lim.CPUSeconds, FileSize: lim.FileSize},
		[]*os.File{in, out}, convertArgs(declared, to, c.progress != nil)...)
	if err != nil {
		return fmt.Errorf("%w: %v", ErrQEMUImgMissing, err)
	}
	stderr := &headBuffer{max: 4096}
	cmd.Stderr = stderr
	if c.progress != nil {
		cmd.Stdout = &progressWriter{fn: c.progress, last: -1}
	}
	cmd.WaitDelay = 5 * time.Second
	err = cmd.Run()
	if err == nil {
		return nil
	}
	switch {
	case context.Cause(ctx) == errWallTime:
		return fmt.Errorf("%w: converting %s: wall time %s", ErrResourceLimit, src, lim.WallTime)
	case ctx.Err() != nil:
		return fmt.Errorf("imagecheck: converting %s: %w", src, ctx.Err())
	}
	ps := cmd.ProcessState
	switch {
	case ps != nil && ps.ExitCode() == -1 && ps.UserTime()+ps.SystemTime() >= time.Duration(lim.CPUSeconds)*time.Second:
		return fmt.Errorf("%w: converting %s: CPU time %d s", ErrResourceLimit, src, lim.CPUSeconds)
	case strings.Contains(stderr.String(), "File too large"):
		// qemu-img ignores SIGXFSZ: writing past RLIMIT_FSIZE fails with EFBIG.
		return fmt.Errorf("%w: converting %s: file size %d bytes: %s", ErrResourceLimit, src, lim.FileSize, strings.TrimSpace(stderr.String()))
	}
	return fmt.Errorf("imagecheck: qemu-img convert %s: %w: %s", src, err, strings.TrimSpace(stderr.String()))
}

// removeCreated closes and removes the file Convert created at dst,
// unless another file has taken its name since.
func removeCreated(out *os.File, dst string) {
	fi, ferr := out.Stat()
	out.Close()
	if li, err := os.Lstat(dst); ferr == nil && err == nil && os.SameFile(fi, li) {
		os.Remove(dst)
	}
}

// progressWriter reads qemu-img -p's "    (12.34/100%)\r" lines.
type progressWriter struct {
	fn   func(float64)
	line []byte
	last float64
}

func (w *progressWriter) Write(b []byte) (int, error) {
	for _, c := range b {
		switch {
		case c == '\r' || c == '\n':
			w.flush()
		case len(w.line) < 64:
			w.line = append(w.line, c)
		}
	}
	return len(b), nil
}

func (w *progressWriter) flush() {
	s := strings.TrimSpace(string(w.line))
	w.line = w.line[:0]
	s, ok := strings.CutPrefix(s, "(")
	if !ok {
		return
	}
	s, ok = strings.CutSuffix(s, "/100%)")
	if !ok {
		return
	}
	v, err := strconv.ParseFloat(s, 64)
	if err != nil || !(v >= 0 && v <= 100) || v <= w.last {
		return
	}
	w.last = v
	w.fn(v)
}

// headBuffer keeps the first max bytes written to it.
type headBuffer struct {
	b   []byte
	max int
}

func (h *headBuffer) Write(p []byte) (int, error) {
	if n := min(len(p), h.max-len(h.b)); n > 0 {
		h.b = append(h.b, p[:n]...)
	}
	return len(p), nil
}

func (h *headBuffer) String() string { return string(h.b) }
