package wire

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
)

// Version is the protocol version this package speaks. Version 2 added
// OpRename, version 3 OpLchtimes and FileInfo.Atime, version 4 OpRun and
// CodeCannotRun, version 5 the first chunk of a file in the answer to
// OpOpen, version 6 OpLstatMany; the Hello exchange refuses a peer of
// another version, so a host never promises vfs.RenameFS, vfs.TimesFS,
// vfs.CommandFS or vfs.LstatManyFS over an agent that lacks it, nor counts
// on an Open answer it would not send.
const Version = 6

// Limits that bound what a peer can make the other side allocate.
const (
	// MaxPayload bounds any frame's payload.
	MaxPayload = 4 << 20
	// ChunkSize bounds the payload of a Data frame.
	ChunkSize = 256 << 10
	// FirstChunkSize is how much of a file the host asks OpOpen to send
	// with its answer: every configuration file a plan reads fits, so
	// reading one whole is a single round trip, and an Open of a large
	// file that is only partly read costs little more.
	FirstChunkSize = 64 << 10
	// MaxDirEntries bounds the entries of one ReadDir answer.
	MaxDirEntries = 1 << 16
	// headerSize is the length, type and id.
	headerSize = 9
)

// FrameType says what a frame's payload is.
type FrameType uint8

// Frame types.
const (
	FrameHello    FrameType = iota + 1 // JSON Hello, both ways, first
	FrameRequest                       // JSON Request, host to agent
	FrameResponse                      // JSON Response, agent to host
	FrameData                          // raw bytes, either way
	FrameDataEnd                       // empty, host to agent: the upload of the id is complete
	FrameCancel                        // empty: stop the request of the id
)

func (t FrameType) String() string {
	switch t {
	case FrameHello:
		return "hello"
	case FrameRequest:
		return "request"
	case FrameResponse:
		return "response"
	case FrameData:
		return "data"
	case FrameDataEnd:
		return "data-end"
	case FrameCancel:
		return "cancel"
	}
	return fmt.Sprintf("frame-type-%d", uint8(t))
}

// ErrProtocol is wrapped by every error that means the peer broke the
// protocol; the connection is then unusable.
var ErrProtocol = errors.New("wire protocol violation")

func protocolErr(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrProtocol, fmt.Sprintf(format, args...))
}

// Frame is one decoded frame. Payload is only valid until the next read
// from the same Reader.
type Frame struct {
	Type    FrameType
	ID      uint32
	Payload []byte
}

// Reader reads frames, reusing one buffer.
type Reader struct {
	r   io.Reader
	hdr [headerSize]byte
	buf []byte
}

// NewReader returns a Reader of frames from r.
func NewReader(r io.Reader) *Reader { return &Reader{r: r} }

// Next reads the next frame. A payload over MaxPayload, a Data frame over
// ChunkSize, a non-empty DataEnd or Cancel, or an unknown type is
// ErrProtocol; nothing is allocated for it.
func (r *Reader) Next() (Frame, error) {
	if _, err := io.ReadFull(r.r, r.hdr[:]); err != nil {
		if errors.Is(err, io.ErrUnexpectedEOF) {
			return Frame{}, protocolErr("truncated frame header")
		}
		return Frame{}, err
	}
	n := binary.BigEndian.Uint32(r.hdr[0:4])
	f := Frame{Type: FrameType(r.hdr[4]), ID: binary.BigEndian.Uint32(r.hdr[5:9])}
	switch {
	case f.Type < FrameHello || f.Type > FrameCancel:
		return Frame{}, protocolErr("unknown frame type %d", r.hdr[4])
	case n > MaxPayload:
		return Frame{}, protocolErr("%s frame of %d bytes exceeds %d", f.Type, n, MaxPayload)
	case f.Type == FrameData && n > ChunkSize:
		return Frame{}, protocolErr("data frame of %d bytes exceeds %d", n, ChunkSize)
	case (f.Type == FrameDataEnd || f.Type == FrameCancel) && n != 0:
		return Frame{}, protocolErr("%s frame with a payload", f.Type)
	}
	if cap(r.buf) < int(n) {
		r.buf = make([]byte, n)
	}
	f.Payload = r.buf[:n]
	if _, err := io.ReadFull(r.r, f.Payload); err != nil {
		if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
			return Frame{}, protocolErr("truncated %s frame", f.Type)
		}
		return Frame{}, err
	}
	return f, nil
}

// Writer writes frames. It is not safe for concurrent use; callers
// serialise whole frames.
type Writer struct {
	w   io.Writer
	buf []byte
}

// NewWriter returns a Writer of frames to w.
func NewWriter(w io.Writer) *Writer { return &Writer{w: w} }

// Write sends one frame with a raw payload.
func (w *Writer) Write(t FrameType, id uint32, payload []byte) error {
	if len(payload) > MaxPayload || (t == FrameData && len(payload) > ChunkSize) {
		return fmt.Errorf("wire: %s frame of %d bytes is too large", t, len(payload))
	}
	w.buf = append(w.buf[:0], make([]byte, headerSize)...)
	binary.BigEndian.PutUint32(w.buf[0:4], uint32(len(payload)))
	w.buf[4] = byte(t)
	binary.BigEndian.PutUint32(w.buf[5:9], id)
	w.buf = append(w.buf, payload...)
	_, err := w.w.Write(w.buf)
	return err
}

// WriteJSON sends one frame whose payload is v as JSON.
func (w *Writer) WriteJSON(t FrameType, id uint32, v any) error {
	data, err := json.Marshal(v)
	if err != nil {
		return err
	}
	return w.Write(t, id, data)
}

// Decode decodes a JSON payload into v, refusing unknown fields and
// trailing data.
func Decode(payload []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(payload))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return protocolErr("bad payload: %v", err)
	}
	if dec.More() {
		return protocolErr("trailing data after payload")
	}
	return nil
}
