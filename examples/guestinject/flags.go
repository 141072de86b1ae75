package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"

	"github.com/guestinject/guestinject/imagecheck"
)

// parseArgs parses args with fs, allowing flags before and after the
// positional arguments (as in "check IMAGE --format raw"); "--" ends the
// flags. It returns the positional arguments. -h prints the command's
// help to out and returns flag.ErrHelp.
func parseArgs(fs *flag.FlagSet, args []string, out io.Writer) ([]string, error) {
	var positional []string
	for {
		err := fs.Parse(args)
		if errors.Is(err, flag.ErrHelp) {
			for _, c := range commands() {
				if c.name == fs.Name() {
					printCommandHelp(out, c)
				}
			}
			return nil, err
		}
		if err != nil {
			return nil, &usageError{msg: fs.Name() + ": " + err.Error()}
		}
		rest := fs.Args()
		consumed := len(args) - len(rest)
		if consumed > 0 && args[consumed-1] == "--" {
			return append(positional, rest...), nil
		}
		if len(rest) == 0 {
			return positional, nil
		}
		positional = append(positional, rest[0])
		args = rest[1:]
	}
}

// sizeUnits are the suffixes parseSize accepts: powers of 1024, as qemu-img
// reads them ("50G" is 50 GiB).
var sizeUnits = map[string]int64{
	"": 1, "B": 1,
	"K": 1 << 10, "KB": 1 << 10, "KIB": 1 << 10,
	"M": 1 << 20, "MB": 1 << 20, "MIB": 1 << 20,
	"G": 1 << 30, "GB": 1 << 30, "GIB": 1 << 30,
	"T": 1 << 40, "TB": 1 << 40, "TIB": 1 << 40,
	"P": 1 << 50, "PB": 1 << 50, "PIB": 1 << 50,
}

// parseSize reads a byte count such as "1073741824", "512M" or "50G".
func parseSize(s string) (int64, error) {
	s = strings.TrimSpace(s)
	i := strings.IndexFunc(s, func(r rune) bool { return (r < '0' || r > '9') && r != '.' })
	if i < 0 {
		i = len(s)
	}
	num, unit := s[:i], strings.ToUpper(strings.TrimSpace(s[i:]))
	mult, ok := sizeUnits[unit]
	if num == "" || !ok {
		return 0, fmt.Errorf("invalid size %q: want bytes or a number with K, M, G, T or P", s)
	}
	v, err := strconv.ParseFloat(num, 64)
	if err != nil {
		return 0, fmt.Errorf("invalid size %q: %w", s, err)
	}
	bytes := v * float64(mult)
	if bytes < 1 || bytes > math.MaxInt64/2 || (mult == 1 && v != math.Trunc(v)) {
		return 0, fmt.Errorf("invalid size %q: out of range", s)
	}
	return int64(bytes), nil
}

// sizeFlag is a flag.Value holding a byte count with optional unit.
type sizeFlag struct{ bytes int64 }

func (f *sizeFlag) String() string {
	if f == nil || f.bytes == 0 {
		return ""
	}
	return strconv.FormatInt(f.bytes, 10)
}

func (f *sizeFlag) Set(s string) error {
	n, err := parseSize(s)
	if err != nil {
		return err
	}
	f.bytes = n
	return nil
}

// listFlag collects a repeatable flag's values in order.
type listFlag []string

func (l *listFlag) String() string     { return strings.Join(*l, ",") }
func (l *listFlag) Set(s string) error { *l = append(*l, s); return nil }

// imageArgs are the options every command that opens an image shares.
type imageArgs struct {
	format  string
	maxSize sizeFlag
	json    bool
	quiet   bool
	verbose bool
	backend backendArgs
}

func (a *imageArgs) register(fs *flag.FlagSet) {
	fs.StringVar(&a.format, "format", "", "declare the image format `F`: raw or qcow2 (required: a format is never guessed)")
	fs.Var(&a.maxSize, "max-size", "refuse images whose virtual size exceeds `S` bytes; units K, M, G, T (default 1T)")
	fs.BoolVar(&a.json, "json", false, "print the result as JSON on standard output")
	fs.BoolVar(&a.quiet, "quiet", false, "print no progress on standard error")
	fs.BoolVar(&a.verbose, "verbose", false, "log the backend's steps and the appliance console on standard error")
}

// policy is the safety policy the image must pass.
func (a *imageArgs) policy() imagecheck.Policy {
	p := imagecheck.DefaultPolicy()
	if a.maxSize.bytes > 0 {
		p.MaxVirtualSize = a.maxSize.bytes
	}
	return p
}

// declared checks and returns the declared format.
func (a *imageArgs) declared() (imagecheck.Format, error) {
	if a.format == "" {
		return "", usagef("--format is required: declare the image's format (raw or qcow2); it is never guessed")
	}
	f, err := imagecheck.ParseFormat(a.format)
	if err != nil {
		return "", usagef("--format: %v", err)
	}
	return f, nil
}

// onePositional returns the single positional argument a command takes.
func wantPositional(cmd string, got []string, names ...string) error {
	if len(got) != len(names) {
		return usagef("%s takes %s, got %d argument(s)", cmd, strings.Join(names, " "), len(got))
	}
	return nil
}
