// Command benchreport reads `go test -bench` output and writes the report
// of BENCHMARKS.md (see package benchreport). With -splice FILE it
// replaces the generated part of FILE in place instead of printing.
//
//	go test -run '^$' -bench . -count 5 ./... | benchreport -command 'make bench' -splice BENCHMARKS.md
package main

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"

	"github.com/guestinject/guestinject/internal/accel"
	"github.com/guestinject/guestinject/internal/benchreport"
	"github.com/guestinject/guestinject/internal/initramfs"
)

func main() {
	command := flag.String("command", "make bench", "the command named as the report's source")
	splice := flag.String("splice", "", "replace the generated part of this Markdown `file`")
	load := flag.String("load", "", "load averages before the run (default: now)")
	flag.Parse()
	if err := run(*command, *splice, *load); err != nil {
		fmt.Fprintln(os.Stderr, "benchreport:", err)
		os.Exit(1)
	}
}

func run(command, splice, load string) error {
	results, err := benchreport.Parse(os.Stdin)
	if err != nil {
		return err
	}
	if len(results) == 0 {
		return fmt.Errorf("no benchmark results in the input")
	}
	if load == "" {
		load = loadAverage()
	}
	var report bytes.Buffer
	if err := benchreport.Write(&report, results, describe(load), command); err != nil {
		return err
	}
	if splice == "" {
		_, err := os.Stdout.Write(report.Bytes())
		return err
	}
	doc, err := os.ReadFile(splice)
	if err != nil {
		return err
	}
	out, err := benchreport.Splice(doc, report.Bytes())
	if err != nil {
		return fmt.Errorf("%s: %w", splice, err)
	}
	return os.WriteFile(splice, out, 0o644)
}

// describe gathers the machine description; what cannot be read is
// reported as unknown rather than failing the report.
func describe(load string) benchreport.Machine {
	m := benchreport.Machine{
		CPU:    fmt.Sprintf("%d × %s", runtime.NumCPU(), field("/proc/cpuinfo", "model name")),
		Memory: memory(field("/proc/meminfo", "MemTotal")),
		Go:     runtime.Version(),
		QEMU:   firstLine("qemu-system-x86_64", "--version"),
		Load:   load,
		Date:   time.Now(),
	}
	var u unix.Utsname
	if unix.Uname(&u) == nil {
		m.Kernel = unix.ByteSliceToString(u.Release[:])
	}
	// The kernel the appliance's sessions boot, as they choose it.
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	app, err := initramfs.Build(ctx, initramfs.Config{})
	if err != nil {
		m.Accelerator = "accelerator unknown (" + err.Error() + ")"
	} else {
		m.Guest = app.KernelVersion
		if app.OwnKernel {
			m.Guest += " (its own, make kernel)"
		}
		m.Accelerator = accelerator(app)
	}
	if _, err := exec.LookPath("guestfish"); err == nil {
		m.Guestfsh = firstLine("guestfish", "--version")
	}
	return m
}

func field(path, name string) string {
	data, err := os.ReadFile(path)
	if err != nil {
		return "unknown"
	}
	for line := range strings.Lines(string(data)) {
		if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == name {
			return strings.Join(strings.Fields(v), " ")
		}
	}
	return "unknown"
}

// memory turns meminfo's "24683620 kB" into "23.5 GiB of memory".
func memory(total string) string {
	kb, err := strconv.ParseFloat(strings.TrimSuffix(total, " kB"), 64)
	if err != nil {
		return total + " of memory"
	}
	return strconv.FormatFloat(kb/(1<<20), 'f', 1, 64) + " GiB of memory"
}

func firstLine(name string, args ...string) string {
	out, err := exec.Command(name, args...).Output()
	if err != nil {
		return name + " unknown"
	}
	line, _, _ := strings.Cut(string(out), "\n")
	return strings.TrimSpace(line)
}

func loadAverage() string {
	data, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "unknown"
	}
	f := strings.Fields(string(data))
	if len(f) < 3 {
		return "unknown"
	}
	return strings.Join(f[:3], ", ")
}

// accelerator says what the appliance's sessions ran under: the decision
// they take, for the kernel they boot, read from the same cache.
func accelerator(app *initramfs.Appliance) string {
	mode, err := accel.ModeFromEnv()
	if err != nil {
		return "accelerator unknown (" + err.Error() + ")"
	}
	d, err := accel.Decide(mode, accel.Inputs{Kernel: app.Kernel, QEMU: qemuPath()})
	if err != nil {
		return "accelerator unknown (" + err.Error() + ")"
	}
	if d.NeedsProof {
		return "appliance under KVM or TCG (KVM not yet proven on this host)"
	}
	return fmt.Sprintf("appliance under %s (%s)", strings.ToUpper(d.Accel), d.Reason)
}

func qemuPath() string {
	p, err := exec.LookPath("qemu-system-x86_64")
	if err != nil {
		return "qemu-system-x86_64"
	}
	return p
}
