package inject

import (
	"context"
	"errors"
	"fmt"

	"github.com/guestinject/guestinject/internal/guestetc"
)

// planPasswords edits /etc/shadow once for all users, preserving every
// other byte, and points /etc/passwd at it where a user's hash still sits
// in passwd. shadow is written before passwd: if the second write fails the
// old password stays in force, never a blank one.
func passwordsLookups(spec *Spec) []string {
	if len(spec.Passwords) == 0 {
		return nil
	}
	return []string{passwdPath, shadowPath}
}

func (p *planner) planPasswords(ctx context.Context, spec *Spec) error {
	if len(spec.Passwords) == 0 {
		return nil
	}
	var first Item
	seen := map[string]Item{}
	var passwd *guestetc.Passwd
	var shadow *guestetc.Shadow
	var fixPasswd []string
	for i, pw := range spec.Passwords {
		user := pw.User
		if user == "" {
			user = "root"
		}
		item := listItem(FieldPasswords, i)
		item.User = user
		if i == 0 {
			first = item
		}
		if other, ok := seen[user]; ok {
			return itemErrf(item, shadowPath, ErrConflict, "user %q is also set by %s", user, other)
		}
		seen[user] = item
		hash, err := newHash(pw)
		if err != nil {
			return itemErr(item, "", err)
		}
		if pw.Lock != LockKeep && pw.Lock != Lock && pw.Lock != Unlock {
			return itemErrf(item, "", ErrInvalidSpec, "unknown lock change %d", pw.Lock)
		}
		if hash == "" && pw.Lock == LockKeep {
			return itemErrf(item, "", ErrInvalidSpec, "neither a password, a hash nor a lock change")
		}
		u, err := p.guestUser(ctx, item, user)
		if err != nil {
			return err
		}
		if shadow == nil {
			if shadow, err = p.loadShadow(ctx, item, shadowPath); err != nil {
				return err
			}
			data, _ := p.readEtc(ctx, passwdPath) // read by guestUser already
			passwd = guestetc.ParsePasswd(data)
		}
		if _, err := shadow.Entry(user); err != nil {
			return itemErr(item, shadowPath, shadowErr(err))
		}
		if hash != "" {
			if shadow, err = shadow.SetHash(user, hash, days(p.now)); err != nil {
				return itemErr(item, shadowPath, err)
			}
		}
		switch pw.Lock {
		case Lock:
			shadow, err = shadow.Lock(user)
		case Unlock:
			shadow, err = shadow.Unlock(user)
		}
		if err != nil {
			return itemErr(item, shadowPath, err)
		}
		if u.Password != "x" {
			fixPasswd = append(fixPasswd, user)
		}
	}
	if err := p.claim(first, shadowPath); err != nil {
		return err
	}
	old, err := p.existing(ctx, first, shadowPath)
	if err != nil {
		return err
	}
	m, uid, gid := modeOwner(old)
	p.add(step{op: opWrite, change: Change{Item: first, Path: shadowPath, Action: ActionReplace, Mode: m, UID: uid, GID: gid, Size: int64(len(shadow.Bytes())), Detail: "password fields updated"},
		data: shadow.Bytes(), opts: inheritOpts})

	if len(fixPasswd) == 0 {
		return nil
	}
	for _, user := range fixPasswd {
		if passwd, err = passwd.SetPassword(user, "x"); err != nil {
			return itemErr(seen[user], passwdPath, err)
		}
	}
	item := seen[fixPasswd[0]]
	if err := p.claim(item, passwdPath); err != nil {
		return err
	}
	oldPasswd, err := p.existing(ctx, item, passwdPath)
	if err != nil {
		return err
	}
	m, uid, gid = modeOwner(oldPasswd)
	p.add(step{op: opWrite, change: Change{Item: item, Path: passwdPath, Action: ActionReplace, Mode: m, UID: uid, GID: gid, Size: int64(len(passwd.Bytes())), Detail: "password field set to \"x\" so /etc/shadow is used"},
		data: passwd.Bytes(), opts: inheritOpts})
	return nil
}

// loadShadow reads /etc/shadow, refusing a missing or world-readable one:
// a hash must never go where every user can read it.
func (p *planner) loadShadow(ctx context.Context, item Item, name string) (*guestetc.Shadow, error) {
	info, err := p.existing(ctx, item, name)
	if err != nil {
		return nil, err
	}
	if info == nil {
		return nil, itemErrf(item, name, ErrNoUser, "the guest has no /etc/shadow")
	}
	if info.Mode().Perm()&0o004 != 0 {
		return nil, itemErrf(item, name, ErrUnsafe, "/etc/shadow is world-readable (%s)", OctalMode(info.Mode()))
	}
	data, err := p.readEtc(ctx, name)
	if err != nil {
		return nil, itemErr(item, name, err)
	}
	return guestetc.ParseShadow(data), nil
}

func shadowErr(err error) error {
	if errors.Is(err, guestetc.ErrNotFound) {
		return fmt.Errorf("%w: %w", ErrNoUser, err)
	}
	return err
}

// newHash returns the hash a Password item sets, or "" for none.
func newHash(pw Password) (string, error) {
	switch {
	case pw.Plaintext != "" && pw.Hash != "":
		return "", fmt.Errorf("%w: both a plaintext password and a hash", ErrInvalidSpec)
	case pw.Plaintext != "":
		return guestetc.NewSHA512Hash(pw.Plaintext)
	case pw.Hash != "":
		if err := guestetc.CheckHash(pw.Hash); err != nil {
			return "", fmt.Errorf("%w: %w", ErrInvalidSpec, err)
		}
		return pw.Hash, nil
	}
	return "", nil
}
