package main

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strconv"
	"strings"

	"github.com/guestinject/guestinject/inject"
)

// custOpt is one customization option as given: on the command line, or
// on a line of a --commands-from-file file (where says which).
type custOpt struct {
	name  string // without dashes: "mkdir"
	value string
	where string // "" on the command line, else "FILE:LINE"
}

// custFlag is the flag.Value of one customization option: every one of
// them appends to the same list, so that the list keeps the order of the
// command line across different options, which the flag package does not.
type custFlag struct {
	name string
	list *[]custOpt
}

func (f custFlag) String() string { return "" }

func (f custFlag) Set(s string) error {
	if f.name == "commands-from-file" {
		if s == "-" {
			return fmt.Errorf("name a file: standard input is kept for passwords and keys")
		}
		data, err := readSmallFile(s, nil)
		if err != nil {
			return err
		}
		opts, err := parseCommandsFile(s, data)
		if err != nil {
			return err
		}
		*f.list = append(*f.list, opts...)
		return nil
	}
	// Checked when the Spec is built, so that the flag package's message,
	// which quotes the value, never repeats a mistyped password.
	*f.list = append(*f.list, custOpt{name: f.name, value: s})
	return nil
}

// custOption describes one customization option: its argument, its help,
// and a syntax check that does no I/O (the files it names are read when
// the Spec is built).
type custOption struct {
	arg, usage string
	check      func(string) error
}

