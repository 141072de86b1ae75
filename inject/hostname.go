package inject

import (
	"context"
	"strings"

	"github.com/guestinject/guestinject/internal/guestetc"
)

const (
	hostnameFile = "/etc/hostname"
	hostsFile    = "/etc/hosts"
)

func hostnameLookups(spec *Spec) []string {
	if spec.Hostname == "" {
		return nil
	}
	return []string{hostnameFile, hostsFile}
}

// planHostname writes /etc/hostname and makes the name resolve through a
// loopback line of /etc/hosts. Both are left untouched when already right,
// so running twice changes nothing the second time.
func (p *planner) planHostname(ctx context.Context, spec *Spec) error {
	if spec.Hostname == "" {
		return nil
	}
	item := singleItem(FieldHostname)
	name := spec.Hostname
	if !validHostname(name) {
		return itemErrf(item, hostnameFile, ErrInvalidSpec, "%q is not a valid host name", name)
	}
	if err := p.rewriteEtc(ctx, item, hostnameFile, func(old []byte) []byte {
		if strings.TrimSpace(string(old)) == name {
			return old
		}
		return []byte(name + "\n")
	}); err != nil {
		return err
	}
	return p.rewriteEtc(ctx, item, hostsFile, func(old []byte) []byte {
		return guestetc.SetHostsName(old, name)
	})
}

// rewriteEtc plans replacing a guest configuration file with edit(old),
// keeping its mode, owner and labels; a missing file is created 0644 owned
// by root. When edit returns the content unchanged, nothing is written.
func (p *planner) rewriteEtc(ctx context.Context, item Item, name string, edit func(old []byte) []byte) error {
	if err := p.claim(item, name); err != nil {
		return err
	}
	old, err := p.existing(ctx, item, name)
	if err != nil {
		return err
	}
	var content []byte
	if old != nil {
		if content, err = p.readEtc(ctx, name); err != nil {
			return itemErr(item, name, err)
		}
	}
	updated := edit(content)
	if old != nil && string(updated) == string(content) {
		m, u, g := modeOwner(old)
		p.add(step{op: opNone, change: Change{Item: item, Path: name, Action: ActionKeep, Mode: m, UID: u, GID: g, Size: old.Size(), Detail: "already as wanted"}})
		return nil
	}
	if old == nil {
		if err := p.ensureParent(ctx, item, name, 0o755, -1, -1); err != nil {
			return err
		}
		p.writeFile(item, name, nil, updated, 0o644, 0, 0)
		return nil
	}
	m, u, g := modeOwner(old)
	p.add(step{op: opWrite, change: Change{Item: item, Path: name, Action: ActionReplace, Mode: m, UID: u, GID: g, Size: int64(len(updated))},
		data: updated, opts: inheritOpts})
	return nil
}

// validHostname checks RFC 1123 host names: dot-separated labels of 1 to
// 63 letters, digits and inner hyphens, 253 bytes at most.
func validHostname(s string) bool {
	if s == "" || len(s) > 253 {
		return false
	}
	for label := range strings.SplitSeq(s, ".") {
		if label == "" || len(label) > 63 || label[0] == '-' || label[len(label)-1] == '-' {
			return false
		}
		for _, c := range []byte(label) {
			if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-') {
				return false
			}
		}
	}
	return true
}
