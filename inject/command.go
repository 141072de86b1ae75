package inject

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"strings"
	"time"

	"github.com/guestinject/guestinject/vfs"
)

// RunCommand runs Command with the guest's /bin/sh -c, as
// virt-customize --run-command does: in the guest, as root, against the
// guest root (see vfs.CommandFS for what it gets and how it is bounded).
// It needs a backend that is a vfs.CommandFS; on any other, planning
// fails with ErrUnsupported before anything is written.
type RunCommand struct {
	Command string `json:"command"`
	// Limits bounds the run; zero fields take vfs.Command's defaults.
	Limits CommandLimits `json:"limits,omitzero"`
}

// Run runs Script with the guest's /bin/sh, as virt-customize --run
// does; otherwise as RunCommand.
type Run struct {
	Script []byte `json:"script"`
	// Name names the script in the report (a file name, say); it is not
	// used in the guest.
	Name   string        `json:"name,omitempty"`
	Limits CommandLimits `json:"limits,omitzero"`
}

// CommandLimits are the bounds of one command: see vfs.Command.
type CommandLimits struct {
	Timeout   time.Duration `json:"timeout,omitempty"`
	MaxOutput int           `json:"max_output,omitempty"`
	MaxProcs  int           `json:"max_procs,omitempty"`
}

// ErrCommandFailed: a guest command ended with a non-zero status, was
// killed, or ran out of its time limit. The *CommandError it comes in
// has the command's result.
var ErrCommandFailed = errors.New("guest command failed")

// CommandError is a guest command that did not succeed.
type CommandError struct {
	Result *RunResult
}

func (e *CommandError) Error() string {
	r := e.Result
	var why string
	switch {
	case r.TimedOut:
		why = fmt.Sprintf("killed at its time limit after %v", r.Duration.Round(time.Millisecond))
	case r.Signal != 0:
		why = fmt.Sprintf("killed by signal %d", r.Signal)
	default:
		why = fmt.Sprintf("exit status %d", r.ExitStatus)
	}
	if last := lastLine(r.Output); last != "" {
		why += ": " + last
	}
	return fmt.Sprintf("%v: %s", ErrCommandFailed, why)
}

func (e *CommandError) Unwrap() error { return ErrCommandFailed }

// RunResult is how a command ended, for the report.
type RunResult struct {
	ExitStatus int  `json:"exit_status"`
	Signal     int  `json:"signal,omitempty"`
	TimedOut   bool `json:"timed_out,omitempty"`
	// Output is the command's standard output and error, interleaved,
	// as far as its output bound; bytes that are not UTF-8 are shown as
	// U+FFFD.
	Output string `json:"output"`
	// Dropped counts the output bytes beyond the bound.
	Dropped  int64         `json:"dropped,omitempty"`
	Duration time.Duration `json:"duration"`
}

// maxErrorLine bounds the output line a CommandError quotes.
const maxErrorLine = 200

// lastLine is the last non-empty line of output, shortened.
func lastLine(out string) string {
	lines := strings.Split(strings.TrimRight(out, "\n"), "\n")
	last := strings.TrimSpace(lines[len(lines)-1])
	if len(last) > maxErrorLine {
		last = strings.ToValidUTF8(last[:maxErrorLine], "") + "…"
	}
	return last
}

// command returns the vfs.Command of a RunCommand or Run operation, its
// limits checked.
func (op Operation) command() (vfs.Command, error) {
	var c vfs.Command
	var l CommandLimits
	switch {
	case op.RunCommand != nil:
		c, l = vfs.Command{Shell: op.RunCommand.Command}, op.RunCommand.Limits
		if c.Shell == "" {
			return c, fmt.Errorf("%w: an empty command", ErrInvalidSpec)
		}
	case op.Run != nil:
		c, l = vfs.Command{Script: op.Run.Script}, op.Run.Limits
		if c.Script == nil {
			c.Script = []byte{}
		}
	}
	c.Timeout, c.MaxOutput, c.MaxProcs = l.Timeout, l.MaxOutput, l.MaxProcs
	c, err := c.WithDefaults()
	if err != nil {
		return c, fmt.Errorf("%w: %w", ErrInvalidSpec, err)
	}
	return c, nil
}

// guestShell is the guest program every command runs under.
const guestShell = "/bin/sh"

// planCommand adds the run of a command; planning stops after it, as
// what it does cannot be foreseen (see Plan). A guest that has no
// /bin/sh, as the earlier changes leave it, is refused here, so that a
// dry run says so; the backend checks the program itself before it runs
// anything.
func (p *planner) planCommand(ctx context.Context, item Item, op Operation) error {
	c, err := op.command()
	if err != nil {
		return itemErr(item, "", err)
	}
	info, err := p.fsys.Stat(ctx, guestShell)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return itemErrf(item, guestShell, vfs.ErrCannotRun, "the guest has no %s", guestShell)
	case err != nil:
		return itemErr(item, guestShell, err)
	case !info.Mode().IsRegular():
		return itemErrf(item, guestShell, vfs.ErrCannotRun, "the guest's %s is a %v", guestShell, info.Mode().Type())
	}
	detail := "/bin/sh -c " + shellQuote(c.Shell)
	if op.Run != nil {
		detail = fmt.Sprintf("/bin/sh on a script of %d bytes", len(c.Script))
		if op.Run.Name != "" {
			detail = fmt.Sprintf("/bin/sh on script %s (%d bytes)", op.Run.Name, len(c.Script))
		}
	}
	p.add(step{op: opRun, command: c, change: Change{Item: item, Path: "/", Action: ActionRun, UID: 0, GID: 0, Detail: detail}})
	return errPaused
}

// checkCommands refuses, before anything is planned, commands the
// backend cannot run and commands that are not valid.
func checkCommands(fsys vfs.FS, spec *Spec) error {
	_, canRun := fsys.(vfs.CommandFS)
	for i, op := range spec.Operations {
		if op.RunCommand == nil && op.Run == nil {
			continue
		}
		item := Item{Field: FieldOperations, Index: i, Name: op.kind()}
		if item.Name == "" {
			continue // planOperations says why
		}
		if !canRun {
			return itemErrf(item, "", ErrUnsupported, "the backend cannot run the guest's commands (only the appliance does)")
		}
		if _, err := op.command(); err != nil {
			return itemErr(item, "", err)
		}
	}
	return nil
}

// errPaused stops planning at a command.
var errPaused = errors.New("planning paused at a command")

// runCommand is Apply's run of a command step: the change gets the
// command's result, and a command that fails is a *CommandError.
func (s step) runCommand(ctx context.Context, fsys vfs.FS) (Change, error) {
	c := s.change
	cfs, ok := fsys.(vfs.CommandFS)
	if !ok {
		return c, fmt.Errorf("%w: the backend cannot run the guest's commands", ErrUnsupported)
	}
	res, err := cfs.RunCommand(ctx, s.command)
	if err != nil {
		return c, err
	}
	c.Run = &RunResult{ExitStatus: res.ExitStatus, Signal: res.Signal, TimedOut: res.TimedOut,
		Output: strings.ToValidUTF8(string(res.Output), "\uFFFD"), Dropped: res.Dropped, Duration: res.Duration}
	if !res.Success() {
		return c, &CommandError{Result: c.Run}
	}
	return c, nil
}
