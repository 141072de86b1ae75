package vfs

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"time"

	"github.com/guestinject/guestinject/internal/guestabi"
)

// ErrCannotRun means the guest's programs cannot run where the backend
// would run them: the guest has no /bin/sh, or its programs are built for
// another architecture than the one that would run them. Nothing ran.
var ErrCannotRun = errors.New("the guest's programs cannot run here")

// Limits of a Command. The Max values bound what a caller may ask for;
// the Default values apply to a zero field.
const (
	DefaultCommandTimeout = 5 * time.Minute
	MaxCommandTimeout     = time.Hour
	DefaultCommandOutput  = 64 << 10
	MaxCommandOutput      = guestabi.MaxCommandOutput
	DefaultCommandProcs   = 512
	MaxCommandProcs       = guestabi.MaxCommandProcs
	MaxScriptSize         = guestabi.MaxScriptSize
)

// Command is a program of the guest's to run against its own root, as
// root: exactly one of Shell and Script is set. See CommandFS for where
// and how it runs.
type Command struct {
	// Shell is a command line for the guest's /bin/sh -c, as
	// virt-customize --run-command takes it.
	Shell string `json:"shell,omitempty"`
	// Script is a script the guest's /bin/sh runs from a private file,
	// as virt-customize --run takes it; at most MaxScriptSize bytes.
	Script []byte `json:"script,omitempty"`
	// Timeout bounds the command's run, every process it starts
	// included; 0 means DefaultCommandTimeout.
	Timeout time.Duration `json:"timeout,omitempty"`
	// MaxOutput bounds the output kept (standard output and error,
	// interleaved); the rest is counted and dropped. 0 means
	// DefaultCommandOutput.
	MaxOutput int `json:"max_output,omitempty"`
	// MaxProcs bounds the processes the command may have at once; 0
	// means DefaultCommandProcs.
	MaxProcs int `json:"max_procs,omitempty"`
}

// WithDefaults returns c with its zero limits set to the defaults, or an
// error wrapping fs.ErrInvalid for a command that is not valid.
func (c Command) WithDefaults() (Command, error) {
	switch {
	case (c.Shell == "") == (c.Script == nil):
		return c, fmt.Errorf("%w: a command sets exactly one of Shell and Script", fs.ErrInvalid)
	case len(c.Script) > MaxScriptSize:
		return c, fmt.Errorf("%w: script of %d bytes exceeds %d", fs.ErrInvalid, len(c.Script), MaxScriptSize)
	case len(c.Shell) > MaxScriptSize:
		return c, fmt.Errorf("%w: command line of %d bytes exceeds %d", fs.ErrInvalid, len(c.Shell), MaxScriptSize)
	case c.Timeout < 0 || c.Timeout > MaxCommandTimeout:
		return c, fmt.Errorf("%w: timeout %v outside 0..%v", fs.ErrInvalid, c.Timeout, MaxCommandTimeout)
	case c.MaxOutput < 0 || c.MaxOutput > MaxCommandOutput:
		return c, fmt.Errorf("%w: output bound %d outside 0..%d", fs.ErrInvalid, c.MaxOutput, MaxCommandOutput)
	case c.MaxProcs < 0 || c.MaxProcs > MaxCommandProcs:
		return c, fmt.Errorf("%w: process bound %d outside 0..%d", fs.ErrInvalid, c.MaxProcs, MaxCommandProcs)
	}
	if c.Timeout == 0 {
		c.Timeout = DefaultCommandTimeout
	}
	if c.MaxOutput == 0 {
		c.MaxOutput = DefaultCommandOutput
	}
	if c.MaxProcs == 0 {
		c.MaxProcs = DefaultCommandProcs
	}
	return c, nil
}

// CommandResult is how a command ended.
type CommandResult struct {
	// ExitStatus is the exit status of the shell, -1 when it was killed
	// by a signal (Signal) or at the time limit (TimedOut).
	ExitStatus int `json:"exit_status"`
	// Signal is the number of the signal that killed the shell, 0 when
	// it exited.
	Signal int `json:"signal,omitempty"`
	// TimedOut says the command ran out of its Timeout and every process
	// it started was killed.
	TimedOut bool `json:"timed_out,omitempty"`
	// Output is standard output and error, interleaved, at most the
	// command's MaxOutput bytes: the guest's bytes, not checked to be
	// text.
	Output []byte `json:"output,omitempty"`
	// Dropped counts the output bytes beyond MaxOutput.
	Dropped int64 `json:"dropped,omitempty"`
	// Duration is how long the command ran.
	Duration time.Duration `json:"duration"`
}

// Success reports whether the command exited with status 0.
func (r *CommandResult) Success() bool { return r.ExitStatus == 0 && !r.TimedOut && r.Signal == 0 }

// CommandFS is implemented by backends that run the guest's own programs
// against the guest root: today the appliance, whose throwaway VM is
// where hostile programs may run. A backend on the host (a mount, an
// in-memory tree) never does.
type CommandFS interface {
	FS
	// RunCommand runs c chrooted into the guest root, as root, with the
	// guest's /bin/sh, its own /proc, /sys and minimal /dev, a private
	// /run and /tmp, no network (but see PackageNetworkFS), and c's bounds on time, output and
	// processes; every process it starts ends with it. A guest whose
	// /bin/sh is missing or built for another architecture fails with
	// ErrCannotRun before anything runs. A command that runs returns its
	// result whatever its exit status; the error is for a command that
	// could not run or a session that failed.
	RunCommand(ctx context.Context, c Command) (*CommandResult, error)
}

// PackageNetworkFS is a CommandFS whose commands may have a network to
// fetch packages through, which the caller opts into (the appliance's
// WithPackageNetwork): they then run with http_proxy naming a proxy that
// reaches the caller's package mirrors and nothing else.
type PackageNetworkFS interface {
	CommandFS
	// PackageNetwork reports whether commands have that network.
	PackageNetwork() bool
}
