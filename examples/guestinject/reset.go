package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"slices"
	"strings"

	"github.com/guestinject/guestinject/inject"
)

type resetArgs struct {
	imageArgs
	// operations holds each --operations value, in order.
	operations     listFlag
	listOperations bool
	maxEntries     int
	dryRun         bool
}

// listFlag collects every value of a repeatable option.
type listFlag []string

func (l *listFlag) String() string     { return strings.Join(*l, " ") }
func (l *listFlag) Set(s string) error { *l = append(*l, s); return nil }

func newResetFlags(a *resetArgs) *flag.FlagSet {
	fs := newFlagSet("reset")
	a.imageArgs.register(fs)
	a.backend.register(fs)
	fs.Var(&a.operations, "operations", "run the operations `LIST` names, comma-separated, instead of the default set: NAME adds one, -NAME removes one, defaults and all add those sets, -defaults and -all remove them (repeatable)")
	fs.BoolVar(&a.listOperations, "list-operations", false, "list the operations, a star marking the default set, and exit")
	fs.IntVar(&a.maxEntries, "max-entries", 0, fmt.Sprintf("fail when the reset would read more than `N` directory entries (default %d)", inject.DefaultResetEntries))
	fs.BoolVar(&a.dryRun, "dry-run", false, "print the plan and change nothing (the image is opened read-only)")
	return fs
}

// selectResetOperations reads --operations values as virt-sysprep does:
// starting from no operation, each comma-separated word adds (NAME,
// defaults, all) or removes (-NAME, -defaults, -all) operations, left to
// right. No value at all means nil, the library's default set; values
// that leave nothing selected are refused, since an empty list would mean
// the defaults too.
func selectResetOperations(values []string) ([]string, error) {
	if len(values) == 0 {
		return nil, nil
	}
	ops := inject.ResetOperations()
	known := func(n string) bool {
		return slices.ContainsFunc(ops, func(op inject.ResetOperation) bool { return op.Name == n })
	}
	set := map[string]bool{}
	for _, v := range values {
		for _, word := range strings.Split(v, ",") {
			name, remove := strings.CutPrefix(word, "-")
			var names []string
			switch {
			case name == "":
				return nil, usagef("--operations %q: empty operation name", v)
			case name == "defaults":
				names = inject.DefaultResetOperations()
			case name == "all":
				for _, op := range ops {
					names = append(names, op.Name)
				}
			case known(name):
				names = []string{name}
			default:
				return nil, usagef("--operations: %q is not a known operation (see --list-operations)", name)
			}
			for _, n := range names {
				set[n] = !remove
			}
		}
	}
	var out []string
	for _, op := range ops {
		if set[op.Name] {
			out = append(out, op.Name)
		}
	}
	if len(out) == 0 {
		return nil, usagef("--operations %s selects no operation", strings.Join(values, " "))
	}
	return out, nil
}

// printResetOperations prints the operations as virt-sysprep
// --list-operations does ("name * description", the star for the
// default set), or as a JSON array.
func printResetOperations(w io.Writer, asJSON bool) error {
	ops := inject.ResetOperations()
	if asJSON {
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(ops)
	}
	for _, op := range ops {
		star := " "
		if op.Default {
			star = "*"
		}
		fmt.Fprintf(w, "%s %s %s\n", op.Name, star, op.Description)
	}
	return nil
}

func runReset(ctx context.Context, args []string, io stdio) error {
	var a resetArgs
	pos, err := parseArgs(newResetFlags(&a), args, io.out)
	if err != nil {
		return err
	}
	if a.listOperations {
		if len(pos) > 0 || len(a.operations) > 0 {
			return usagef("reset: --list-operations takes no image and no --operations")
		}
		return printResetOperations(io.out, a.json)
	}
	if a.maxEntries < 0 || a.maxEntries > inject.MaxResetEntries {
		return usagef("--max-entries %d: want 1 to %d", a.maxEntries, inject.MaxResetEntries)
	}
	ops, err := selectResetOperations(a.operations)
	if err != nil {
		return err
	}
	if err := a.backend.validate(); err != nil {
		return err
	}
	t, _, err := a.resolveTarget("reset", pos, a.dryRun)
	if err != nil {
		return err
	}
	spec := inject.Spec{Reset: &inject.Reset{Operations: ops, MaxEntries: a.maxEntries}}
	return applySpec(ctx, &a.imageArgs, t, spec, a.dryRun, io)
}
