package inject_test

import (
	"context"
	"fmt"
	"io/fs"
	"strings"

	"github.com/guestinject/guestinject/inject"
	"github.com/guestinject/guestinject/vfs"
	"github.com/guestinject/guestinject/vfs/memfs"
)

// scriptedGuest stands in for the appliance, whose RunCommand runs the
// guest's own /bin/sh in the VM: here a command creates /etc/app.conf.
type scriptedGuest struct{ *memfs.FS }

func (g scriptedGuest) RunCommand(ctx context.Context, c vfs.Command) (*vfs.CommandResult, error) {
	err := g.WriteFile(ctx, "/etc/app.conf", strings.NewReader("port=80\n"), vfs.WriteOptions{Perm: 0o644, UID: 0, GID: 0})
	return &vfs.CommandResult{Output: []byte("configured\n")}, err
}

// A command's effects cannot be planned: the plan stops at it, and what
// follows is planned when Apply has run it, against the guest as it left
// it.
func ExampleRunCommand() {
	ctx := context.Background()
	g := scriptedGuest{exampleGuest()}
	if err := g.Add(memfs.Node{Path: "/bin", Mode: fs.ModeDir | 0o755}); err != nil {
		panic(err)
	}
	if err := g.Add(memfs.Node{Path: "/bin/sh", Mode: 0o755, Data: []byte("\x7fELF")}); err != nil {
		panic(err)
	}
	spec := inject.Spec{Operations: []inject.Operation{
		{Mkdir: &inject.Mkdir{Path: "/srv"}},
		{RunCommand: &inject.RunCommand{Command: "app --configure"}},
		{Chmod: &inject.Chmod{Path: "/etc/app.conf", Mode: 0o600}}, // the command makes it
	}}
	plan, err := inject.NewPlan(ctx, g, spec)
	if err != nil {
		fmt.Println(err)
		return
	}
	for _, c := range plan.Changes() {
		fmt.Println("planned:", strings.TrimSpace(fmt.Sprint(c.Action, " ", c.Path, " ", c.Detail)))
	}
	fmt.Println("deferred:", plan.Deferred())
	report, err := plan.Apply(ctx, g)
	if err != nil {
		fmt.Println(err)
		return
	}
	for _, c := range report.Changes {
		if c.Run != nil {
			fmt.Printf("ran: %s, exit %d, output %q\n", c.Detail, c.Run.ExitStatus, c.Run.Output)
			continue
		}
		fmt.Println("made:", c.Action, c.Path)
	}
	// Output:
	// planned: mkdir /srv
	// planned: run / /bin/sh -c 'app --configure'
	// deferred: [operations[2] (chmod)]
	// made: mkdir /srv
	// ran: /bin/sh -c 'app --configure', exit 0, output "configured\n"
	// made: chmod /etc/app.conf
}
