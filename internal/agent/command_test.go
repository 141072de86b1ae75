package agent_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/guestinject/guestinject/internal/agent"
	"github.com/guestinject/guestinject/internal/wire"
	"github.com/guestinject/guestinject/vfs"
	"github.com/guestinject/guestinject/vfs/memfs"
)

// TestRunOverWire: a command reaches the Run hook with its limits set,
// and its result reaches the host; without the hook the agent refuses
// it, and a refusal keeps its sentinel.
func TestRunOverWire(t *testing.T) {
	ctx := context.Background()
	var got vfs.Command
	c := overWireHooks(t, memfs.New(), agent.Hooks{Run: func(ctx context.Context, cmd vfs.Command) (*wire.CommandResult, error) {
		got = cmd
		if cmd.Shell == "refuse" {
			return nil, vfs.ErrCannotRun
		}
		return &wire.CommandResult{Exit: 2, Output: []byte("hello"), Dropped: 7, DurationMS: 3}, nil
	}})
	res, err := c.RunCommand(ctx, vfs.Command{Shell: "echo hello", Timeout: time.Minute, MaxOutput: 5})
	if err != nil {
		t.Fatal(err)
	}
	if res.ExitStatus != 2 || string(res.Output) != "hello" || res.Dropped != 7 {
		t.Errorf("result %+v", res)
	}
	if got.Shell != "echo hello" || got.Timeout != time.Minute || got.MaxOutput != 5 || got.MaxProcs != vfs.DefaultCommandProcs {
		t.Errorf("the hook got %+v", got)
	}
	if _, err := c.RunCommand(ctx, vfs.Command{Shell: "refuse"}); !errors.Is(err, vfs.ErrCannotRun) {
		t.Errorf("refusal: %v", err)
	}

	plain := overWire(t, memfs.New())
	if _, err := plain.RunCommand(ctx, vfs.Command{Shell: "true"}); !errors.Is(err, vfs.ErrNotSupported) {
		t.Errorf("without a Run hook: %v", err)
	}
}
