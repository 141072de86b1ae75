package imagecheck

import (
	"context"
	"errors"
	"fmt"
	"io"
)

// MaxBytesRead bounds the bytes Inspect reads from any image.
const MaxBytesRead = 4 << 20

const pageSize = 4096

// errShort reports a read that would cross the end of the image.
var errShort = errors.New("read past end of image")

// source reads an image through a page cache, counting and capping the
// bytes read from the underlying reader.
type source struct {
	r     io.ReaderAt
	size  int64
	limit int64
	read  int64
	pages map[int64][]byte
}

func newSource(r io.ReaderAt, size int64) *source {
	return &source{r: r, size: size, limit: MaxBytesRead, pages: make(map[int64][]byte)}
}

// readAt returns exactly n bytes at off, or errShort if the range is not
// entirely inside the image.
func (s *source) readAt(ctx context.Context, off, n int64) ([]byte, error) {
	if off < 0 || n < 0 || off > s.size || n > s.size-off {
		return nil, errShort
	}
	if n > s.limit {
		return nil, ErrReadLimit
	}
	if err := s.fill(ctx, off, n); err != nil {
		return nil, err
	}
	out := make([]byte, n)
	for done := int64(0); done < n; {
		p := (off + done) / pageSize
		in := (off + done) % pageSize
		c := copy(out[done:], s.pages[p][in:])
		done += int64(c)
	}
	return out, nil
}

// readPadded reads n bytes at off, padding with zeros past the end of the
// image, as QEMU's file driver does for probe reads.
func (s *source) readPadded(ctx context.Context, off, n int64) ([]byte, error) {
	avail := max(0, min(n, s.size-off))
	b, err := s.readAt(ctx, off, avail)
	if err != nil {
		return nil, err
	}
	out := make([]byte, n)
	copy(out, b)
	return out, nil
}

// fill makes sure every page overlapping [off, off+n) is cached.
func (s *source) fill(ctx context.Context, off, n int64) error {
	if n == 0 {
		return nil
	}
	first, last := off/pageSize, (off+n-1)/pageSize
	for p := first; p <= last; {
		if _, ok := s.pages[p]; ok {
			p++
			continue
		}
		q := p
		for q+1 <= last {
			if _, ok := s.pages[q+1]; ok {
				break
			}
			q++
		}
		if err := s.load(ctx, p, q); err != nil {
			return err
		}
		p = q + 1
	}
	return nil
}

// load reads pages p..q (inclusive) in one call.
func (s *source) load(ctx context.Context, p, q int64) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	start := p * pageSize
	end := min((q+1)*pageSize, s.size)
	if s.read+(end-start) > s.limit {
		return fmt.Errorf("%w: would read %d bytes", ErrReadLimit, s.read+(end-start))
	}
	buf := make([]byte, end-start)
	k, err := s.r.ReadAt(buf, start)
	s.read += int64(k)
	if k < len(buf) {
		if err == nil || errors.Is(err, io.EOF) {
			return fmt.Errorf("imagecheck: short read at %d: image shorter than its stated size", start+int64(k))
		}
		return fmt.Errorf("imagecheck: reading image at %d: %w", start, err)
	}
	// Pages share buf; only the last page of the image may be short, and
	// readAt never asks for bytes past the end.
	for i := p; i <= q; i++ {
		lo := (i - p) * pageSize
		s.pages[i] = buf[lo:min(lo+pageSize, int64(len(buf)))]
	}
	return nil
}
