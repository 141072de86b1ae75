package wire

import (
	"context"
	"io/fs"
	"time"

	"github.com/guestinject/guestinject/internal/guestabi"
	"github.com/guestinject/guestinject/vfs"
)

// Command is a vfs.Command in transit, its limits set.
type Command struct {
	Shell     string `json:"shell,omitempty"`
	Script    []byte `json:"script,omitempty"`
	TimeoutMS int64  `json:"timeout_ms"`
	MaxOutput int    `json:"max_output"`
	MaxProcs  int    `json:"max_procs"`
}

// CommandFrom converts c, whose limits are set (vfs.Command.WithDefaults),
// for transit.
func CommandFrom(c vfs.Command) *Command {
	return &Command{Shell: c.Shell, Script: c.Script, TimeoutMS: c.Timeout.Milliseconds(), MaxOutput: c.MaxOutput, MaxProcs: c.MaxProcs}
}

// VFS returns the command as the agent runs it, checked as the host
// checks a caller's: the agent trusts the host, but a command it cannot
// bound is refused rather than run without a bound.
func (c *Command) VFS() (vfs.Command, error) {
	vc := vfs.Command{Shell: c.Shell, Script: c.Script, Timeout: time.Duration(c.TimeoutMS) * time.Millisecond, MaxOutput: c.MaxOutput, MaxProcs: c.MaxProcs}
	if c.TimeoutMS <= 0 || c.MaxOutput <= 0 || c.MaxProcs <= 0 {
		return vc, protocolErr("command without its limits")
	}
	return vc.WithDefaults()
}

// CommandResult is a vfs.CommandResult in transit.
type CommandResult struct {
	Exit       int    `json:"exit"`
	Signal     int    `json:"signal,omitempty"`
	TimedOut   bool   `json:"timed_out,omitempty"`
	Output     []byte `json:"output,omitempty"`
	Dropped    int64  `json:"dropped,omitempty"`
	DurationMS int64  `json:"duration_ms"`
}

// maxSignal is the highest Linux signal number.
const maxSignal = 64

// maxDuration bounds the run time an answer may claim, far above any
// command's time limit, so that it converts to a time.Duration.
const maxDuration = 24 * time.Hour

// Check validates a result from the agent for a command that asked for
// at most maxOutput bytes of output: an exit status of a process (-1 when
// killed), a signal number, no more output than asked for, and no
// negative count.
func (r *CommandResult) Check(maxOutput int) error {
	switch {
	case r.Exit < -1 || r.Exit > 255:
		return protocolErr("bad exit status %d", r.Exit)
	case r.Signal < 0 || r.Signal > maxSignal:
		return protocolErr("bad signal %d", r.Signal)
	case (r.Signal != 0 || r.TimedOut) && r.Exit != -1:
		return protocolErr("a killed command with exit status %d", r.Exit)
	case len(r.Output) > maxOutput || len(r.Output) > guestabi.MaxCommandOutput:
		return protocolErr("%d bytes of output, %d asked for", len(r.Output), maxOutput)
	case r.Dropped < 0 || r.DurationMS < 0:
		return protocolErr("negative count")
	case r.DurationMS > maxDuration.Milliseconds():
		return protocolErr("a command that ran %d ms", r.DurationMS)
	}
	return nil
}

// VFS returns the result as a vfs.CommandResult.
func (r *CommandResult) VFS() *vfs.CommandResult {
	return &vfs.CommandResult{ExitStatus: r.Exit, Signal: r.Signal, TimedOut: r.TimedOut, Output: r.Output, Dropped: r.Dropped,
		Duration: time.Duration(r.DurationMS) * time.Millisecond}
}

// RunCommand implements vfs.CommandFS: the agent runs c and answers when
// it has ended. ctx should outlast c's timeout, which the agent enforces.
// The answer is checked (CommandResult.Check); one that fails breaks the
// connection.
func (c *Client) RunCommand(ctx context.Context, cmd vfs.Command) (*vfs.CommandResult, error) {
	cmd, err := cmd.WithDefaults()
	if err != nil {
		return nil, &fs.PathError{Op: "run", Path: "/", Err: err}
	}
	resp, _, err := c.call(ctx, "run", "/", &Request{Op: OpRun, Name: "/", Command: CommandFrom(cmd)}, nil, 0)
	if err != nil {
		return nil, err
	}
	if resp.Command == nil {
		return nil, c.badAnswer("run", "/", "no command result")
	}
	if err := resp.Command.Check(cmd.MaxOutput); err != nil {
		return nil, c.badAnswer("run", "/", err.Error())
	}
	return resp.Command.VFS(), nil
}

var _ vfs.CommandFS = (*Client)(nil)
