package inject

import (
	"bytes"
	"context"
	"fmt"
	"io/fs"
	"strings"

	"golang.org/x/crypto/ssh"

	"github.com/guestinject/guestinject/vfs"
)

// unsafeForSSHD are the mode bits sshd's StrictModes refuses on ~/.ssh and
// authorized_keys: group or world write.
const unsafeForSSHD = 0o022

// ParseAuthorizedKey checks one authorized_keys line (options, key, comment)
// with a real SSH parser and returns the key's wire encoding, which
// identifies the key whatever its options and comment.
func ParseAuthorizedKey(line string) ([]byte, error) {
	if strings.ContainsAny(line, "\r\n\x00") {
		return nil, fmt.Errorf("%w: an authorized key must be one line", ErrInvalidSpec)
	}
	key, _, _, rest, err := ssh.ParseAuthorizedKey([]byte(line))
	if err != nil {
		return nil, fmt.Errorf("%w: not an SSH public key: %v", ErrInvalidSpec, err)
	}
	if len(bytes.TrimSpace(rest)) != 0 {
		return nil, fmt.Errorf("%w: trailing data after the key", ErrInvalidSpec)
	}
	return key.Marshal(), nil
}

// authorizedSet returns the wire encodings of the keys in authorized_keys
// content; lines that do not parse (comments, garbage) authorize nothing.
func authorizedSet(content []byte) map[string]bool {
	set := map[string]bool{}
	for line := range bytes.Lines(content) {
		if key, _, _, _, err := ssh.ParseAuthorizedKey(line); err == nil {
			set[string(key.Marshal())] = true
		}
	}
	return set
}

// sshKeysLookups guesses the users' homes (likelyHome).
func sshKeysLookups(spec *Spec) []string {
	if len(spec.SSHKeys) == 0 {
		return nil
	}
	names := []string{passwdPath}
	for _, k := range spec.SSHKeys {
		names = append(names, vfs.Join(likelyHome(k.User), ".ssh/authorized_keys"))
	}
	return names
}

func (p *planner) planSSHKeys(ctx context.Context, spec *Spec) error {
	// Keys for the same user from several items go into one write.
	type userKeys struct {
		item  Item
		lines []string
	}
	var order []string
	byUser := map[string]*userKeys{}
	for i, k := range spec.SSHKeys {
		user := k.User
		if user == "" {
			user = "root"
		}
		item := listItem(FieldSSHKeys, i)
		item.User = user
		if len(k.Keys) == 0 {
			return itemErrf(item, "", ErrInvalidSpec, "no keys")
		}
		uk := byUser[user]
		if uk == nil {
			uk = &userKeys{item: item}
			byUser[user] = uk
			order = append(order, user)
		}
		for j, line := range k.Keys {
			line = strings.TrimSpace(line)
			if _, err := ParseAuthorizedKey(line); err != nil {
				return itemErr(item, "", fmt.Errorf("key %d: %w", j, err))
			}
			uk.lines = append(uk.lines, line)
		}
	}
	for _, user := range order {
		if err := p.planUserKeys(ctx, byUser[user].item, user, byUser[user].lines); err != nil {
			return err
		}
	}
	return nil
}

func (p *planner) planUserKeys(ctx context.Context, item Item, user string, lines []string) error {
	u, err := p.guestUser(ctx, item, user)
	if err != nil {
		return err
	}
	home, err := homeOf(item, u)
	if err != nil {
		return err
	}
	// The home itself may be a symlink in the root (it is resolved there);
	// it must end at a directory. A missing home is created for the user.
	info, err := p.fsys.Stat(ctx, home)
	switch {
	case err == nil && !info.IsDir():
		return itemErrf(item, home, ErrUnsafe, "home of %q is a %v, not a directory", user, info.Mode().Type())
	case err != nil && !isNotExist(err):
		return itemErr(item, home, err)
	case err != nil:
		if err := p.ensureParent(ctx, item, home, 0o755, -1, -1); err != nil {
			return err
		}
		if err := p.ensureDir(ctx, item, home, 0o700, u.UID, u.GID); err != nil {
			return err
		}
	}

	sshDir := vfs.Join(home, ".ssh")
	if err := p.claim(item, sshDir); err != nil {
		return err
	}
	dirInfo, err := p.lstat(ctx, sshDir)
	if err != nil {
		return itemErr(item, sshDir, err)
	}
	switch {
	case dirInfo == nil:
		if err := p.ensureDir(ctx, item, sshDir, 0o700, u.UID, u.GID); err != nil {
			return err
		}
	case dirInfo.Mode()&fs.ModeSymlink != 0:
		// Following it would chmod and chown whatever it points at.
		return itemErr(item, sshDir, fmt.Errorf("%w: %w: ~/.ssh of %q is a symlink", ErrUnsafe, vfs.ErrIsSymlink, user))
	case !dirInfo.IsDir():
		return itemErr(item, sshDir, fmt.Errorf("%w: %w: ~/.ssh of %q is a %v", ErrUnsafe, vfs.ErrNotDir, user, dirInfo.Mode().Type()))
	default:
		p.tightenForSSHD(item, sshDir, dirInfo, u.UID, u.GID)
	}

	akPath := vfs.Join(sshDir, "authorized_keys")
	if err := p.claim(item, akPath); err != nil {
		return err
	}
	old, err := p.existing(ctx, item, akPath)
	if err != nil {
		return err
	}
	var content []byte
	if old != nil {
		if content, err = vfs.ReadFile(ctx, p.fsys, akPath, maxAuthorizedKeysFile); err != nil {
			return itemErr(item, akPath, err)
		}
	}
	have := authorizedSet(content)
	updated := content
	added := 0
	for _, line := range lines {
		key, _ := ParseAuthorizedKey(line) // validated in planSSHKeys
		if have[string(key)] {
			continue
		}
		have[string(key)] = true
		if len(updated) > 0 && updated[len(updated)-1] != '\n' {
			updated = append(updated, '\n')
		}
		updated = append(updated, line+"\n"...)
		added++
	}
	detail := fmt.Sprintf("%d of %d keys added", added, len(lines))
	if old == nil {
		p.writeFile(item, akPath, nil, updated, 0o600, u.UID, u.GID)
		p.steps[len(p.steps)-1].change.Detail = detail
		return nil
	}
	if added == 0 {
		m, uid, gid := modeOwner(old)
		p.add(step{op: opNone, change: Change{Item: item, Path: akPath, Action: ActionKeep, Mode: m, UID: uid, GID: gid, Size: old.Size(), Detail: detail}})
	} else {
		m, uid, gid := modeOwner(old)
		p.add(step{op: opWrite, change: Change{Item: item, Path: akPath, Action: ActionReplace, Mode: m, UID: uid, GID: gid, Size: int64(len(updated)), Detail: detail},
			data: updated, opts: inheritOpts})
	}
	p.tightenForSSHD(item, akPath, old, u.UID, u.GID)
	return nil
}

// tightenForSSHD plans the changes sshd's StrictModes needs on an existing
// ~/.ssh or authorized_keys: owned by the user or root, not writable by
// group or others. Modes that are already acceptable are kept.
func (p *planner) tightenForSSHD(item Item, name string, info fs.FileInfo, uid, gid int) {
	mode, oldUID, oldGID := modeOwner(info)
	newUID, newGID := oldUID, oldGID
	if oldUID != uid && oldUID != 0 {
		newUID, newGID = uid, gid
	}
	p.setModeOwner(item, name, info, mode&^unsafeForSSHD, newUID, newGID)
}
