package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/guestinject/guestinject/inject"
	"github.com/guestinject/guestinject/vfs"
)

type injectArgs struct {
	imageArgs
	// customize holds every customization option in command-line order.
	customize         []custOpt
	network, renderer string
	cloudInit         seedFiles
	dryRun            bool
	commandTimeout    time.Duration
	// relabelAll and relabelNone are --selinux-relabel and
	// --no-selinux-relabel.
	relabelAll, relabelNone bool
}

func newInjectFlags(a *injectArgs) *flag.FlagSet {
	fs := newFlagSet("inject")
	a.imageArgs.register(fs)
	a.backend.register(fs)
	a.backend.registerPackageNetwork(fs)
	registerCustomize(fs, &a.customize)
	fs.StringVar(&a.network, "network", "", "configure the network from `FILE`: OpenStack network_data.json (.json) or guestinject's YAML (.yaml)")
	fs.StringVar(&a.renderer, "network-renderer", "", "write the network for `NAME` (ifupdown, netplan, networkmanager, ifcfg, networkd) instead of detecting it")
	a.cloudInit.registerInjectSeed(fs)
	fs.DurationVar(&a.commandTimeout, "command-timeout", 0, "bound each --run-command, --run, --install and --uninstall to `DURATION` (default 5m, at most 1h), every process it starts included")
	fs.BoolVar(&a.relabelAll, "selinux-relabel", false, "on a guest with an SELinux policy, relabel the whole filesystem now with the guest's setfiles in the appliance (at first boot where that cannot run); without it, only the files the injection creates are relabelled, and only when SELinux is enabled")
	fs.BoolVar(&a.relabelNone, "no-selinux-relabel", false, "relabel nothing for SELinux, now or at first boot")
	fs.BoolVar(&a.dryRun, "dry-run", false, "print the plan and change nothing (the image is opened read-only)")
	return fs
}

// buildSpec turns the flags into an inject.Spec and the host files it
// streams, which the caller closes. The customization options are taken
// in the order given, so Spec.Operations and Spec.FirstBoot keep it.
func (a *injectArgs) buildSpec(stdin io.Reader) (inject.Spec, []*os.File, error) {
	var spec inject.Spec
	var opened []*os.File
	fail := func(err error) (inject.Spec, []*os.File, error) {
		closeAll(opened)
		return inject.Spec{}, nil, err
	}
	var metaPairs []string
	for _, o := range a.customize {
		f, err := addCustomize(&spec, &metaPairs, o, stdin)
		if err != nil {
			return fail(err)
		}
		if f != nil {
			opened = append(opened, f)
		}
	}
	if a.network != "" {
		n, err := readNetworkFile(a.network)
		if err != nil {
			return fail(err)
		}
		if a.renderer != "" {
			n.Renderer = inject.Renderer(a.renderer)
		}
		spec.Network = n
	} else if a.renderer != "" {
		return fail(usagef("--network-renderer needs --network"))
	}
	seed, err := a.cloudInit.read("cloud-init-", stdin)
	if err != nil {
		return fail(err)
	}
	spec.CloudInit = seed
	meta, err := parseMetaFlags(metaPairs)
	if err != nil {
		return fail(err)
	}
	spec.Metadata = meta
	switch {
	case a.relabelAll && a.relabelNone:
		return fail(usagef("--selinux-relabel and --no-selinux-relabel exclude each other"))
	case a.relabelAll:
		spec.SELinux = inject.RelabelAll
	case a.relabelNone:
		spec.SELinux = inject.RelabelNone
	}
	if isEmptySpec(spec) {
		return fail(&usageError{msg: errNothingToDo.Error()})
	}
	for _, op := range spec.Operations {
		switch {
		case op.RunCommand != nil:
			op.RunCommand.Limits.Timeout = a.commandTimeout
		case op.Run != nil:
			op.Run.Limits.Timeout = a.commandTimeout
		case op.Install != nil:
			op.Install.Limits.Timeout = a.commandTimeout
		case op.Uninstall != nil:
			op.Uninstall.Limits.Timeout = a.commandTimeout
		}
	}
	return spec, opened, nil
}

