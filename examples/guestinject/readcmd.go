package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"path"
	"slices"
	"strings"

	"github.com/guestinject/guestinject/inject"
	"github.com/guestinject/guestinject/vfs"
)

type catArgs struct {
	imageArgs
	limit sizeFlag
}

func newCatFlags(a *catArgs) *flag.FlagSet {
	fs := newFlagSet("cat")
	a.imageArgs.register(fs)
	a.backend.register(fs)
	a.limit.bytes = 64 << 20
	fs.Var(&a.limit, "limit", "refuse guest files larger than `S` bytes; units K, M, G")
	return fs
}

type lsArgs struct {
	imageArgs
	long bool
}

func newLsFlags(a *lsArgs) *flag.FlagSet {
	fs := newFlagSet("ls")
	a.imageArgs.register(fs)
	a.backend.register(fs)
	fs.BoolVar(&a.long, "l", false, "long listing: type and mode, owner, size, name")
	return fs
}

// guestPath checks a guest path given on the command line.
func guestPath(p string) (string, error) {
	if !vfs.ValidPath(p) {
		return "", usagef("guest path %q must be absolute and clean, such as /etc/hostname", p)
	}
	return p, nil
}

func runCat(ctx context.Context, args []string, io stdio) error {
	var a catArgs
	pos, err := parseArgs(newCatFlags(&a), args, io.out)
	if err != nil {
		return err
	}
	if err := a.backend.validate(); err != nil {
		return err
	}
	t, rest, err := a.resolveTarget("cat", pos, true, "PATH")
	if err != nil {
		return err
	}
	name, err := guestPath(rest[0])
	if err != nil {
		return err
	}
	return withGuest(ctx, &a.imageArgs, t, io.err, func(ctx context.Context, g vfs.Session) error {
		data, err := vfs.ReadFile(ctx, g, name, a.limit.bytes)
		if err != nil {
			return err
		}
		_, err = io.out.Write(data)
		return err
	}, false)
}

// lsEntry is one line of ls.
type lsEntry struct {
	Name   string `json:"name"`
	Type   string `json:"type"`
	Mode   string `json:"mode"`
	UID    int    `json:"uid"`
	GID    int    `json:"gid"`
	Size   int64  `json:"size"`
	Target string `json:"target,omitempty"`
}

func runLs(ctx context.Context, args []string, io stdio) error {
	var a lsArgs
	pos, err := parseArgs(newLsFlags(&a), args, io.out)
	if err != nil {
		return err
	}
	if err := a.backend.validate(); err != nil {
		return err
	}
	t, rest, err := a.resolveTarget("ls", pos, true, "PATH")
	if err != nil {
		return err
	}
	dir, err := guestPath(rest[0])
	if err != nil {
		return err
	}
	var entries []lsEntry
	err = withGuest(ctx, &a.imageArgs, t, io.err, func(ctx context.Context, g vfs.Session) error {
		entries, err = listDir(ctx, g, dir)
		return err
	}, false)
	if err != nil {
		return err
	}
	return printEntries(io.out, entries, a.long, a.json)
}

func listDir(ctx context.Context, g vfs.FS, dir string) ([]lsEntry, error) {
	des, err := g.ReadDir(ctx, dir)
	if err != nil {
		return nil, err
	}
	var out []lsEntry
	for _, de := range des {
		full := path.Join(dir, de.Name())
		info, err := g.Lstat(ctx, full)
		if err != nil {
			return nil, err
		}
		e := lsEntry{Name: de.Name(), Type: typeName(info.Mode()), Mode: inject.OctalMode(info.Mode()), Size: info.Size()}
		if attr, ok := vfs.AttrOf(info); ok {
			e.UID, e.GID = attr.UID, attr.GID
		}
		if info.Mode()&fs.ModeSymlink != 0 {
			if e.Target, err = g.Readlink(ctx, full); err != nil {
				return nil, err
			}
		}
		out = append(out, e)
	}
	slices.SortFunc(out, func(a, b lsEntry) int { return strings.Compare(a.Name, b.Name) })
	return out, nil
}

func typeName(m fs.FileMode) string {
	switch {
	case m.IsDir():
		return "dir"
	case m&fs.ModeSymlink != 0:
		return "symlink"
	case m.IsRegular():
		return "file"
	case m&fs.ModeNamedPipe != 0:
		return "fifo"
	case m&fs.ModeSocket != 0:
		return "socket"
	case m&fs.ModeCharDevice != 0:
		return "char-device"
	case m&fs.ModeDevice != 0:
		return "block-device"
	}
	return "other"
}

func printEntries(w io.Writer, entries []lsEntry, long, asJSON bool) error {
	if asJSON {
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		if entries == nil {
			entries = []lsEntry{}
		}
		return enc.Encode(entries)
	}
	for _, e := range entries {
		if !long {
			fmt.Fprintln(w, e.Name)
			continue
		}
		fmt.Fprintf(w, "%-7s %s %5d %5d %10d %s", e.Type, e.Mode, e.UID, e.GID, e.Size, e.Name)
		if e.Target != "" {
			fmt.Fprintf(w, " -> %s", e.Target)
		}
		fmt.Fprintln(w)
	}
	return nil
}
