package agent_test

import (
	"bytes"
	"context"
	"io"
	"testing"

	"github.com/guestinject/guestinject/internal/agent"
	"github.com/guestinject/guestinject/internal/inroot"
	"github.com/guestinject/guestinject/internal/wire"
)

// hostScript is what a host sends: hello, then frames.
type hostScript struct{ r io.Reader }

func (h *hostScript) Read(p []byte) (int, error)  { return h.r.Read(p) }
func (h *hostScript) Write(p []byte) (int, error) { return len(p), nil }

func frames(t testing.TB, parts ...func(w *wire.Writer) error) []byte {
	var b bytes.Buffer
	w := wire.NewWriter(&b)
	for _, p := range parts {
		if err := p(w); err != nil {
			t.Fatal(err)
		}
	}
	return b.Bytes()
}

func req(id uint32, r wire.Request) func(*wire.Writer) error {
	return func(w *wire.Writer) error { return w.WriteJSON(wire.FrameRequest, id, r) }
}

// FuzzServe feeds the agent arbitrary host frames after a valid hello:
// it must never panic or hang, whatever arrives.
func FuzzServe(f *testing.F) {
	hello := frames(f, func(w *wire.Writer) error {
		return w.WriteJSON(wire.FrameHello, 0, wire.Hello{Versions: []int{wire.Version}})
	})
	f.Add(frames(f, req(1, wire.Request{Op: wire.OpStat, Name: "/"})))
	f.Add(frames(f, req(1, wire.Request{Op: wire.OpWriteFile, Name: "/f", Mode: 0o644, UID: -1, GID: -1}),
		func(w *wire.Writer) error { return w.Write(wire.FrameData, 1, []byte("data")) },
		func(w *wire.Writer) error { return w.Write(wire.FrameDataEnd, 1, nil) }))
	f.Add(frames(f, req(1, wire.Request{Op: wire.OpOpen, Name: "/f"}), req(2, wire.Request{Op: wire.OpRead, Handle: 1, Size: 10})))
	// An upload, then Opens with a first chunk of every kind of size.
	f.Add(frames(f, req(1, wire.Request{Op: wire.OpWriteFile, Name: "/f", Mode: 0o644, UID: -1, GID: -1}),
		func(w *wire.Writer) error { return w.Write(wire.FrameData, 1, []byte("data")) },
		func(w *wire.Writer) error { return w.Write(wire.FrameDataEnd, 1, nil) },
		req(2, wire.Request{Op: wire.OpOpen, Name: "/f", Size: wire.FirstChunkSize}),
		req(3, wire.Request{Op: wire.OpOpen, Name: "/f", Size: 2}),
		req(4, wire.Request{Op: wire.OpRead, Handle: 1, Size: 10}),
		req(5, wire.Request{Op: wire.OpOpen, Name: "/f", Size: -1}),
		req(6, wire.Request{Op: wire.OpOpen, Name: "/f", Size: 1 << 62}),
		req(7, wire.Request{Op: wire.OpCloseFile, Handle: 1})))
	f.Add(frames(f, req(1, wire.Request{Op: wire.OpInspect, Name: "/"}), req(2, wire.Request{Op: wire.OpInspect})))
	f.Add(frames(f, req(1, wire.Request{Op: wire.OpMkdirAll, Name: "/a/b", Mode: 0o755}), func(w *wire.Writer) error { return w.Write(wire.FrameCancel, 1, nil) }))
	f.Add(frames(f, req(1, wire.Request{Op: wire.OpLchtimes, Name: "/", Atime: &wire.Timespec{Sec: 1, Nsec: 2}, Mtime: &wire.Timespec{Sec: -1 << 62, Nsec: 999999999}})))
	inspection := &wire.Inspection{Root: 0, OS: wire.OSInfo{ID: "debian"},
		Filesystems: []wire.Filesystem{{Device: "/dev/vda", Type: "ext4", MountPoint: "/"}}}
	root, err := inroot.Open(f.TempDir())
	if err != nil {
		f.Fatal(err)
	}
	defer root.Close()
	f.Fuzz(func(t *testing.T, script []byte) {
		conn := &hostScript{r: io.MultiReader(bytes.NewReader(hello), bytes.NewReader(script))}
		done := make(chan struct{})
		go func() {
			defer close(done)
			_ = agent.Serve(context.Background(), conn, root, agent.Hooks{Inspect: func(context.Context) *wire.Inspection { return inspection }})
		}()
		<-done
	})
}
