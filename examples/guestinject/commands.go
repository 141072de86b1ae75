package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"

	"github.com/guestinject/guestinject/appliance"
	"github.com/guestinject/guestinject/imagecheck"
	"github.com/guestinject/guestinject/vfs"
)

// Exit statuses, documented in the package comment and in the help.
const (
	exitOK          = 0
	exitFailed      = 1
	exitUsage       = 2
	exitRejected    = 3
	exitUnavailable = 4
)

// command is one subcommand.
type command struct {
	name     string
	synopsis string
	summary  string
	run      func(ctx context.Context, args []string, io stdio) error
	flags    func() *flag.FlagSet // the command's flags, for help
}

func commands() []command {
	return []command{
		{"check", "check IMAGE --format F [--max-size S] [--allow-encryption] [--allow-iso-hybrid]\n" +
			"       [--cross-check] [--json]",
			"verify that an image is what it claims and safe to open", runCheck, func() *flag.FlagSet { return newCheckFlags(new(checkArgs)) }},
		{"convert", "convert IN --format F OUT --to raw|qcow2 [--max-size S] [--json] [--quiet]",
			"check an upload and convert it into a new raw or qcow2 image", runConvert, func() *flag.FlagSet { return newConvertFlags(new(convertArgs)) }},
		{"inject", "inject IMAGE --format F [--ssh-key USER:FILE] [--password USER:FILE] [--hostname H]\n" +
			"       [--network FILE.json|FILE.yaml] [--meta K=V] [--file SRC:DST[:MODE[:OWNER]]]\n" +
			"       [--firstboot SCRIPT] [virt-customize options...] [--commands-from-file FILE]\n" +
			"       [--cloud-init-user-data FILE] [--cloud-init-meta-data FILE]\n" +
			"       [--cloud-init-network-config FILE] [--cloud-init-vendor-data FILE]\n" +
			"       [--dry-run] [--backend appliance|libvirt|mount] [--root SPEC] [--json]",
			"put keys, passwords, network, metadata and files into the guest", runInject, func() *flag.FlagSet { return newInjectFlags(new(injectArgs)) }},
		{"seed", "seed OUT [USER-DATA [META-DATA]] [--user-data FILE] [--meta-data FILE]\n" +
			"       [--network-config FILE] [--vendor-data FILE] [--filesystem iso9660|vfat]\n" +
			"       [--hostname H] [--instance-id ID] [--json]",
			"write a cloud-init NoCloud seed volume (label cidata) to attach to a VM", runSeed, func() *flag.FlagSet { return newSeedFlags(new(seedArgs)) }},
		{"reset", "reset IMAGE --format F [--operations LIST] [--list-operations] [--max-entries N]\n" +
			"       [--dry-run] [--backend appliance|libvirt|mount] [--root SPEC] [--json]",
			"reset the guest for cloning, as virt-sysprep does", runReset, func() *flag.FlagSet { return newResetFlags(new(resetArgs)) }},
		{"inspect", "inspect IMAGE --format F [--root SPEC] [--json]",
			"report the image, its operating system and filesystems", runInspect, func() *flag.FlagSet { return newInspectFlags(new(inspectArgs)) }},
		{"cat", "cat IMAGE --format F [--root SPEC] PATH",
			"print a guest file (read-only)", runCat, func() *flag.FlagSet { return newCatFlags(new(catArgs)) }},
		{"ls", "ls IMAGE --format F [-l] [--root SPEC] [--json] PATH",
			"list a guest directory (read-only)", runLs, func() *flag.FlagSet { return newLsFlags(new(lsArgs)) }},
	}
}

// usageError is a mistake on the command line: exit status 2.
type usageError struct{ msg string }

func (e *usageError) Error() string { return e.msg }

func usagef(format string, args ...any) error {
	return &usageError{msg: fmt.Sprintf(format, args...)}
}

// unavailableError is a backend or prerequisite that is missing: exit status 4.
type unavailableError struct{ msg string }

func (e *unavailableError) Error() string { return e.msg }

// rejectedError reports a check that refused the image, already printed.
var errRejectedPrinted = errors.New("image rejected")

func run(ctx context.Context, args []string, io stdio) int {
	if len(args) == 0 {
		printUsage(io.err)
		return exitUsage
	}
	name, rest := args[0], args[1:]
	switch name {
	case "help", "-h", "-help", "--help":
		return runHelp(rest, io)
	}
	for _, c := range commands() {
		if c.name == name {
			return exitCode(c.run(ctx, rest, io), io.err)
		}
	}
	fmt.Fprintf(io.err, "guestinject: unknown command %q\n\n", name)
	printUsage(io.err)
	return exitUsage
}

