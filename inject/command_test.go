package inject

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io/fs"
	"strings"
	"testing"
	"time"

	"github.com/guestinject/guestinject/vfs"
	"github.com/guestinject/guestinject/vfs/memfs"
)

// commandGuest is an in-memory guest whose "commands" are Go functions
// keyed by the command line, standing in for the appliance.
type commandGuest struct {
	*memfs.FS
	commands map[string]func(ctx context.Context, fsys vfs.FS) (*vfs.CommandResult, error)
	ran      []vfs.Command
}

func (g *commandGuest) RunCommand(ctx context.Context, c vfs.Command) (*vfs.CommandResult, error) {
	g.ran = append(g.ran, c)
	key := c.Shell
	if c.Script != nil {
		key = string(c.Script)
	}
	f, ok := g.commands[key]
	if !ok {
		return &vfs.CommandResult{ExitStatus: 127, Output: []byte("sh: not found\n")}, nil
	}
	return f(ctx, g.FS)
}

func newCommandGuest(t *testing.T) *commandGuest {
	t.Helper()
	g := &commandGuest{FS: memfs.New(), commands: map[string]func(context.Context, vfs.FS) (*vfs.CommandResult, error){}}
	ctx := context.Background()
	if err := g.MkdirAll(ctx, "/etc", 0o755); err != nil {
		t.Fatal(err)
	}
	if err := g.WriteFile(ctx, "/etc/motd", strings.NewReader("hello\n"), vfs.WriteOptions{Perm: 0o644, UID: 0, GID: 0}); err != nil {
		t.Fatal(err)
	}
	if err := g.MkdirAll(ctx, "/bin", 0o755); err != nil {
		t.Fatal(err)
	}
	if err := g.WriteFile(ctx, "/bin/sh", strings.NewReader("\x7fELF"), vfs.WriteOptions{Perm: 0o755, UID: 0, GID: 0}); err != nil {
		t.Fatal(err)
	}
	return g
}

// TestCommandsSegmentPlanning: operations after a command are planned
// against the guest as the command left it, in Spec order, and so are
// the fields after Operations.
func TestCommandsSegmentPlanning(t *testing.T) {
	ctx := context.Background()
	g := newCommandGuest(t)
	g.commands["make-b"] = func(ctx context.Context, fsys vfs.FS) (*vfs.CommandResult, error) {
		// The command sees what came before it.
		if data, err := vfs.ReadFile(ctx, fsys, "/a", 10); err != nil || string(data) != "1" {
			return &vfs.CommandResult{ExitStatus: 1}, nil
		}
		err := fsys.WriteFile(ctx, "/b", strings.NewReader("made\n"), vfs.WriteOptions{Perm: 0o644, UID: 0, GID: 0})
		return &vfs.CommandResult{Output: []byte("made b\n"), Duration: time.Second}, err
	}
	spec := Spec{Now: testNow, Hostname: "box", Operations: []Operation{
		{Write: &Write{Path: "/a", Content: []byte("1")}},
		{RunCommand: &RunCommand{Command: "make-b", Limits: CommandLimits{Timeout: time.Minute}}},
		// /b exists only once the command ran: planned before it, this
		// would fail.
		{Chmod: &Chmod{Path: "/b", Mode: 0o600}},
		{Run: &Run{Script: []byte("#!/bin/sh\ntrue\n"), Name: "noop.sh"}},
	}}
	g.commands["#!/bin/sh\ntrue\n"] = func(context.Context, vfs.FS) (*vfs.CommandResult, error) {
		return &vfs.CommandResult{}, nil
	}
	plan, err := NewPlan(ctx, g, spec)
	if err != nil {
		t.Fatal(err)
	}
	var actions []string
	for _, c := range plan.Changes() {
		actions = append(actions, string(c.Action)+" "+c.Path)
	}
	if got, want := strings.Join(actions, ", "), "create /a, run /"; got != want {
		t.Errorf("planned %s, want %s", got, want)
	}
	if d := plan.Deferred(); len(d) != 2 || d[0].Name != "chmod" || d[1].Name != "run" {
		t.Errorf("deferred %v", d)
	}
	if len(g.ran) != 0 {
		t.Fatal("planning ran a command")
	}
	rep, err := plan.Apply(ctx, g)
	if err != nil {
		t.Fatal(err)
	}
	actions = nil
	for _, c := range rep.Changes {
		actions = append(actions, string(c.Action)+" "+c.Path)
	}
	if got := strings.Join(actions, ", "); !strings.HasPrefix(got, "create /a, run /, chmod /b, run /, ") || !strings.Contains(got, "/etc/hostname") {
		t.Errorf("applied %s", got)
	}
	run := rep.Changes[1].Run
	if run == nil || run.Output != "made b\n" || run.ExitStatus != 0 || run.Duration != time.Second {
		t.Errorf("run result %+v", run)
	}
	if info, err := g.Lstat(ctx, "/b"); err != nil || info.Mode().Perm() != 0o600 {
		t.Errorf("/b: %v, %v", info, err)
	}
	if len(g.ran) != 2 || g.ran[0].Timeout != time.Minute || g.ran[0].MaxOutput != vfs.DefaultCommandOutput || g.ran[1].Script == nil {
		t.Errorf("ran %+v", g.ran)
	}
	if len(plan.Deferred()) != 0 {
		t.Error("deferred items after Apply")
	}
	out, err := json.Marshal(rep.Changes[1])
	if err != nil || !bytes.Contains(out, []byte(`"run":{"exit_status":0,"output":"made b\n"`)) || bytes.Contains(out, []byte(`"mode"`)) {
		t.Errorf("JSON %s, %v", out, err)
	}
}

