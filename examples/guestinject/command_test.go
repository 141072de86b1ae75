package main

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/guestinject/guestinject/inject"
)

// TestRunCommandOptions: --run-command and --run, on the command line and
// in a commands file, become operations in the order given, with
// --command-timeout; --run reads its script from the host.
func TestRunCommandOptions(t *testing.T) {
	dir := t.TempDir()
	script := writeFile(t, dir, "setup.sh", "#!/bin/sh\necho set up\n")
	cmds := writeFile(t, dir, "cmds", "run-command echo '# not a comment' > /etc/a\nrun "+script+"\n")
	var a injectArgs
	fs := newInjectFlags(&a)
	if err := fs.Parse([]string{"--mkdir", "/srv", "--commands-from-file", cmds, "--run-command", "true", "--command-timeout", "90s"}); err != nil {
		t.Fatal(err)
	}
	spec, _, err := a.buildSpec(strings.NewReader(""))
	if err != nil {
		t.Fatal(err)
	}
	ops := spec.Operations
	if len(ops) != 4 || ops[0].Mkdir == nil || ops[1].RunCommand == nil || ops[2].Run == nil || ops[3].RunCommand == nil {
		t.Fatalf("operations %+v", ops)
	}
	if ops[1].RunCommand.Command != "echo '# not a comment' > /etc/a" || ops[1].RunCommand.Limits.Timeout != 90*time.Second {
		t.Errorf("run-command %+v", ops[1].RunCommand)
	}
	if string(ops[2].Run.Script) != "#!/bin/sh\necho set up\n" || ops[2].Run.Name != "setup.sh" || ops[2].Run.Limits.Timeout != 90*time.Second {
		t.Errorf("run %+v", ops[2].Run)
	}
}

// TestPrintRunOutput: a command's output is shown indented, with the
// control characters a guest could use on the operator's terminal made
// visible.
func TestPrintRunOutput(t *testing.T) {
	var b bytes.Buffer
	printRunOutput(&b, &inject.RunResult{ExitStatus: 2, Output: "ok\n\x1b]0;owned\x07\rdone", Dropped: 5, Duration: time.Second})
	want := "        exit status 2 after 1s\n        | ok\n        | \uFFFD]0;owned\uFFFD\uFFFDdone\n        (5 more bytes of output dropped)\n"
	if b.String() != want {
		t.Errorf("got %q, want %q", b.String(), want)
	}
}
