package memfs

// content is the bytes of a regular file as runs of data, each followed by
// a hole of zeros, so that a sparse giant file costs only its data. A
// content value is never modified once a node holds it.
type content []extent

type extent struct {
	data []byte
	hole int64 // zero bytes after data
}

// newContent holds data followed by zeros up to size.
func newContent(data []byte, size int64) content {
	if len(data) == 0 && size == 0 {
		return nil
	}
	return content{{data: data, hole: max(size-int64(len(data)), 0)}}
}

func (c content) size() int64 {
	var n int64
	for _, e := range c {
		n += int64(len(e.data)) + e.hole
	}
	return n
}

// appended is c followed by data, sharing nothing that c's holders see
// change.
func (c content) appended(data []byte) content {
	if len(data) == 0 {
		return c
	}
	out := make(content, len(c), len(c)+1)
	copy(out, c)
	return append(out, extent{data: data})
}

// readAt fills p from offset off and returns how many bytes it filled,
// fewer than len(p) only at the end.
func (c content) readAt(p []byte, off int64) int {
	n := 0
	for _, e := range c {
		if len(p) == 0 {
			break
		}
		dataLen := int64(len(e.data))
		if off >= dataLen+e.hole {
			off -= dataLen + e.hole
			continue
		}
		if off < dataLen {
			k := copy(p, e.data[off:])
			p, n, off = p[k:], n+k, off+int64(k)
		}
		zeros := int(min(int64(len(p)), dataLen+e.hole-off))
		clear(p[:zeros])
		p, n, off = p[zeros:], n+zeros, 0
	}
	return n
}
