package guest

import (
	"context"
	"fmt"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/guestinject/guestinject/internal/inroot"
)

// Btrfs subvolumes.
//
// A btrfs root is often not at the top of its filesystem but in a
// subvolume: Ubuntu's "@", Fedora's "root", "@rootfs" elsewhere, each
// with fstab lines such as "subvol=@home". The agent's rule for the root
// is: the default subvolume, when it looks like a root (os-release or
// fstab; openSUSE makes a snapshot the default); otherwise the first of
// RootSubvolumes that is a subvolume directly under the top level and
// looks like one. The root is then mounted with subvol= that name. The
// fstab's own subvol= or subvolid= options, validated by ParseSubvol,
// are the only options of a guest's that reach mount(2).

// RootSubvolumes are the conventional names of a root subvolume, in the
// order they are looked for.
var RootSubvolumes = []string{"@", "root", "@rootfs"}

// Bounds on a subvolume named in fstab.
const (
	maxSubvolPath = 255
	minSubvolID   = 256 // the first subvolume id; 5 is the top level
	maxSubvolID   = 1 << 48
	topLevelID    = 5
	// subvolRootIno is the inode number of every subvolume's root
	// directory (BTRFS_FIRST_FREE_OBJECTID).
	subvolRootIno = 256
)

// ParseSubvol reads the subvol= or subvolid= option among opts and
// returns it as the agent passes it to mount(2) ("subvol=@home",
// "subvolid=257"), "" when there is none. A path is relative to the top
// level (a leading "/" is dropped), made of components of letters,
// digits and "._@+:=-", none of them "." or ".."; an id is decimal, 5 or
// at least 256. Both options, or one twice, are refused.
func ParseSubvol(opts []string) (string, error) {
	var found []string
	for _, o := range opts {
		k, v, _ := strings.Cut(o, "=")
		switch k {
		case "subvol":
			p, err := cleanSubvol(v)
			if err != nil {
				return "", err
			}
			found = append(found, "subvol="+p)
		case "subvolid":
			id, err := strconv.ParseUint(v, 10, 64)
			if err != nil || strconv.FormatUint(id, 10) != v || (id != topLevelID && (id < minSubvolID || id > maxSubvolID)) {
				return "", fmt.Errorf("bad btrfs subvolume id %q", clip(v))
			}
			found = append(found, "subvolid="+v)
		}
	}
	switch len(found) {
	case 0:
		return "", nil
	case 1:
		return found[0], nil
	}
	return "", fmt.Errorf("more than one btrfs subvolume option: %s", clip(strings.Join(found, ",")))
}

// cleanSubvol checks a subvolume path and returns it without a leading
// slash.
func cleanSubvol(p string) (string, error) {
	bad := func(why string) (string, error) {
		return "", fmt.Errorf("bad btrfs subvolume %q: %s", clip(p), why)
	}
	rel := strings.TrimPrefix(p, "/")
	switch {
	case rel == "":
		return bad("empty")
	case len(rel) > maxSubvolPath:
		return bad(fmt.Sprintf("longer than %d bytes", maxSubvolPath))
	case strings.HasPrefix(rel, "/"):
		return bad("more than one leading slash")
	}
	for c := range strings.SplitSeq(rel, "/") {
		switch c {
		case "":
			return bad("empty component")
		case ".", "..":
			return bad("component " + c)
		}
		for _, r := range c {
			if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("._@+:=-", r)) {
				return bad(fmt.Sprintf("character %q", r))
			}
		}
	}
	return rel, nil
}

// subvolOption is the mount option for a subvolume name found by
// lookForRootSubvol, "" for the default subvolume.
func subvolOption(name string) string {
	if name == "" {
		return ""
	}
	return "subvol=" + name
}

// lookForRootSubvol looks, in the top level of a btrfs filesystem opened
// in-root at r, for the first of RootSubvolumes that is a subvolume and
// holds an os-release or an fstab. It returns its name, or "".
func lookForRootSubvol(ctx context.Context, r *inroot.Root) (string, Candidate) {
	for _, name := range RootSubvolumes {
		if c, ok := lookInSubvol(ctx, r, name); ok && c.IsRoot() {
			return name, c
		}
	}
	return "", Candidate{}
}

// lookInSubvol looks for an os-release and an fstab in the subvolume
// name of the top level r, resolved in-root below it; false when name is
// not a subvolume there.
func lookInSubvol(ctx context.Context, r *inroot.Root, name string) (Candidate, bool) {
	var c Candidate
	fi, err := r.Lstat(ctx, "/"+name)
	if err != nil || !fi.IsDir() {
		return c, false
	}
	dir, err := r.OpenDir(ctx, "/"+name)
	if err != nil {
		return c, false
	}
	defer dir.Close()
	var st unix.Stat_t
	if err := unix.Fstat(int(dir.Fd()), &st); err != nil || st.Ino != subvolRootIno {
		return c, false // a plain directory: subvol= would not mount it
	}
	// The subvolume is its own root: an absolute symlink in it must not
	// reach the top level.
	sr, err := inroot.Open(fdPath(dir))
	if err != nil {
		c.Err = err
		return c, true
	}
	defer sr.Close()
	return lookIn(ctx, sr), true
}

// lookIn looks for an os-release and an fstab in r.
func lookIn(ctx context.Context, r *inroot.Root) Candidate {
	var c Candidate
	c.OS, _ = readOSRelease(ctx, r)
	if info, err := r.Stat(ctx, "/etc/fstab"); err == nil && info.Mode().IsRegular() {
		c.HasFstab = true
	}
	return c
}