// TestCommandFailureStops: a failing command fails Apply with its result;
// nothing after it is made.
func TestCommandFailureStops(t *testing.T) {
	ctx := context.Background()
	g := newCommandGuest(t)
	g.commands["fail"] = func(context.Context, vfs.FS) (*vfs.CommandResult, error) {
		return &vfs.CommandResult{ExitStatus: 3, Output: []byte("first\nno luck \xff\n")}, nil
	}
	rep, err := Apply(ctx, g, Spec{Operations: []Operation{
		{RunCommand: &RunCommand{Command: "fail"}},
		{Write: &Write{Path: "/etc/motd", Content: []byte("after\n")}},
	}})
	var ce *CommandError
	if !errors.Is(err, ErrCommandFailed) || !errors.As(err, &ce) || ce.Result.ExitStatus != 3 {
		t.Fatalf("got %v, want a *CommandError", err)
	}
	if !strings.Contains(err.Error(), "exit status 3: no luck") || !strings.Contains(err.Error(), "operations[0]") {
		t.Errorf("error %q", err)
	}
	if rep == nil || len(rep.Changes) != 0 || len(rep.NotMade) != 1 || rep.NotMade[0].Run == nil || rep.NotMade[0].Run.Output != "first\nno luck \uFFFD\n" {
		t.Errorf("report %+v", rep)
	}
	if data, _ := vfs.ReadFile(ctx, g, "/etc/motd", 100); string(data) != "hello\n" {
		t.Errorf("/etc/motd %q", data)
	}

	// A time limit reached is a failure too.
	g.commands["slow"] = func(context.Context, vfs.FS) (*vfs.CommandResult, error) {
		return &vfs.CommandResult{ExitStatus: -1, TimedOut: true, Duration: 5 * time.Second}, nil
	}
	if _, err := Apply(ctx, g, Spec{Operations: []Operation{{RunCommand: &RunCommand{Command: "slow"}}}}); !errors.As(err, &ce) || !strings.Contains(err.Error(), "time limit") {
		t.Errorf("timed out: %v", err)
	}
}