func isEmptySpec(s inject.Spec) bool {
	return len(s.SSHKeys) == 0 && len(s.Passwords) == 0 && s.Hostname == "" && s.Network == nil &&
		s.Metadata == nil && len(s.Files) == 0 && len(s.FirstBoot) == 0 && len(s.Operations) == 0 && s.CloudInit == nil &&
		s.Timezone == "" && s.SELinux != inject.RelabelAll
}

func closeAll(files []*os.File) {
	for _, f := range files {
		f.Close()
	}
}

func runInject(ctx context.Context, args []string, io stdio) error {
	var a injectArgs
	pos, err := parseArgs(newInjectFlags(&a), args, io.out)
	if err != nil {
		return unsupportedFlag(err)
	}
	if err := a.backend.validate(); err != nil {
		return err
	}
	t, _, err := a.resolveTarget("inject", pos, a.dryRun)
	if err != nil {
		return err
	}
	spec, opened, err := a.buildSpec(io.in)
	if err != nil {
		return err
	}
	defer closeAll(opened)
	return applySpec(ctx, &a.imageArgs, t, spec, a.dryRun, io)
}

// applySpec plans spec on the guest t and applies it (or, with dryRun,
// only plans it), then prints the changes; a failed Apply leaves the
// image unchanged and says what was and was not made.
func applySpec(ctx context.Context, a *imageArgs, t target, spec inject.Spec, dryRun bool, io stdio) error {
	prog := newProgress(a, io.err)
	var changes []inject.Change
	var deferred []inject.Item // what a dry run could not plan
	var partial *inject.Report // what a failed Apply reported
	err := withGuest(ctx, a, t, io.err, func(ctx context.Context, g vfs.Session) error {
		done := prog.step("planning")
		plan, err := inject.NewPlan(ctx, g, spec)
		if err != nil {
			return err
		}
		defer plan.Close()
		done()
		if dryRun {
			changes, deferred = plan.Changes(), plan.Deferred()
			return nil
		}
		done = prog.step(fmt.Sprintf("applying %d changes", len(plan.Changes())))
		report, err := plan.Apply(ctx, g)
		if err != nil {
			partial = report
			return err
		}
		done()
		changes = report.Changes
		return nil
	}, !dryRun)
	if err != nil {
		if partial != nil {
			printFailure(io, partial, err, a.json, a.backend.acceleratorName())
		}
		return err
	}
	return printOutput(io.out, changesOutput{DryRun: dryRun, Accelerator: a.backend.acceleratorName(), Changes: changes, Deferred: deferred}, a.json)
}

// printFailure says what a failed Apply had done (in the appliance's
// overlay, discarded with it) and what it had not: as JSON on standard
// output with --json, so a caller can map the failure back to its spec
// item (not_made[0] failed), else as text on standard error.
func printFailure(io stdio, r *inject.Report, err error, asJSON bool, accelerator string) {
	if asJSON {
		enc := json.NewEncoder(io.out)
		enc.SetIndent("", "  ")
		_ = enc.Encode(changesOutput{Accelerator: accelerator, Changes: r.Changes, NotMade: r.NotMade, Error: err.Error(), Unchanged: true})
		return
	}
	fmt.Fprintf(io.err, "guestinject: %d changes made and discarded, %d not made; the image is unchanged\n", len(r.Changes), len(r.NotMade))
	for i, c := range r.NotMade {
		what := "not made"
		if i == 0 {
			what = "failed"
		}
		fmt.Fprintf(io.err, "guestinject: %s: %s %s [%s]\n", what, c.Action, c.Path, c.Item)
		if c.Run != nil {
			printRunOutput(io.err, c.Run)
		}
	}
}