// exitCode prints err (unless it was printed already) and maps it to an
// exit status.
func exitCode(err error, stderr io.Writer) int {
	var usage *usageError
	var unavailable *unavailableError
	switch {
	case err == nil:
		return exitOK
	case errors.Is(err, flag.ErrHelp):
		return exitOK
	case errors.As(err, &usage):
		fmt.Fprintf(stderr, "guestinject: %v\nRun 'guestinject help' for usage.\n", err)
		return exitUsage
	case errors.Is(err, errRejectedPrinted):
		return exitRejected
	case errors.Is(err, imagecheck.ErrRejected), errors.Is(err, appliance.ErrImageReferences),
		errors.Is(err, vfs.ErrUnsupportedFormat):
		fmt.Fprintf(stderr, "guestinject: %v\n", err)
		return exitRejected
	case errors.As(err, &unavailable):
		fmt.Fprintf(stderr, "guestinject: %v\n", err)
		return exitUnavailable
	}
	fmt.Fprintf(stderr, "guestinject: %v\n", err)
	return exitFailed
}

func runHelp(args []string, io stdio) int {
	if len(args) == 0 {
		printUsage(io.out)
		return exitOK
	}
	for _, c := range commands() {
		if c.name == args[0] {
			printCommandHelp(io.out, c)
			return exitOK
		}
	}
	fmt.Fprintf(io.err, "guestinject: no help for %q\n", args[0])
	return exitUsage
}

func printUsage(w io.Writer) {
	fmt.Fprint(w, "guestinject checks disk images and injects files into them before first boot.\n\nUsage:\n")
	for _, c := range commands() {
		fmt.Fprintf(w, "  guestinject %-8s %s\n", c.name, c.summary)
	}
	fmt.Fprint(w, "\nRun 'guestinject help COMMAND' or 'guestinject COMMAND --help' for its options.\n\n")
	fmt.Fprint(w, exitStatusHelp)
}

const exitStatusHelp = `Exit status:
  0  success (check: the image is safe under the policy)
  1  the operation failed (I/O, the guest refused a change, a boot failure...)
  2  usage error
  3  the image was rejected as unsafe or not what --format declares
  4  a backend or prerequisite is not available
`

func printCommandHelp(w io.Writer, c command) {
	fmt.Fprintf(w, "Usage: guestinject %s\n\n%s.\n\n", c.synopsis, upperFirst(c.summary))
	if extra := commandNotes[c.name]; extra != "" {
		fmt.Fprintf(w, "%s\n", extra)
	}
	fs := c.flags()
	if fs.Lookup("root") != nil {
		fmt.Fprintf(w, "%s\n", rootNote)
	}
	fmt.Fprint(w, "Options (one or two dashes; before or after the arguments):\n")
	fs.SetOutput(w)
	fs.PrintDefaults()
	fmt.Fprintf(w, "\n%s", exitStatusHelp)
}

func upperFirst(s string) string {
	if s == "" {
		return s
	}
	return strings.ToUpper(s[:1]) + s[1:]
}

// newFlagSet returns a FlagSet whose -h prints the command's full help.
func newFlagSet(name string) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	return fs
}

// rootNote explains --root for the commands that open the guest.
const rootNote = `The guest root is found by content (the filesystem with /etc/os-release or
/etc/fstab); when several qualify the command fails and lists them, and
--root names one: --root 0:2 (disk 0, partition 2; 0:0 the whole disk),
--root LABEL=rootfs, --root UUID=0c0ffee0-..., --root LV=vg/root. With
--backend mount only a partition, LABEL= or UUID= can be named.
`

