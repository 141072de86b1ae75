package main

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"

	"github.com/guestinject/guestinject/inject"
)

// maxSecretFile bounds key, password and script files read from the host.
const maxSecretFile = 1 << 20

// splitUserFile splits "USER:FILE" at the first colon.
func splitUserFile(flagName, s string) (user, file string, err error) {
	user, file, ok := strings.Cut(s, ":")
	if !ok || user == "" || file == "" {
		return "", "", usagef("--%s %q: want USER:FILE", flagName, s)
	}
	return user, file, nil
}

// readSmallFile reads a host file of at most maxSecretFile bytes; "-"
// reads stdin.
func readSmallFile(name string, stdin io.Reader) ([]byte, error) {
	var r io.Reader = stdin
	if name != "-" {
		f, err := os.Open(name)
		if err != nil {
			return nil, err
		}
		defer f.Close()
		r = f
	}
	data, err := io.ReadAll(io.LimitReader(r, maxSecretFile+1))
	if err != nil {
		return nil, err
	}
	if len(data) > maxSecretFile {
		return nil, fmt.Errorf("%s: larger than %d bytes", name, maxSecretFile)
	}
	return data, nil
}

// parseSSHKeyFlag reads USER:FILE, FILE holding authorized_keys lines;
// blank lines and comments are skipped.
func parseSSHKeyFlag(s string, stdin io.Reader) (inject.SSHKeys, error) {
	user, file, err := splitUserFile("ssh-key", s)
	if err != nil {
		return inject.SSHKeys{}, err
	}
	keys, err := readKeyFile("ssh-key", s, file, stdin)
	if err != nil {
		return inject.SSHKeys{}, err
	}
	return inject.SSHKeys{User: user, Keys: keys}, nil
}

// parsePasswordFlag reads USER:FILE or USER:[locked:]file:FILE, the
// password being FILE's first line ("-" reads it from stdin). The command
// line never carries the password.
func parsePasswordFlag(s string, stdin io.Reader) (inject.Password, error) {
	user, file, lock, err := parsePasswordArg(s)
	if err != nil {
		return inject.Password{}, err
	}
	p, err := readPassword("password", user, file, stdin)
	if lock {
		p.Lock = inject.Lock
	}
	return p, err
}

// readPassword reads user's password from the first line of file.
func readPassword(flagName, user, file string, stdin io.Reader) (inject.Password, error) {
	data, err := readSmallFile(file, stdin)
	if err != nil {
		return inject.Password{}, fmt.Errorf("--%s: %w", flagName, err)
	}
	line, _, _ := strings.Cut(string(data), "\n")
	line = strings.TrimSuffix(line, "\r")
	if line == "" {
		return inject.Password{}, usagef("--%s %s: the first line of %s is empty", flagName, user, file)
	}
	return inject.Password{User: user, Plaintext: line}, nil
}

// parseMetaFlags turns K=V pairs into Nova-style metadata.
func parseMetaFlags(pairs []string) (map[string]string, error) {
	if len(pairs) == 0 {
		return nil, nil
	}
	meta := make(map[string]string, len(pairs))
	for _, p := range pairs {
		k, v, ok := strings.Cut(p, "=")
		if !ok || k == "" {
			return nil, usagef("--meta %q: want KEY=VALUE", p)
		}
		meta[k] = v
	}
	return meta, nil
}

// fileSpec is a parsed --file SRC:DST[:MODE[:OWNER]].
type fileSpec struct {
	src, dst    string
	mode        fs.FileMode // 0: the default
	uid, gid    int
	user, group string
}

