package agent_test

import (
	"bytes"
	"context"
	"io"
	"testing"

	"github.com/guestinject/guestinject/internal/inroot"
	"github.com/guestinject/guestinject/vfs"
)

// BenchmarkWireWriteRead measures the protocol's cost for a 4 MiB file
// written and read back through the agent over an in-memory pipe.
func BenchmarkWireWriteRead(b *testing.B) {
	root, err := inroot.Open(b.TempDir())
	if err != nil {
		b.Fatal(err)
	}
	c := overWire(b, root)
	ctx := context.Background()
	data := bytes.Repeat([]byte("guestinject "), (4<<20)/12)
	b.SetBytes(int64(2 * len(data)))
	for b.Loop() {
		if err := c.WriteFile(ctx, "/file", bytes.NewReader(data), vfs.WriteOptions{Perm: 0o644, UID: -1, GID: -1}); err != nil {
			b.Fatal(err)
		}
		f, err := c.Open(ctx, "/file")
		if err != nil {
			b.Fatal(err)
		}
		n, err := io.Copy(io.Discard, f)
		f.Close()
		if err != nil || n != int64(len(data)) {
			b.Fatalf("read back %d bytes: %v", n, err)
		}
	}
}

// BenchmarkWireStat measures one small round trip.
func BenchmarkWireStat(b *testing.B) {
	root, err := inroot.Open(b.TempDir())
	if err != nil {
		b.Fatal(err)
	}
	c := overWire(b, root)
	ctx := context.Background()
	for b.Loop() {
		if _, err := c.Stat(ctx, "/"); err != nil {
			b.Fatal(err)
		}
	}
}