// commandNotes say, per command, what the option list cannot.
var commandNotes = map[string]string{
	"check": `IMAGE is inspected without trusting it: the content must be the declared
format and nothing else, name no other file (backing file, data file, VMDK
extent), and claim a virtual size within --max-size. Nothing else opens it.

--format may be any format imagecheck verifies: raw, qcow2, qed, vmdk, vpc
(vhd), vhdx, vdi, luks or iso; declaring it is the permission to check it.
The other commands open only raw and qcow2. Encrypted images (luks, encrypted
qcow2) pass only with --allow-encryption, ISO images that also carry a
partition table only with --allow-iso-hybrid.

Sizes are whole bytes or take a unit: 512M, 50G or 50GiB, 1T (powers of
1024, as qemu-img reads them), 50GB (powers of 1000). A fraction is accepted
only when it names a whole number of bytes: 1.5G yes, 0.1K no.
`,
	"convert": `IN is checked first, as check does, under a policy that accepts raw, qcow2,
qed, vmdk, vhd, vhdx and vdi uploads. qemu-img convert then reads it through a
descriptor, with the declared format as its driver and no backing file, under
CPU time, memory, file size and wall-time limits, and writes OUT, which must
not exist: it is created, never replaced. OUT is checked in turn (the --to
format, IN's virtual size, no other file named) before convert succeeds; on
any failure or interruption OUT is removed. Progress goes to standard error.

Example:
  guestinject convert upload.vmdk --format vmdk disk.qcow2 --to qcow2
`,
	"inject": `The image is checked first, then opened in a single-use appliance VM whose
kernel parses the guest filesystem. Every change is planned before the first
write; the changes reach the image only if all of them succeed (the image is
otherwise left byte-for-byte unchanged). --dry-run prints the plan and opens the
image read-only. Passwords come from a file or from standard input ("-"), never
from the command line. With --json the report (or plan) is printed as JSON.

Progress goes to standard error; the first run builds the appliance's agent and
initramfs (seconds), later runs reuse them from the user cache directory.

virt-customize's options work with its words where the library does the same:
--root-password, --password USER:file:F, --ssh-inject, --hostname, --timezone,
--mkdir, --upload, --write, --append-line, --edit, --copy-in, --tar-in,
--delete, --move, --link, --chmod, --chown, --touch, --truncate, --run-command,
--run, --install, --uninstall, --selinux-relabel, --firstboot,
--firstboot-command and --commands-from-file. The file operations and guest commands (--mkdir,
--upload, --write, --append-line, --edit, --copy-in, --tar-in, --delete,
--move, --link, --chmod, --chown, --touch, --truncate, --run-command, --run)
are planned and applied in the order given, each seeing the guest as the
earlier ones leave it, and --dry-run lists them in that order (up to the first
command, then what waits for it); --firstboot and --firstboot-command run in
the order given. The rest is not interleaved: --file and --meta are written
before the file operations, and the host name, network, SSH keys and passwords
after them, wherever they stand on the command line.

Network: --network takes OpenStack's network_data.json (.json), whose
interfaces are known only by MAC address, or guestinject's YAML (.yaml), and
writes it for the guest's network tool or the one --network-renderer names.
MAC addresses are matched where the format can; for ifupdown each is pinned to
a name (lan0, lan1...) by a systemd .link file or a udev rule, both listed as
changes. Bonds, VLANs and the IPv6 types are rendered for every tool that can
express them; what one cannot is refused, naming the tool and the feature.

SELinux: on a guest with SELinux enabled, the files and directories the
injection creates are relabelled last, with the guest's own setfiles run in the
appliance VM, or at the guest's first boot when that cannot run (no setfiles or
policy file_contexts in the guest, --backend mount); the report's selinux change
says which. --selinux-relabel relabels the whole filesystem that way,
--no-selinux-relabel nothing.

Passwords: USER:FILE and USER:file:FILE read the first line of FILE ("-" is
standard input); USER:locked:file:FILE also locks the password. The selectors
password:PASSWORD (a password on the command line), random and disabled are
refused. A FILE whose name starts like a selector (file:, locked:,
password:) or is random or disabled is written ./NAME. --ssh-inject takes
USER:file:FILE or USER:string:KEY; USER alone (the host user's default key) is
refused. Guest commands (--run-command, --run) run only in the appliance VM,
never on the host, and with --backend mount are refused. --install and
--uninstall run the guest's package manager there too, and need the package
network (--package-mirror URL): the VM reaches the listed http mirrors through
a host proxy and nothing else. --update is not supported.

Examples:
  guestinject inject guest.qcow2 --format qcow2 --ssh-key root:id_ed25519.pub \
      --password root:- --hostname web-1 --network net.yaml < password.txt
  guestinject inject guest.img --format raw --file motd:/etc/motd:0644:root:root --dry-run
  guestinject inject guest.qcow2 --format qcow2 --root-password file:pw.txt \
      --ssh-inject root:file:id_ed25519.pub --mkdir /opt/app \
      --upload app.conf:/opt/app/ --chmod 0600:/opt/app/app.conf \
      --append-line /etc/hosts:"192.0.2.5 db" --firstboot-command 'systemctl enable app'
`,
	"reset": `Removes what makes one installed guest distinct, so that clones of it do not
share it: the machine ID, SSH host keys, cloud-init state, DHCP leases, udev
persistent net rules, HWADDR lines, logs (truncated, rotated ones removed),
shell histories, temporary files, package caches and the random seed. The
image is checked and opened as inject does; every change is planned first
and the changes reach the image only if all succeed. Nothing is followed
through a symlink, and a guest whose directories hold more than
--max-entries entries in all is refused, unchanged.

--operations takes virt-sysprep's syntax: without it the default set runs
(--list-operations marks it with a star); with it, the operations named,
left to right: NAME adds, -NAME removes, defaults and all add those sets.
  --operations ssh-hostkeys,machine-id   only these two
  --operations defaults,-logfiles        the default set but the logs

Examples:
  guestinject reset golden.qcow2 --format qcow2 --dry-run
  guestinject reset golden.qcow2 --format qcow2 --operations defaults,-tmp-files
  guestinject reset --list-operations
`,
	"inspect": `Reports what the image header says, the filesystem of an unpartitioned raw
image (from its superblock), and, read through the appliance: the guest's
os-release, host name, init system, network configuration files, /etc/fstab
and login users. The image is opened read-only.
`,
	"cat": `Prints the guest file PATH (absolute, resolved inside the guest) to standard
output. The image is opened read-only.
`,
	"ls": `Lists the guest directory PATH. Symlinks are shown, not followed. The image is
opened read-only.
`,
}