// changesOutput is inject's JSON output: the Report, or the plan of a
// dry run. Each change names its spec item as an object
// ({"field":"files","index":0}), the way inject.Item encodes.
type changesOutput struct {
	DryRun      bool            `json:"dry_run"`
	Accelerator string          `json:"accelerator,omitempty"` // when the appliance booted
	Changes     []inject.Change `json:"changes"`
	// After a failed Apply: the changes not made, the failed one first,
	// the error, and that the image is unchanged (Changes were made in
	// the overlay and discarded).
	NotMade []inject.Change `json:"not_made,omitempty"`
	// Deferred, in a dry run, are the operations after a guest command,
	// which are planned only once it has run.
	Deferred  []inject.Item `json:"deferred,omitempty"`
	Error     string        `json:"error,omitempty"`
	Unchanged bool          `json:"image_unchanged,omitempty"`
}

func printChanges(w io.Writer, changes []inject.Change, asJSON, dryRun bool, accelerator string) error {
	return printOutput(w, changesOutput{DryRun: dryRun, Accelerator: accelerator, Changes: changes}, asJSON)
}

// printOutput prints the changes, and what a dry run could not plan, as
// text or JSON.
func printOutput(w io.Writer, out changesOutput, asJSON bool) error {
	if asJSON {
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(out)
	}
	if out.DryRun {
		fmt.Fprintf(w, "dry run: %d changes planned, none made\n", len(out.Changes))
	}
	for _, c := range out.Changes {
		if c.Action == inject.ActionRun {
			fmt.Fprintf(w, "%-7s %s  [%s]\n", c.Action, c.Detail, c.Item)
			if c.Run != nil {
				printRunOutput(w, c.Run)
			}
			continue
		}
		fmt.Fprintf(w, "%-7s %-40s %s %d:%d", c.Action, c.Path, inject.OctalMode(c.Mode), c.UID, c.GID)
		if c.Target != "" {
			fmt.Fprintf(w, " -> %s", c.Target)
		}
		if c.Detail != "" {
			fmt.Fprintf(w, "  (%s)", c.Detail)
		}
		fmt.Fprintf(w, "  [%s]\n", c.Item)
	}
	if len(out.Deferred) > 0 {
		fmt.Fprintf(w, "planned once the command above has run, against the guest as it leaves it: %d more operations (", len(out.Deferred))
		for i, item := range out.Deferred {
			if i > 0 {
				fmt.Fprint(w, ", ")
			}
			fmt.Fprint(w, item)
		}
		fmt.Fprintln(w, ") and the options applied after them")
	}
	return nil
}

// printRunOutput shows how a guest command ended and its output, each
// line indented and with control characters made visible: the output is
// the guest's.
func printRunOutput(w io.Writer, r *inject.RunResult) {
	switch {
	case r.TimedOut:
		fmt.Fprintf(w, "        killed at its time limit after %v\n", r.Duration.Round(time.Millisecond))
	case r.Signal != 0:
		fmt.Fprintf(w, "        killed by signal %d\n", r.Signal)
	default:
		fmt.Fprintf(w, "        exit status %d after %v\n", r.ExitStatus, r.Duration.Round(time.Millisecond))
	}
	if r.Output != "" {
		for line := range strings.Lines(r.Output) {
			fmt.Fprintf(w, "        | %s\n", visible(strings.TrimSuffix(line, "\n")))
		}
	}
	if r.Dropped > 0 {
		fmt.Fprintf(w, "        (%d more bytes of output dropped)\n", r.Dropped)
	}
}

// visible replaces control characters, which a guest could use to
// rewrite the operator's terminal, with U+FFFD.
func visible(s string) string {
	return strings.Map(func(r rune) rune {
		if r < 0x20 && r != '\t' || r == 0x7f || (r >= 0x80 && r < 0xa0) {
			return '\uFFFD'
		}
		return r
	}, s)
}