// customizeOptions are the options that go, in order, into the Spec. The
// first group are guestinject's own; the rest speak virt-customize's words.
var customizeOptions = map[string]custOption{
	"ssh-key": {"USER:FILE", "authorize SSH keys from `USER:FILE`: FILE's authorized_keys lines, for guest USER; repeatable", func(s string) error {
		_, _, err := splitUserFile("ssh-key", s)
		return err
	}},
	"password": {"USER:SELECTOR", "set guest USER's password: `USER:FILE` or USER:file:FILE (FILE's first line; \"-\" is standard input), USER:locked:file:FILE also locks it; the password itself is never accepted on the command line; repeatable", func(s string) error {
		_, _, _, err := parsePasswordArg(s)
		return err
	}},
	"root-password": {"SELECTOR", "set root's password, as virt-customize: `SELECTOR` file:FILE or locked:file:FILE (password:, random and disabled are refused)", func(s string) error {
		_, _, err := passwordSelector("root-password", s)
		return err
	}},
	"hostname": {"H", "set the guest's host name `H` (/etc/hostname and /etc/hosts); the last one given counts", func(string) error { return nil }},
	"meta": {"K=V", "add `K=V` to the Nova-style /meta.js; repeatable", func(s string) error {
		_, err := parseMetaFlags([]string{s})
		return err
	}},
	"file": {"SRC:DST[:MODE[:OWNER]]", "copy a host file, streamed: `SRC:DST[:MODE[:OWNER]]`, MODE octal (default 0644), OWNER USER[:GROUP] by guest name or number (default root:root); written before the file operations; repeatable", func(s string) error {
		_, err := parseFileFlag(s)
		return err
	}},
	"firstboot": {"SCRIPT", "run the host shell `SCRIPT` once, as root, at the guest's first boot; repeatable", func(string) error { return nil }},
	"firstboot-command": {"CMD", "run the shell command `CMD` once, as root, at the guest's first boot, in order with --firstboot; repeatable", func(s string) error {
		if strings.TrimSpace(s) == "" {
			return fmt.Errorf("empty command")
		}
		return nil
	}},
	"ssh-inject": {"USER:SELECTOR", "authorize SSH keys for guest USER, as virt-customize: `USER:file:FILE` (authorized_keys lines) or USER:string:KEY; USER alone (the host user's default key) is refused", func(s string) error {
		_, _, err := parseSSHInject(s)
		return err
	}},
	"mkdir": {"DIR", "create the guest directory `DIR` and its missing parents (0755, root:root), as mkdir -p", checkGuestPath},
	"upload": {"FILE:DEST", "write the host `FILE:DEST` to guest path DEST (DEST ending in / names a directory: DEST/basename(FILE)), with FILE's permission bits; the owner of a new file is root:root, of an existing one kept (virt-customize copies the host owner); at most 64MiB, held in memory (--file streams any size)", func(s string) error {
		_, _, err := parseUpload(s)
		return err
	}},
	"write": {"FILE:CONTENT", "write `FILE:CONTENT`: CONTENT (no newline added) becomes the guest FILE's content; an existing file keeps its mode and owner, a new one is 0644 root:root in an existing directory", func(s string) error {
		_, _, err := splitGuestPathArg("FILE:CONTENT", s, true)
		return err
	}},
	"append-line": {"FILE:LINE", "append `FILE:LINE` and a newline to the guest FILE (created when missing), a newline first if the file lacks one; unlike virt-customize a line already in the file is not added again", func(s string) error {
		_, line, err := splitGuestPathArg("FILE:LINE", s, true)
		if err == nil && strings.ContainsAny(line, "\n\x00") {
			err = fmt.Errorf("%q: a line holds no newline or NUL", s)
		}
		return err
	}},
	"delete": {"PATH", "delete the guest `PATH`, recursively as virt-customize does (a tree of more than 10000 entries is refused); a missing PATH is fine", checkGuestPath},
	"move": {"SRC:DEST", "rename the guest `SRC:DEST`; unlike mv, DEST must not exist (not even as a directory to move into) and its parent must", func(s string) error {
		_, _, err := parseMove(s)
		return err
	}},
	"link": {"TARGET:LINK[:LINK...]", "create each guest LINK as a symlink to TARGET, `TARGET:LINK[:LINK...]`; an existing LINK is refused unless it already points at TARGET (--delete it first)", func(s string) error {
		_, _, err := parseLink(s)
		return err
	}},
	"chmod": {"PERMS:FILE", "set the mode of a guest file or directory, `PERMS:FILE`, PERMS octal with a leading 0 (0755; virt-customize reads 755 as decimal, so it is refused)", func(s string) error {
		_, _, err := parseChmod(s)
		return err
	}},
	"chown": {"UID:GID:PATH", "set the owner of a guest path, `UID:GID:PATH`, by number or guest name (a symlink's own owner; set-id bits are cleared, as chown does)", func(s string) error {
		_, err := parseChown(s)
		return err
	}},
	"edit": {"FILE:EXPR", "edit the existing guest `FILE:EXPR` line by line with EXPR, a Perl substitution s/RE/REPL/ with flags g, i, m, s (any Perl delimiter: s|a|b|, s{a}{b}); RE is run by Go's RE2 regexp, so backreferences, lookaround and Perl code are refused; the file keeps its mode and owner; at most 16MiB", func(s string) error {
		_, err := parseEditArg(s)
		return err
	}},
	"copy-in": {"LOCALPATH:REMOTEDIR", "copy the host file or directory tree `LOCALPATH:REMOTEDIR` into the existing guest directory REMOTEDIR (LOCALPATH's base name appears in it), as virt-customize: modes, host owners (by number) and modification times kept, existing regular files replaced, existing directories merged into; symlinks are copied as links, never followed; FIFOs, devices and hard links are refused; at most 100000 entries and 4GiB", func(s string) error {
		_, _, err := parseLocalRemote("LOCALPATH:REMOTEDIR", s)
		return err
	}},
	"tar-in": {"TARFILE:REMOTEDIR", "unpack the host tar archive `TARFILE:REMOTEDIR` (gzip-compressed or not, told by its first bytes) into the existing guest directory REMOTEDIR, as virt-tar-in: as --copy-in for what is kept and replaced; names that are absolute, climb out with .., or lead through a symlink are refused; the archive is read once while planning, its files spooled to $TMPDIR", func(s string) error {
		_, _, err := parseLocalRemote("TARFILE:REMOTEDIR", s)
		return err
	}},
	"timezone": {"TZ", "set the guest's time zone to the tz database name `TZ` (Europe/Berlin), which the guest's /usr/share/zoneinfo must hold: /etc/localtime links to it, and /etc/timezone names it where the guest uses one; the last one given counts", func(s string) error {
		if s == "" || strings.ContainsAny(s, " \t\n") {
			return fmt.Errorf("%q is not a time zone name", s)
		}
		return nil
	}},
	"touch":    {"FILE", "set the access and modification times of the guest `FILE` (a file or directory) to now, as touch does, creating it empty (0644, root:root) when missing", checkGuestPath},
	"truncate": {"FILE", "truncate the existing guest `FILE` to zero length, keeping its mode and owner", checkGuestPath},
	"run-command": {"CMD", "run the shell command `CMD` now, in the guest's own userland inside the appliance VM (the guest's /bin/sh -c, as root, chrooted, no network, bounded by --command-timeout; never on the host), in order with the file operations; a failure fails the injection and leaves the image unchanged; repeatable", func(s string) error {
		if strings.TrimSpace(s) == "" {
			return fmt.Errorf("empty command")
		}
		return nil
	}},
	"install":            {"PKGS", "install the comma-separated packages `PKGS` now with the guest's package manager (apt-get, dnf, zypper or apk) in the appliance VM; needs the package network (--package-mirror), through which only the listed mirrors are reachable, from the guest's own repository configuration; repeatable", checkPackageList},
	"uninstall":          {"PKGS", "remove the comma-separated packages `PKGS` now with the guest's package manager, as --install; repeatable", checkPackageList},
	"run":                {"SCRIPT", "run the host shell `SCRIPT` now in the guest, as --run-command does; repeatable", func(string) error { return nil }},
	"commands-from-file": {"FILE", "read customization options from `FILE`, virt-customize's format: \"option argument\" a line, # comments, blank lines, a trailing \\ continues a line; they take this option's place in the order", func(string) error { return nil }},
}

