package agent_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/guestinject/guestinject/internal/agent"
	"github.com/guestinject/guestinject/internal/guestabi"
	"github.com/guestinject/guestinject/internal/wire"
	"github.com/guestinject/guestinject/vfs"
)

// Without a guest root the agent still answers Inspect, and the host
// must learn why there is no filesystem from its first call.
func TestNoRootOverWire(t *testing.T) {
	const why = "no Linux filesystem found"
	c := overWireHooks(t, nil, agent.Hooks{Inspect: func(context.Context) *wire.Inspection {
		return &wire.Inspection{Problem: guestabi.ProblemNoRoot, Message: why, Root: -1}
	}})
	ctx := context.Background()
	in, err := c.Inspect(ctx)
	if err != nil || in.Problem != guestabi.ProblemNoRoot {
		t.Fatalf("Inspect = %+v, %v; want the problem", in, err)
	}
	_, err = c.Stat(ctx, "/")
	if !errors.Is(err, vfs.ErrIO) || !strings.Contains(err.Error(), why) || !strings.Contains(err.Error(), "no guest root") {
		t.Fatalf("Stat = %v, want ErrIO naming the reason", err)
	}
	if err := c.WriteFile(ctx, "/etc/x", strings.NewReader("data"), vfs.WriteOptions{Perm: 0o644}); !errors.Is(err, vfs.ErrIO) {
		t.Fatalf("WriteFile = %v, want ErrIO", err)
	}
	if _, err := c.Lgetxattr(ctx, "/etc", "security.selinux"); !errors.Is(err, vfs.ErrIO) {
		t.Fatalf("Lgetxattr = %v, want ErrIO", err)
	}
	if err := c.Symlink(ctx, "/x", "/y"); !errors.Is(err, vfs.ErrIO) {
		t.Fatalf("Symlink = %v, want ErrIO", err)
	}
	if _, err := c.Stat(ctx, "/"); !errors.Is(err, vfs.ErrIO) {
		t.Fatalf("second Stat = %v: the connection must stay usable", err)
	}
	if err := c.Sync(ctx); err != nil {
		t.Fatalf("Sync = %v: it needs no root", err)
	}
	if err := c.Shutdown(ctx); err != nil {
		t.Fatalf("Shutdown = %v: it needs no root", err)
	}
}

// Without an Inspect hook the refusal still says there is no root.
func TestNoRootWithoutInspection(t *testing.T) {
	c := overWire(t, nil)
	_, err := c.ReadDir(context.Background(), "/etc")
	if !errors.Is(err, vfs.ErrIO) || !strings.Contains(err.Error(), "no guest root") {
		t.Fatalf("ReadDir = %v, want ErrIO saying there is no root", err)
	}
}
