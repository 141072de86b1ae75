package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"strconv"
	"strings"

	"github.com/guestinject/guestinject/imagecheck"
	"github.com/guestinject/guestinject/internal/bytesize"
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

// sizeFlag is a flag.Value holding a byte count with optional unit, read
// by bytesize.Parse: exact, never rounded.
type sizeFlag struct{ bytes int64 }

func (f *sizeFlag) String() string {
	if f == nil || f.bytes == 0 {
		return ""
	}
	return strconv.FormatInt(f.bytes, 10)
}

func (f *sizeFlag) Set(s string) error {
	n, err := bytesize.Parse(s)
	if err != nil {
		return err
	}
	if n == 0 {
		return fmt.Errorf("invalid size %q: want at least 1 byte", s)
	}
	f.bytes = n
	return nil
}

// attachFormats are the formats the backends attach, as messages name them.
const attachFormats = "raw or qcow2"

// checkFormats are the formats check verifies: every format imagecheck
// lets a caller declare (imagecheck.ParseFormat's names).
const checkFormats = "raw, qcow2, qed, vmdk, vpc (or vhd), vhdx, vdi, luks or iso"

// imageArgs are the options every command that opens an image shares.
type imageArgs struct {
	format  string
	formats string // what --format may name, for messages
	maxSize sizeFlag
	json    bool
	quiet   bool
	verbose bool
	backend backendArgs
}

// register adds the shared options of a command that attaches the image.
func (a *imageArgs) register(fs *flag.FlagSet) { a.registerFor(fs, attachFormats) }

// registerFor adds the shared options, --format naming formats.
func (a *imageArgs) registerFor(fs *flag.FlagSet, formats string) {
	a.formats = formats
	fs.StringVar(&a.format, "format", "", "declare the image format `F`: "+formats+" (required: a format is never guessed)")
	fs.Var(&a.maxSize, "max-size", "refuse images whose virtual size exceeds `S` (default 1TiB): a whole number of bytes, optionally with a unit: "+bytesize.Units+"; a fraction only when exact (1.5G)")
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
		return "", usagef("--format is required: declare the image's format (%s); it is never guessed", a.formats)
	}
	f, err := imagecheck.ParseFormat(a.format)
	if err != nil {
		return "", usagef("--format: %v", err)
	}
	return f, nil
}

// policyArgs are check's options for the imagecheck.Policy fields that
// --format (AllowedFormats) and --max-size (MaxVirtualSize) do not set.
type policyArgs struct {
	allowEncryption bool
	allowISOHybrid  bool
}

func (a *policyArgs) register(fs *flag.FlagSet) {
	fs.BoolVar(&a.allowEncryption, "allow-encryption", false, "accept an encrypted image (luks, qcow2 with AES or LUKS encryption); refused by default")
	fs.BoolVar(&a.allowISOHybrid, "allow-iso-hybrid", false, "accept an iso image that also carries a GPT or MBR partition table; refused by default")
}

// checkPolicy is the policy check applies: the declared format is allowed,
// since declaring it is the caller's permission to check it, within
// --max-size and as widened by the --allow options.
func checkPolicy(a *imageArgs, pa *policyArgs, declared imagecheck.Format) imagecheck.Policy {
	p := a.policy()
	p.AllowedFormats = []imagecheck.Format{declared}
	p.AllowEncryption = pa.allowEncryption
	p.AllowISOHybrid = pa.allowISOHybrid
	return p
}

// wantPositional checks that a command got the positional arguments names.
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