// unsupportedCustomize are virt-customize options guestinject does not
// have, with the reason.
var unsupportedCustomize = map[string]string{
	"copy":               "copying inside the guest is not supported",
	"update":             "updating packages is not supported: --firstboot-command can run the package manager at first boot",
	"firstboot-install":  "use --firstboot-command with the guest's package manager",
	"truncate-recursive": "not supported: --truncate each file",
	"scrub":              "not supported",
	"password-crypto":    "passwords are always hashed with SHA-512 crypt",
	"sm-credentials":     "not supported",
	"sm-register":        "not supported",
	"sm-attach":          "not supported",
	"sm-remove":          "not supported",
	"sm-unregister":      "not supported",
	"chmod-recursive":    "not supported",
}

// customizeNames are customizeOptions' names in a fixed order.
func customizeNames() []string {
	names := make([]string, 0, len(customizeOptions))
	for n := range customizeOptions {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// registerCustomize adds every customization option to fs, appending to
// list.
func registerCustomize(fs *flag.FlagSet, list *[]custOpt) {
	for _, name := range customizeNames() {
		fs.Var(custFlag{name: name, list: list}, name, customizeOptions[name].usage)
	}
}

// checkCustOpt checks the syntax of one option.
func checkCustOpt(o custOpt) error {
	c, ok := customizeOptions[o.name]
	if !ok {
		return fmt.Errorf("unknown option %q", o.name)
	}
	return c.check(o.value)
}

// unsupportedFlag explains a "flag provided but not defined" error for
// an option of virt-customize's that guestinject does not have.
func unsupportedFlag(err error) error {
	const marker = "flag provided but not defined: -"
	msg := err.Error()
	i := strings.Index(msg, marker)
	if i < 0 {
		return err
	}
	name := strings.TrimPrefix(msg[i+len(marker):], "-")
	if why, ok := unsupportedCustomize[name]; ok {
		return usagef("--%s (virt-customize's) is not supported: %s", name, why)
	}
	return err
}

// maxCommandsLine bounds one logical line of a commands file.
const maxCommandsLine = 1 << 16

// parseCommandsFile reads virt-customize's --commands-from-file format:
// one option a line, its name without dashes (dashes are accepted), a
// space or tab, and its argument, taken to the end of the line as it is;
// blank lines and lines starting with # (after blanks) are skipped; a line
// ending in \ continues on the next, which is appended as it is. name is
// the file's name for messages.
func parseCommandsFile(name string, data []byte) ([]custOpt, error) {
	var opts []custOpt
	lines := strings.Split(string(data), "\n")
	for i := 0; i < len(lines); i++ {
		start := i + 1
		line := strings.TrimSuffix(lines[i], "\r")
		if strings.IndexByte(line, 0) >= 0 {
			return nil, fmt.Errorf("%s:%d: NUL byte", name, start)
		}
		trimmed := strings.TrimLeft(line, " \t")
		if trimmed == "" || trimmed[0] == '#' {
			continue
		}
		for strings.HasSuffix(line, `\`) {
			line = strings.TrimSuffix(line, `\`)
			if i+1 >= len(lines) {
				return nil, fmt.Errorf("%s:%d: the last line ends in a continuation \\", name, start)
			}
			i++
			next := strings.TrimSuffix(lines[i], "\r")
			if strings.IndexByte(next, 0) >= 0 {
				return nil, fmt.Errorf("%s:%d: NUL byte", name, i+1)
			}
			line += next
			if len(line) > maxCommandsLine {
				return nil, fmt.Errorf("%s:%d: a line longer than %d bytes", name, start, maxCommandsLine)
			}
		}
		line = strings.TrimLeft(line, " \t")
		opt, arg := line, ""
		if j := strings.IndexAny(line, " \t"); j >= 0 {
			opt, arg = line[:j], strings.TrimLeft(line[j+1:], " \t")
		}
		opt = strings.TrimPrefix(strings.TrimPrefix(opt, "-"), "-")
		o := custOpt{name: opt, value: arg, where: name + ":" + strconv.Itoa(start)}
		if _, ok := customizeOptions[opt]; !ok {
			if why, ok := unsupportedCustomize[opt]; ok {
				return nil, fmt.Errorf("%s: %s is not supported: %s", o.where, opt, why)
			}
			return nil, fmt.Errorf("%s: unknown option %q", o.where, opt)
		}
		if opt == "commands-from-file" {
			return nil, fmt.Errorf("%s: commands-from-file cannot be nested", o.where)
		}
		if arg == "" {
			return nil, fmt.Errorf("%s: %s needs an argument", o.where, opt)
		}
		if err := checkCustOpt(o); err != nil {
			return nil, fmt.Errorf("%s: %s: %w", o.where, opt, err)
		}
		opts = append(opts, o)
	}
	return opts, nil
}

// checkGuestPath checks that a guest path is absolute and clean.
func checkGuestPath(p string) error {
	if p == "" || !path.IsAbs(p) || path.Clean(p) != p {
		return fmt.Errorf("the guest path %q must be absolute and clean", p)
	}
	if p == "/" {
		return fmt.Errorf("the guest path must not be /")
	}
	return nil
}

// splitGuestPathArg splits PATH:REST at the first colon, PATH a guest
// path; REST may be empty when emptyOK.
func splitGuestPathArg(form, s string, emptyOK bool) (string, string, error) {
	p, rest, ok := strings.Cut(s, ":")
	if !ok || (!emptyOK && rest == "") {
		return "", "", fmt.Errorf("%q: want %s", s, form)
	}
	if err := checkGuestPath(p); err != nil {
		return "", "", err
	}
	return p, rest, nil
}

// parsePasswordArg reads --password USER:SELECTOR, SELECTOR being
// virt-customize's (file:F, locked:file:F) or guestinject's FILE.
func parsePasswordArg(s string) (user, file string, lock bool, err error) {
	user, sel, ok := strings.Cut(s, ":")
	if !ok || user == "" || sel == "" {
		return "", "", false, usagef("--password %q: want USER:FILE or USER:file:FILE", s)
	}
	file, lock, err = passwordSelector("password", sel)
	return user, file, lock, err
}

// passwordSelector reads a password SELECTOR into the host file holding
// the password. A FILE that starts as a selector would (file:, password:,
// locked:, random, disabled) is read as one; write ./NAME for such a file.
func passwordSelector(flagName, sel string) (file string, lock bool, err error) {
	rest := sel
	if r, ok := strings.CutPrefix(sel, "locked:"); ok {
		rest, lock = r, true
	}
	switch {
	case strings.HasPrefix(rest, "file:"):
		file = strings.TrimPrefix(rest, "file:")
		if file == "" {
			return "", false, usagef("--%s %q: file: names no file", flagName, sel)
		}
		return file, lock, nil
	case strings.HasPrefix(rest, "password:"):
		return "", false, usagef("--%s: the password:PASSWORD selector is refused: a password is never taken from the command line; put it in a file and give file:FILE (file:- reads standard input)", flagName)
	case rest == "random":
		return "", false, usagef("--%s %q: random passwords are not supported: generate one into a file and give file:FILE", flagName, sel)
	case sel == "disabled":
		return "", false, usagef("--%s %q: disabled is not supported (the library cannot set the hash to *): locked:file:FILE locks the password", flagName, sel)
	case lock:
		return "", false, usagef("--%s %q: after locked: want file:FILE", flagName, sel)
	}
	return sel, false, nil
}

// parseSSHInject reads --ssh-inject USER:file:FILE or USER:string:KEY.
func parseSSHInject(s string) (user string, keys func(io.Reader) ([]string, error), err error) {
	user, sel, ok := strings.Cut(s, ":")
	switch {
	case user == "":
		return "", nil, usagef("--ssh-inject %q: want USER:file:FILE or USER:string:KEY", s)
	case !ok:
		return "", nil, usagef("--ssh-inject %s: USER alone would inject the host user's default key; guestinject reads only the key files it is given: write %s:file:FILE", s, user)
	}
	if f, ok := strings.CutPrefix(sel, "file:"); ok && f != "" {
		return user, func(stdin io.Reader) ([]string, error) { return readKeyFile("ssh-inject", s, f, stdin) }, nil
	}
	if k, ok := strings.CutPrefix(sel, "string:"); ok && strings.TrimSpace(k) != "" {
		if strings.ContainsAny(k, "\n\r\x00") {
			return "", nil, usagef("--ssh-inject %s: a key is one line", user)
		}
		return user, func(io.Reader) ([]string, error) { return []string{strings.TrimSpace(k)}, nil }, nil
	}
	return "", nil, usagef("--ssh-inject %q: want USER:file:FILE or USER:string:KEY", s)
}

// maxUpload bounds a file --upload reads into memory.
const maxUpload = 64 << 20

// parseUpload reads --upload FILE:DEST; a DEST ending in / is the
// directory that receives FILE under its base name.
func parseUpload(s string) (src, dst string, err error) {
	src, dst, ok := strings.Cut(s, ":")
	if !ok || src == "" || dst == "" {
		return "", "", fmt.Errorf("%q: want FILE:DEST", s)
	}
	if strings.HasSuffix(dst, "/") && dst != "/" {
		dst = strings.TrimSuffix(dst, "/")
		if err := checkGuestPath(dst); err != nil {
			return "", "", err
		}
		base := filepath.Base(src)
		if base == "." || base == ".." || base == string(filepath.Separator) {
			return "", "", fmt.Errorf("%q: FILE has no base name to upload under %s/", s, dst)
		}
		dst = path.Join(dst, base)
	}
	if err := checkGuestPath(dst); err != nil {
		return "", "", err
	}
	return src, dst, nil
}

func parseMove(s string) (from, to string, err error) {
	from, to, err = splitGuestPathArg("SRC:DEST", s, false)
	if err == nil {
		err = checkGuestPath(to)
	}
	return from, to, err
}

func parseLink(s string) (target string, links []string, err error) {
	parts := strings.Split(s, ":")
	if len(parts) < 2 || parts[0] == "" {
		return "", nil, fmt.Errorf("%q: want TARGET:LINK[:LINK...]", s)
	}
	for _, l := range parts[1:] {
		if err := checkGuestPath(l); err != nil {
			return "", nil, err
		}
	}
	return parts[0], parts[1:], nil
}

func parseChmod(s string) (fs.FileMode, string, error) {
	perms, file, ok := strings.Cut(s, ":")
	if !ok {
		return 0, "", fmt.Errorf("%q: want PERMS:FILE", s)
	}
	if len(perms) < 2 || perms[0] != '0' {
		return 0, "", fmt.Errorf("%q: write the permissions in octal with a leading 0, such as 0755 (virt-customize would read %s as decimal)", s, perms)
	}
	m, err := parseMode(perms)
	if err != nil {
		return 0, "", err
	}
	return m, file, checkGuestPath(file)
}

// parseLocalRemote reads LOCAL:REMOTEDIR, split at the last colon: a
// guest directory is absolute and clean, and may be /.
func parseLocalRemote(form, s string) (local, remote string, err error) {
	i := strings.LastIndex(s, ":")
	if i <= 0 || i == len(s)-1 {
		return "", "", fmt.Errorf("%q: want %s", s, form)
	}
	local, remote = s[:i], s[i+1:]
	if remote != "/" {
		if err := checkGuestPath(remote); err != nil {
			return "", "", err
		}
	}
	if local == "-" {
		return "", "", fmt.Errorf("%q: name a host file: standard input is kept for passwords and keys", s)
	}
	return local, remote, nil
}

// cliTreeOptions copy as virt-customize does, where that is safe: its
// tar runs as root in the appliance, keeping the source's owners and
// replacing existing files. Hard links and devices stay refused.
var cliTreeOptions = inject.TreeOptions{KeepOwners: true, Replace: true}

// parseEditArg reads --edit FILE:EXPR.
func parseEditArg(s string) (inject.Edit, error) {
	file, expr, err := splitGuestPathArg("FILE:EXPR", s, false)
	if err != nil {
		return inject.Edit{}, err
	}
	e, err := parsePerlSubst(expr)
	e.Path = file
	return e, err
}

func parseChown(s string) (inject.Chown, error) {
	parts := strings.SplitN(s, ":", 3)
	if len(parts) != 3 || parts[0] == "" || parts[1] == "" {
		return inject.Chown{}, fmt.Errorf("%q: want UID:GID:PATH", s)
	}
	c := inject.Chown{Path: parts[2]}
	var err error
	if c.UID, c.User, err = idOrName(parts[0]); err != nil {
		return inject.Chown{}, err
	}
	if c.GID, c.Group, err = idOrName(parts[1]); err != nil {
		return inject.Chown{}, err
	}
	return c, checkGuestPath(c.Path)
}

// readKeyFile reads authorized_keys lines from a host file, skipping
// blank lines and comments.
func readKeyFile(flagName, arg, file string, stdin io.Reader) ([]string, error) {
	data, err := readSmallFile(file, stdin)
	if err != nil {
		return nil, fmt.Errorf("--%s: %w", flagName, err)
	}
	var keys []string
	for l := range bytes.Lines(data) {
		line := strings.TrimSpace(string(l))
		if line != "" && !strings.HasPrefix(line, "#") {
			keys = append(keys, line)
		}
	}
	if len(keys) == 0 {
		return nil, usagef("--%s %s: %s holds no key", flagName, arg, file)
	}
	return keys, nil
}

// readUpload reads a host file for --upload: a regular file of at most
// maxUpload bytes, and its permission bits.
func readUpload(name string) ([]byte, fs.FileMode, error) {
	f, err := os.Open(name)
	if err != nil {
		return nil, 0, err
	}
	defer f.Close()
	info, err := f.Stat()
	if err != nil {
		return nil, 0, err
	}
	if !info.Mode().IsRegular() {
		return nil, 0, fmt.Errorf("%s is not a regular file", name)
	}
	if info.Size() > maxUpload {
		return nil, 0, fmt.Errorf("%s: larger than %d bytes (--file streams a file of any size)", name, maxUpload)
	}
	data, err := io.ReadAll(io.LimitReader(f, maxUpload+1))
	if err != nil {
		return nil, 0, err
	}
	if len(data) > maxUpload {
		return nil, 0, fmt.Errorf("%s: larger than %d bytes", name, maxUpload)
	}
	return data, info.Mode() & (fs.ModePerm | fs.ModeSetuid | fs.ModeSetgid | fs.ModeSticky), nil
}

// addCustomize adds one option to spec, reading the host files it names.
// It returns the host files to close after Apply.
func addCustomize(spec *inject.Spec, meta *[]string, o custOpt, stdin io.Reader) (*os.File, error) {
	wrap := func(err error) error {
		if err == nil || o.where == "" {
			return err
		}
		var u *usageError
		if errors.As(err, &u) {
			return usagef("%s: %v", o.where, err)
		}
		return fmt.Errorf("%s: %w", o.where, err)
	}
	bad := func(err error) error { return wrap(usagef("%s: %v", "--"+o.name, err)) }
	if err := checkCustOpt(o); err != nil {
		return nil, bad(err)
	}
	op := func(x inject.Operation) { spec.Operations = append(spec.Operations, x) }
	v := o.value
	switch o.name {
	case "ssh-key":
		k, err := parseSSHKeyFlag(v, stdin)
		if err != nil {
			return nil, wrap(err)
		}
		spec.SSHKeys = append(spec.SSHKeys, k)
	case "ssh-inject":
		user, keys, _ := parseSSHInject(v)
		ks, err := keys(stdin)
		if err != nil {
			return nil, wrap(err)
		}
		spec.SSHKeys = append(spec.SSHKeys, inject.SSHKeys{User: user, Keys: ks})
	case "password", "root-password":
		user, file, lock := "root", "", false
		if o.name == "password" {
			user, file, lock, _ = parsePasswordArg(v)
		} else {
			file, lock, _ = passwordSelector(o.name, v)
		}
		p, err := readPassword(o.name, user, file, stdin)
		if err != nil {
			return nil, wrap(err)
		}
		if lock {
			p.Lock = inject.Lock
		}
		spec.Passwords = append(spec.Passwords, p)
	case "hostname":
		spec.Hostname = v
	case "meta":
		*meta = append(*meta, v)
	case "file":
		fsp, _ := parseFileFlag(v)
		f, src, err := fsp.open()
		if err != nil {
			return nil, wrap(err)
		}
		spec.Files = append(spec.Files, f)
		return src, nil
	case "firstboot":
		c, err := parseFirstBoot(v, len(spec.FirstBoot), stdin)
		if err != nil {
			return nil, wrap(err)
		}
		spec.FirstBoot = append(spec.FirstBoot, c)
	case "firstboot-command":
		spec.FirstBoot = append(spec.FirstBoot, inject.Command{Name: fmt.Sprintf("%02d-command", len(spec.FirstBoot)+1), Script: v})
	case "mkdir":
		op(inject.Operation{Mkdir: &inject.Mkdir{Path: v}})
	case "upload":
		src, dst, _ := parseUpload(v)
		data, mode, err := readUpload(src)
		if err != nil {
			return nil, wrap(fmt.Errorf("--upload: %w", err))
		}
		op(inject.Operation{Write: &inject.Write{Path: dst, Content: data}})
		op(inject.Operation{Chmod: &inject.Chmod{Path: dst, Mode: mode}})
	case "write":
		p, content, _ := splitGuestPathArg("", v, true)
		op(inject.Operation{Write: &inject.Write{Path: p, Content: []byte(content)}})
	case "append-line":
		p, line, _ := splitGuestPathArg("", v, true)
		op(inject.Operation{AppendLine: &inject.AppendLine{Path: p, Line: line}})
	case "delete":
		op(inject.Operation{Delete: &inject.Delete{Path: v, Recursive: true}})
	case "move":
		from, to, _ := parseMove(v)
		op(inject.Operation{Move: &inject.Move{From: from, To: to}})
	case "link":
		target, links, _ := parseLink(v)
		for _, l := range links {
			op(inject.Operation{Symlink: &inject.Symlink{Path: l, Target: target}})
		}
	case "chmod":
		m, p, _ := parseChmod(v)
		op(inject.Operation{Chmod: &inject.Chmod{Path: p, Mode: m}})
	case "chown":
		c, _ := parseChown(v)
		op(inject.Operation{Chown: &c})
	case "copy-in":
		local, remote, _ := parseLocalRemote("", v)
		op(inject.Operation{CopyIn: &inject.CopyIn{Source: local, Dir: remote, TreeOptions: cliTreeOptions}})
	case "tar-in":
		local, remote, _ := parseLocalRemote("", v)
		f, err := os.Open(local)
		if err != nil {
			return nil, wrap(fmt.Errorf("--tar-in: %w", err))
		}
		op(inject.Operation{TarIn: &inject.TarIn{Reader: f, Dir: remote, TreeOptions: cliTreeOptions}})
		return f, nil
	case "timezone":
		spec.Timezone = v
	case "edit":
		e, _ := parseEditArg(v)
		op(inject.Operation{Edit: &e})
	case "touch":
		op(inject.Operation{Touch: &inject.Touch{Path: v}})
	case "truncate":
		op(inject.Operation{Truncate: &inject.Truncate{Path: v}})
	case "run-command":
		op(inject.Operation{RunCommand: &inject.RunCommand{Command: v}})
	case "install":
		op(inject.Operation{Install: &inject.Install{Packages: splitPackageList(v)}})
	case "uninstall":
		op(inject.Operation{Uninstall: &inject.Uninstall{Packages: splitPackageList(v)}})
	case "run":
		data, err := readSmallFile(v, nil)
		if err != nil {
			return nil, wrap(fmt.Errorf("--run: %w", err))
		}
		op(inject.Operation{Run: &inject.Run{Script: data, Name: filepath.Base(v)}})
	default:
		return nil, bad(fmt.Errorf("not a customization option"))
	}
	return nil, nil
}

// splitPackageList splits virt-customize's comma-separated package list.
func splitPackageList(s string) []string {
	var pkgs []string
	for p := range strings.SplitSeq(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			pkgs = append(pkgs, p)
		}
	}
	return pkgs
}

func checkPackageList(s string) error {
	if len(splitPackageList(s)) == 0 {
		return fmt.Errorf("no packages")
	}
	return nil
}
