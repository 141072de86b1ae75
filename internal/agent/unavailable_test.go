package agent_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/guestinject/guestinject/internal/agent"
	"github.com/guestinject/guestinject/vfs"
)

// The host must learn why the agent has no filesystem from its first call.
func TestUnavailableOverWire(t *testing.T) {
	c := overWire(t, agent.Unavailable(errors.New("no Linux filesystem found")))
	ctx := context.Background()
	_, err := c.Stat(ctx, "/")
	if !errors.Is(err, vfs.ErrIO) || !strings.Contains(err.Error(), "no Linux filesystem found") {
		t.Fatalf("Stat = %v, want ErrIO naming the reason", err)
	}
	if err := c.WriteFile(ctx, "/etc/x", strings.NewReader("data"), vfs.WriteOptions{Perm: 0o644}); !errors.Is(err, vfs.ErrIO) {
		t.Fatalf("WriteFile = %v, want ErrIO", err)
	}
	if _, err := c.Stat(ctx, "/"); !errors.Is(err, vfs.ErrIO) {
		t.Fatalf("second Stat = %v: the connection must stay usable", err)
	}
}
