package memfs

import (
	"context"
	"fmt"
	"io/fs"
	"slices"
	"strings"

	"github.com/guestinject/guestinject/vfs"
)

// Limits of attribute names and values, as on Linux.
const (
	maxXattrName  = 255
	maxXattrValue = 64 << 10
)

// xattrNamespaces are the prefixes Linux knows; others are not supported.
var xattrNamespaces = []string{"security.", "system.", "trusted.", "user."}

// checkXattrName refuses names Linux would refuse.
func checkXattrName(attr string) error {
	if attr == "" || len(attr) > maxXattrName {
		return fmt.Errorf("%w: attribute name %q", fs.ErrInvalid, attr)
	}
	for _, ns := range xattrNamespaces {
		if strings.HasPrefix(attr, ns) && len(attr) > len(ns) {
			return nil
		}
	}
	return fmt.Errorf("%w: attribute %q is in no known namespace", vfs.ErrNotSupported, attr)
}

// Lgetxattr returns the value of attribute attr of name itself. A missing
// attribute fails with fs.ErrNotExist.
func (m *FS) Lgetxattr(ctx context.Context, name, attr string) ([]byte, error) {
	const op = "lgetxattr"
	unlock, err := m.enter(ctx, op, name, false)
	if err != nil {
		return nil, err
	}
	defer unlock()
	n, err := m.final(name)
	if err != nil {
		return nil, &fs.PathError{Op: op, Path: name, Err: err}
	}
	if err := checkXattrName(attr); err != nil {
		return nil, &fs.PathError{Op: op, Path: name, Err: err}
	}
	value, ok := n.xattrs[attr]
	if !ok {
		return nil, &fs.PathError{Op: op, Path: name, Err: fmt.Errorf("%w: no attribute %q", fs.ErrNotExist, attr)}
	}
	return slices.Clone(value), nil
}

// Lsetxattr creates or replaces attribute attr of name itself. As on
// Linux, "user." attributes are refused with fs.ErrPermission on anything
// but regular files and directories.
func (m *FS) Lsetxattr(ctx context.Context, name, attr string, value []byte) error {
	const op = "lsetxattr"
	unlock, err := m.enter(ctx, op, name, true)
	if err != nil {
		return err
	}
	defer unlock()
	n, err := m.final(name)
	if err != nil {
		return &fs.PathError{Op: op, Path: name, Err: err}
	}
	if err := checkXattrName(attr); err != nil {
		return &fs.PathError{Op: op, Path: name, Err: err}
	}
	switch {
	case len(value) > maxXattrValue:
		return &fs.PathError{Op: op, Path: name, Err: fmt.Errorf("%w: attribute %q has %d bytes, limit %d", vfs.ErrTooLarge, attr, len(value), maxXattrValue)}
	case strings.HasPrefix(attr, "user.") && !n.mode.IsRegular() && !n.isDir():
		return &fs.PathError{Op: op, Path: name, Err: fmt.Errorf("%w: user attributes on a %s", fs.ErrPermission, kindName(n.mode))}
	}
	if n.xattrs == nil {
		n.xattrs = map[string][]byte{}
	}
	n.xattrs[attr] = append([]byte{}, value...)
	return nil
}

// Llistxattr lists the attribute names of name itself, sorted.
func (m *FS) Llistxattr(ctx context.Context, name string) ([]string, error) {
	const op = "llistxattr"
	unlock, err := m.enter(ctx, op, name, false)
	if err != nil {
		return nil, err
	}
	defer unlock()
	n, err := m.final(name)
	if err != nil {
		return nil, &fs.PathError{Op: op, Path: name, Err: err}
	}
	var names []string
	for attr := range n.xattrs {
		names = append(names, attr)
	}
	slices.Sort(names)
	return names, nil
}