// TestCommandAfterPlanFails: an operation that the command made
// impossible fails when its segment is planned, before it is written.
func TestCommandAfterPlanFails(t *testing.T) {
	ctx := context.Background()
	g := newCommandGuest(t)
	g.commands["rm motd"] = func(ctx context.Context, fsys vfs.FS) (*vfs.CommandResult, error) {
		return &vfs.CommandResult{}, fsys.Remove(ctx, "/etc/motd")
	}
	rep, err := Apply(ctx, g, Spec{Operations: []Operation{
		{RunCommand: &RunCommand{Command: "rm motd"}},
		{Chmod: &Chmod{Path: "/etc/motd", Mode: 0o600}},
	}})
	var ie *ItemError
	if !errors.Is(err, fs.ErrNotExist) || !errors.As(err, &ie) || ie.Item.Index != 1 {
		t.Fatalf("got %v", err)
	}
	if rep == nil || len(rep.Changes) != 1 || rep.Changes[0].Action != ActionRun {
		t.Errorf("report %+v", rep)
	}
}

// TestCommandsRefusedAtPlan: a backend that cannot run commands, and
// commands that are not valid, fail planning before anything is written.
func TestCommandsRefusedAtPlan(t *testing.T) {
	ctx := context.Background()
	mem := memfs.New()
	_, err := NewPlan(ctx, mem, Spec{Operations: []Operation{
		{Mkdir: &Mkdir{Path: "/x"}},
		{RunCommand: &RunCommand{Command: "true"}},
	}})
	if !errors.Is(err, ErrUnsupported) || !strings.Contains(err.Error(), "operations[1]") {
		t.Errorf("memfs: %v", err)
	}
	if _, err := mem.Lstat(ctx, "/x"); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("/x: %v", err)
	}
	g := newCommandGuest(t)
	for _, op := range []Operation{
		{RunCommand: &RunCommand{}},
		{RunCommand: &RunCommand{Command: "x", Limits: CommandLimits{Timeout: -time.Second}}},
		{RunCommand: &RunCommand{Command: "x", Limits: CommandLimits{MaxOutput: vfs.MaxCommandOutput + 1}}},
		{Run: &Run{Script: make([]byte, vfs.MaxScriptSize+1)}},
		{Run: &Run{Script: []byte("x")}, RunCommand: &RunCommand{Command: "x"}},
	} {
		if _, err := NewPlan(ctx, g, Spec{Operations: []Operation{op}}); !errors.Is(err, ErrInvalidSpec) {
			t.Errorf("%+v: %v", op, err)
		}
	}
	if len(g.ran) != 0 {
		t.Error("a refused command ran")
	}
}

// TestCommandNeedsShell: a guest without /bin/sh, as the changes before
// the command leave it, is refused when the command is planned, so a dry
// run says so; one whose earlier operation removes it too.
func TestCommandNeedsShell(t *testing.T) {
	ctx := context.Background()
	g := newCommandGuest(t)
	_, err := NewPlan(ctx, g, Spec{Operations: []Operation{
		{Delete: &Delete{Path: "/bin/sh"}},
		{RunCommand: &RunCommand{Command: "true"}},
	}})
	var ie *ItemError
	if !errors.Is(err, vfs.ErrCannotRun) || !errors.As(err, &ie) || ie.Item.Index != 1 || ie.Path != "/bin/sh" {
		t.Errorf("got %v", err)
	}
	if err := g.Remove(ctx, "/bin/sh"); err != nil {
		t.Fatal(err)
	}
	if err := g.MkdirAll(ctx, "/bin/sh", 0o755); err != nil {
		t.Fatal(err)
	}
	if _, err := NewPlan(ctx, g, Spec{Operations: []Operation{{RunCommand: &RunCommand{Command: "true"}}}}); !errors.Is(err, vfs.ErrCannotRun) {
		t.Errorf("a directory for a shell: %v", err)
	}
	if len(g.ran) != 0 {
		t.Error("a command ran")
	}
}
