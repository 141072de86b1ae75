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
	"github.com/guestinject/guestinject/internal/guestabi"
	"github.com/guestinject/guestinject/vfs"
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

// rootSpecHelp describes --root's SPEC, for the flag's usage.
const rootSpecHelp = "name the guest root filesystem `SPEC` when the guest has several: DISK:PART (0:2; 0:0 the whole disk), LABEL=L, UUID=U, or LV=VG/LV (also /dev/VG/LV)"

// rootFlag is --root: the filesystem that holds the guest root.
type rootFlag struct {
	spec string
	root *vfs.Root // nil when not given
}

func (f *rootFlag) String() string {
	if f == nil {
		return ""
	}
	return f.spec
}

func (f *rootFlag) Set(s string) error {
	r, err := parseRootSpec(s)
	if err != nil {
		return err
	}
	f.spec, f.root = s, &r
	return nil
}

// parseRootSpec reads --root's SPEC into a vfs.Root.
func parseRootSpec(s string) (vfs.Root, error) {
	bad := func(why string) (vfs.Root, error) {
		return vfs.Root{}, fmt.Errorf("invalid root %q: %s; want DISK:PART, LABEL=L, UUID=U or LV=VG/LV", s, why)
	}
	if strings.ContainsFunc(s, func(r rune) bool { return r < ' ' || r == 0x7f }) {
		return bad("control character")
	}
	if k, v, ok := strings.Cut(s, "="); ok {
		if v == "" || len(v) > guestabi.MaxRootName {
			return bad("empty or too long")
		}
		switch strings.ToUpper(k) {
		case "LABEL":
			return vfs.Root{Label: v}, nil
		case "UUID":
			if strings.ContainsFunc(v, func(r rune) bool {
				return !(r >= '0' && r <= '9' || r >= 'a' && r <= 'f' || r >= 'A' && r <= 'F' || r == '-')
			}) {
				return bad("a UUID is hexadecimal digits and dashes")
			}
			return vfs.Root{UUID: v}, nil
		case "LV":
			return lvRoot(s, v)
		}
		return bad("unknown kind " + strconv.Quote(k))
	}
	if strings.HasPrefix(s, "/dev/") {
		return lvRoot(s, s)
	}
	d, p, ok := strings.Cut(s, ":")
	disk, derr := strconv.Atoi(d)
	part, perr := strconv.Atoi(p)
	if !ok || derr != nil || perr != nil || strconv.Itoa(disk) != d || strconv.Itoa(part) != p {
		return bad("not a disk and partition number")
	}
	if disk < 0 || disk > guestabi.MaxDisk || part < 0 || part > guestabi.MaxPartition {
		return bad("disk or partition out of range")
	}
	return vfs.Root{Volume: &vfs.VolumeRef{Disk: disk, Partition: part}}, nil
}

// lvRoot reads an LVM logical volume, VG/LV or /dev/VG/LV.
func lvRoot(spec, v string) (vfs.Root, error) {
	name := strings.TrimPrefix(v, "/dev/")
	vg, lv, ok := strings.Cut(name, "/")
	if !ok || !guestabi.ValidLVMName(vg) || !guestabi.ValidLVMName(lv) || vg == "mapper" {
		return vfs.Root{}, fmt.Errorf("invalid root %q: a logical volume is VG/LV or /dev/VG/LV, with letters, digits and +_.- in each name", spec)
	}
	return vfs.Root{LV: name}, nil
}
