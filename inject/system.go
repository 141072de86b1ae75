package inject

import (
	"context"
	"fmt"
	"io/fs"
	"strings"

	"github.com/guestinject/guestinject/internal/guestetc"
	"github.com/guestinject/guestinject/vfs"
)

// Bounds on system settings: the tz database's longest names are under
// 40 bytes, locale and keymap names under 64.
const (
	maxTimezoneLen = 128
	maxSettingLen  = 128
)

const (
	zoneinfoDir  = "/usr/share/zoneinfo"
	localtime    = "/etc/localtime"
	timezoneFile = "/etc/timezone"
)

// planSystem sets the time zone, locale and console keymap the way
// timedatectl, localectl and systemd-firstboot write them, so the guest
// boots with them without any of those tools running.
func (p *planner) planSystem(ctx context.Context, spec *Spec) error {
	if spec.Timezone != "" {
		if err := p.planTimezone(ctx, spec.Timezone); err != nil {
			return err
		}
	}
	if spec.Locale != "" {
		item := singleItem(FieldLocale)
		if err := checkSetting(item, "/etc/locale.conf", "locale", spec.Locale); err != nil {
			return err
		}
		if err := p.setEnvFile(ctx, item, "/etc/locale.conf", "LANG", spec.Locale); err != nil {
			return err
		}
		// Debian's update-locale writes /etc/default/locale, which pam_env
		// reads there; locale.conf alone does not reach login sessions.
		debian, err := p.debianLike(ctx, item)
		if err != nil {
			return err
		}
		if debian {
			if err := p.setEnvFile(ctx, item, "/etc/default/locale", "LANG", spec.Locale); err != nil {
				return err
			}
		}
	}
	if spec.Keymap != "" {
		item := singleItem(FieldKeymap)
		if err := checkSetting(item, "/etc/vconsole.conf", "keymap", spec.Keymap); err != nil {
			return err
		}
		if err := p.setEnvFile(ctx, item, "/etc/vconsole.conf", "KEYMAP", spec.Keymap); err != nil {
			return err
		}
	}
	return nil
}

// planTimezone links /etc/localtime to the zone, relatively, as timedatectl
// does (a relative link stays right when the image is mounted elsewhere),
// and writes /etc/timezone where the distribution reads it.
func (p *planner) planTimezone(ctx context.Context, name string) error {
	item := singleItem(FieldTimezone)
	if err := checkTimezone(name); err != nil {
		return itemErr(item, localtime, err)
	}
	if _, ok := p.guest.(vfs.SymlinkFS); !ok {
		return itemErrf(item, localtime, ErrUnsupported, "the backend cannot create symlinks")
	}
	// The zone is resolved in the root like every guest path: a link
	// inside zoneinfo (Debian's legacy names) is fine, one aimed at a host
	// path ends inside the guest, where it must still reach a regular file.
	zone := zoneinfoDir + "/" + name
	info, err := p.fsys.Stat(ctx, zone)
	switch {
	case isNotExist(err):
		return itemErr(item, zone, fmt.Errorf("%w: the guest's tz database has no zone %q: %w", ErrUnsupported, name, err))
	case err != nil:
		return itemErr(item, zone, err)
	case !info.Mode().IsRegular():
		return itemErr(item, zone, fmt.Errorf("%w: %w: zone %q is a %v", ErrUnsafe, vfs.ErrNotRegular, name, info.Mode().Type()))
	}
	target := "../usr/share/zoneinfo/" + name
	if err := p.claim(item, localtime); err != nil {
		return err
	}
	old, err := p.lstat(ctx, localtime)
	if err != nil {
		return itemErr(item, localtime, err)
	}
	switch {
	case old == nil:
		if err := p.ensureParent(ctx, item, localtime, 0o755, -1, -1); err != nil {
			return err
		}
	case old.Mode()&fs.ModeSymlink != 0:
		if t, err := p.fsys.Readlink(ctx, localtime); err == nil && t == target {
			p.add(step{op: opNone, change: Change{Item: item, Path: localtime, Action: ActionKeep, Target: target, Detail: "already linked"}})
			return p.planTimezoneFile(ctx, item, name)
		}
		p.add(step{op: opRemove, change: Change{Item: item, Path: localtime, Action: ActionDelete, Detail: "replaced by the zone's link"}})
	case old.Mode().IsRegular():
		m, u, g := modeOwner(old)
		p.add(step{op: opRemove, change: Change{Item: item, Path: localtime, Action: ActionDelete, Mode: m, UID: u, GID: g, Detail: "replaced by the zone's link"}})
	default:
		return itemErr(item, localtime, fmt.Errorf("%w: %w: /etc/localtime is a %v", ErrUnsafe, vfs.ErrNotRegular, old.Mode().Type()))
	}
	p.add(step{op: opSymlink, change: Change{Item: item, Path: localtime, Action: ActionSymlink, Target: target, Mode: fs.ModeSymlink | 0o777}})
	p.created = append(p.created, localtime)
	return p.planTimezoneFile(ctx, item, name)
}