// parseFileFlag parses SRC:DST[:MODE[:OWNER]]. MODE is octal (with
// set-id and sticky bits, as chmod takes it); OWNER is USER[:GROUP], by
// guest name or number, the group defaulting to root.
func parseFileFlag(s string) (fileSpec, error) {
	parts := strings.SplitN(s, ":", 4)
	if len(parts) < 2 || parts[0] == "" || parts[1] == "" {
		return fileSpec{}, usagef("--file %q: want SRC:DST[:MODE[:OWNER]]", s)
	}
	f := fileSpec{src: parts[0], dst: parts[1]}
	if !path.IsAbs(f.dst) || path.Clean(f.dst) != f.dst {
		return fileSpec{}, usagef("--file %q: the guest path %q must be absolute and clean", s, f.dst)
	}
	if len(parts) > 2 && parts[2] != "" {
		m, err := parseMode(parts[2])
		if err != nil {
			return fileSpec{}, usagef("--file %q: %v", s, err)
		}
		f.mode = m
	}
	if len(parts) > 3 {
		if err := f.setOwner(parts[3]); err != nil {
			return fileSpec{}, usagef("--file %q: %v", s, err)
		}
	}
	return f, nil
}

// parseMode reads an octal mode such as 644, 0600 or 4755.
func parseMode(s string) (fs.FileMode, error) {
	n, err := strconv.ParseUint(s, 8, 32)
	if err != nil || n > 0o7777 {
		return 0, fmt.Errorf("invalid mode %q: want octal, such as 0644", s)
	}
	m := fs.FileMode(n & 0o777)
	if n&0o4000 != 0 {
		m |= fs.ModeSetuid
	}
	if n&0o2000 != 0 {
		m |= fs.ModeSetgid
	}
	if n&0o1000 != 0 {
		m |= fs.ModeSticky
	}
	return m, nil
}

var guestName = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_.-]*\$?$`)

func (f *fileSpec) setOwner(owner string) error {
	user, group, _ := strings.Cut(owner, ":")
	var err error
	if f.uid, f.user, err = idOrName(user); err != nil {
		return err
	}
	if group != "" {
		f.gid, f.group, err = idOrName(group)
	}
	return err
}

func idOrName(s string) (int, string, error) {
	if n, err := strconv.Atoi(s); err == nil && n >= 0 {
		return n, "", nil
	}
	if !guestName.MatchString(s) {
		return 0, "", fmt.Errorf("invalid owner %q: want a user or group name or number", s)
	}
	return 0, s, nil
}

// open turns the spec into an inject.File streaming SRC; the caller
// closes the returned file after Apply.
func (f fileSpec) open() (inject.File, *os.File, error) {
	src, err := os.Open(f.src)
	if err != nil {
		return inject.File{}, nil, fmt.Errorf("--file: %w", err)
	}
	info, err := src.Stat()
	if err == nil && !info.Mode().IsRegular() {
		err = fmt.Errorf("--file: %s is not a regular file", f.src)
	}
	if err != nil {
		src.Close()
		return inject.File{}, nil, err
	}
	return inject.File{
		Path: f.dst, Source: src, MaxSize: info.Size(), Mode: f.mode,
		UID: f.uid, GID: f.gid, User: f.user, Group: f.group,
	}, src, nil
}

// parseFirstBoot reads a host script for first boot, named after its file.
func parseFirstBoot(file string, index int, stdin io.Reader) (inject.Command, error) {
	data, err := readSmallFile(file, stdin)
	if err != nil {
		return inject.Command{}, fmt.Errorf("--firstboot: %w", err)
	}
	return inject.Command{Name: commandName(file, index), Script: string(data)}, nil
}

var unsafeNameChars = regexp.MustCompile(`[^A-Za-z0-9_.-]+`)

// commandName derives a first-boot command name (letters, digits, '-',
// '_', '.') from a script's file name.
func commandName(file string, index int) string {
	base := strings.Trim(unsafeNameChars.ReplaceAllString(filepath.Base(file), "-"), "-.")
	if base == "" {
		base = "script"
	}
	return fmt.Sprintf("%02d-%s", index+1, base)
}

var errNothingToDo = errors.New("nothing to inject: give at least one customization option (--ssh-key, --password, --hostname, --network, --file, --mkdir, --upload, --write, --firstboot...; see guestinject help inject)")