// planTimezoneFile writes /etc/timezone on Debian and its derivatives,
// whose tzdata scripts read the zone from it, and wherever the file
// already exists, so it never contradicts the link.
func (p *planner) planTimezoneFile(ctx context.Context, item Item, name string) error {
	info, err := p.lstat(ctx, timezoneFile)
	if err != nil {
		return itemErr(item, timezoneFile, err)
	}
	if info == nil {
		debian, err := p.debianLike(ctx, item)
		if err != nil || !debian {
			return err
		}
	}
	return p.rewriteEtc(ctx, item, timezoneFile, func(old []byte) []byte {
		if strings.TrimSpace(string(old)) == name {
			return old
		}
		return []byte(name + "\n")
	})
}

// debianLike reports whether the guest's os-release names Debian as its
// distribution or an ancestor.
func (p *planner) debianLike(ctx context.Context, item Item) (bool, error) {
	for _, name := range []string{"/etc/os-release", "/usr/lib/os-release"} {
		data, err := p.readEtc(ctx, name)
		if err != nil {
			return false, itemErr(item, name, err)
		}
		if data != nil {
			return guestetc.ParseOSRelease(data).Like("debian"), nil
		}
	}
	return false, nil
}

// setEnvFile assigns key in an environment-style file, keeping every other
// line, or creates the file.
func (p *planner) setEnvFile(ctx context.Context, item Item, name, key, value string) error {
	return p.rewriteEtc(ctx, item, name, func(old []byte) []byte {
		if v, ok := guestetc.EnvValue(old, key); ok && v == value {
			return old // in force already, however it is quoted
		}
		return guestetc.SetEnv(old, key, value)
	})
}

// checkTimezone accepts tz database names: slash-separated components of
// letters, digits, '.', '_', '-' and '+', none empty, "." or "..", none
// starting with '-', bounded in length. So the name can neither leave
// zoneinfo nor break the link it goes into.
func checkTimezone(name string) error {
	if name == "" || len(name) > maxTimezoneLen {
		return fmt.Errorf("%w: time zone %q: empty or longer than %d bytes", ErrInvalidSpec, name, maxTimezoneLen)
	}
	for elem := range strings.SplitSeq(name, "/") {
		if elem == "" || elem == "." || elem == ".." || elem[0] == '-' {
			return fmt.Errorf("%w: time zone %q: component %q", ErrInvalidSpec, name, elem)
		}
		for _, c := range []byte(elem) {
			if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '_' || c == '-' || c == '+') {
				return fmt.Errorf("%w: time zone %q: character %q", ErrInvalidSpec, name, c)
			}
		}
	}
	return nil
}

// checkSetting accepts locale and keymap names ("en_US.UTF-8",
// "sr_RS.UTF-8@latin", "de-latin1-nodeadkeys"): printable characters that
// need no quoting in a shell-style assignment, bounded in length.
func checkSetting(item Item, file, what, value string) error {
	if len(value) > maxSettingLen {
		return itemErrf(item, file, ErrInvalidSpec, "%s longer than %d bytes", what, maxSettingLen)
	}
	for _, c := range []byte(value) {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.IndexByte("._-@+:,", c) >= 0) {
			return itemErrf(item, file, ErrInvalidSpec, "%s %q: character %q", what, value, c)
		}
	}
	return nil
}
