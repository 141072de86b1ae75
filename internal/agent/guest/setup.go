package guest

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"slices"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/guestinject/guestinject/internal/blkid"
	"github.com/guestinject/guestinject/internal/guestabi"
	"github.com/guestinject/guestinject/internal/guestetc"
	"github.com/guestinject/guestinject/internal/inroot"
	"github.com/guestinject/guestinject/internal/wire"
	"github.com/guestinject/guestinject/vfs"
)

// maxOSRelease bounds the os-release file read from a guest.
const maxOSRelease = 64 << 10

// Guest is the guest as the agent set it up: the root it chose and
// mounted at RootMount, the fstab mounts inside it, and what it found.
type Guest struct {
	Volumes    []Volume
	Candidates []Candidate // the Linux filesystems looked at, when there were several
	Root       Volume
	RootSubvol string // the btrfs subvolume mounted as the root, "" for the default one
	OS         guestetc.OSRelease
	Fstab      []FstabMount
	FstabSkips []FstabSkip
	FstabNote  string       // why /etc/fstab was not read
	LVMErr     error        // why LVM volumes are missing, from ActivateLVM
	FS         *inroot.Root // the guest root, resolved in-root; nil when Err is set
	Err        error        // why there is no root

	mounts Mounts
}

// Setup activates the LVM volume groups among vols (ActivateLVM),
// chooses the guest root among the volumes and logical volumes (or takes
// the one name names), mounts it at RootMount, and mounts the filesystems
// its /etc/fstab names inside it. The result always describes what was
// found; Err says why there is no root, and LVMErr what LVM activation
// could not do (also in Err when there is no root).
func Setup(ctx context.Context, vols []Volume, name *guestabi.RootName, mods Modules) *Guest {
	lvs, lvmErr := ActivateLVM(ctx, mods, vols)
	g := &Guest{Volumes: append(slices.Clip(vols), lvs...), LVMErr: lvmErr}
	root, looked, err := ChooseRoot(g.Volumes, name, func(v Volume) Candidate { return lookAt(ctx, v, mods) })
	g.Candidates = looked
	if err != nil {
		if lvmErr != nil {
			// The root may be on a volume LVM did not give.
			err = fmt.Errorf("%w; %w", err, lvmErr)
		}
		g.Err = err
		return g
	}
	if root.Info.Type == blkid.Btrfs {
		// Which subvolume: the content look tells, and was done when
		// there were several candidates.
		c, ok := Candidate{}, false
		for _, l := range looked {
			if l.Volume.Device == root.Device {
				c, ok = l, true
			}
		}
		if !ok {
			c = lookAt(ctx, root, mods)
		}
		g.RootSubvol = c.Subvol
	}
	if err := MountRoot(root, g.RootSubvol, RootMount, root.ReadOnly, mods); err != nil {
		if name != nil {
			err = &RootError{Err: guestabi.ErrRootNotFound, Name: name, Volumes: vols, Detail: err.Error()}
		}
		g.Err = err
		return g
	}
	// The Shutdown that precedes every Commit unmounts the filesystems,
	// which makes them durable; nothing is kept otherwise.
	r, err := inroot.Open(RootMount, inroot.WithoutSync())
	if err != nil {
		Unmount(RootMount)
		g.Err = err
		return g
	}
	g.Root, g.FS = root, r
	g.OS, _ = readOSRelease(ctx, r)
	g.mountFstab(ctx, mods)
	return g
}

// lookAt mounts v alone, read-only, at ProbeMount and looks for an
// os-release and an fstab, resolving both in-root. On btrfs whose default
// subvolume has neither, it looks in the conventional root subvolumes of
// the top level (see RootSubvolumes).
func lookAt(ctx context.Context, v Volume, mods Modules) Candidate {
	c := Candidate{Volume: v}
	flags := uintptr(unix.MS_RDONLY | unix.MS_NODEV | unix.MS_NOSUID | unix.MS_NOEXEC)
	if err := mountVolume(v, ProbeMount, flags, "", mods); err != nil {
		c.Err = err
		return c
	}
	found := lookMounted(ctx)
	Unmount(ProbeMount)
	if found.Err != nil || found.IsRoot() || v.Info.Type != blkid.Btrfs {
		found.Volume = v
		return found
	}
	// subvol= names are relative to the top level, which the default
	// subvolume need not be: look there.
	if err := mountVolume(v, ProbeMount, flags, fmt.Sprintf("subvolid=%d", topLevelID), mods); err != nil {
		return c
	}
	defer Unmount(ProbeMount)
	r, err := inroot.Open(ProbeMount)
	if err != nil {
		return c
	}
	defer r.Close()
	if name, sc := lookForRootSubvol(ctx, r); name != "" {
		sc.Volume, sc.Subvol = v, name
		return sc
	}
	return c
}

// lookMounted looks at what is mounted at ProbeMount.
func lookMounted(ctx context.Context) Candidate {
	r, err := inroot.Open(ProbeMount)
	if err != nil {
		return Candidate{Err: err}
	}
	defer r.Close()
	return lookIn(ctx, r)
}

// readOSRelease reads /etc/os-release, or /usr/lib/os-release; nil when
// there is neither. One too large to read is there but says nothing.
func readOSRelease(ctx context.Context, r *inroot.Root) (guestetc.OSRelease, error) {
	var err error
	for _, name := range []string{"/etc/os-release", "/usr/lib/os-release"} {
		var data []byte
		data, err = vfs.ReadFile(ctx, r, name, maxOSRelease)
		switch {
		case err == nil:
			return guestetc.ParseOSRelease(data), nil
		case errors.Is(err, vfs.ErrTooLarge):
			return guestetc.OSRelease{}, err
		}
	}
	return nil, err
}

// mountFstab reads the root's /etc/fstab and mounts what PlanMounts
// allows, parents first.
func (g *Guest) mountFstab(ctx context.Context, mods Modules) {
	data, err := vfs.ReadFile(ctx, g.FS, "/etc/fstab", MaxFstabSize)
	if err != nil {
		if !errors.Is(err, fs.ErrNotExist) {
			g.FstabNote = "/etc/fstab not read: " + err.Error()
		}
		return
	}
	var entries []FstabEntry
	entries, g.FstabSkips = ParseFstab(data)
	g.Fstab = PlanMounts(g.Root, g.RootSubvol, entries, g.Volumes)
	if g.LVMErr != nil {
		// A source that names no volume may name one LVM did not give.
		for i := range g.Fstab {
			if m := &g.Fstab[i]; !m.Mount && m.Device == "" && strings.HasPrefix(m.Note, ErrNoSuchVolume.Error()) {
				m.Note += " (LVM volumes may be missing: " + lvmReason(g.LVMErr) + ")"
			}
		}
	}
	for _, i := range MountOrder(g.Fstab) {
		m := &g.Fstab[i]
		flags := uintptr(unix.MS_NODEV | unix.MS_NOSUID)
		if m.ReadOnly {
			flags |= unix.MS_RDONLY
		}
		more, data := fsOptions(m.FSType, m.Subvol)
		var where string
		err := mods.Load(m.FSType)
		if err == nil {
			where, err = g.mounts.MountInRoot(ctx, g.FS, m.Target, m.Device, m.FSType, flags|more, data)
		}
		switch {
		case errors.Is(err, unix.ENODEV):
			m.Mount, m.Note = false, fmt.Sprintf("the appliance kernel has no %s support", m.FSType)
		case err != nil:
			m.Mount, m.Note = false, "mount failed: "+err.Error()
		default:
			m.Mounted = true
			if where != m.Target {
				m.Note = "mount point resolves to " + where + " in the guest"
				m.Target = where
			}
		}
	}
}

// Unmount unmounts the fstab mounts, deepest first, then the root. Close
// FS first.
func (g *Guest) Unmount() error {
	if g.FS == nil {
		return nil
	}
	err := g.mounts.UnmountAll()
	if rerr := Unmount(RootMount); err == nil {
		err = rerr
	}
	return err
}

// Inspection reports g for the host.
func (g *Guest) Inspection() *wire.Inspection {
	in := &wire.Inspection{Root: -1}
	if g.Err != nil {
		in.Message = longText(g.Err.Error())
		in.Problem = guestabi.ProblemOf(g.Err)
	}
	if g.FS != nil {
		in.OS = wire.OSInfo{ID: shortText(g.OS["ID"]), VersionID: shortText(g.OS["VERSION_ID"]),
			Name: shortText(g.OS["NAME"]), PrettyName: shortText(g.OS["PRETTY_NAME"])}
	}
	// The candidates: those that look like roots, or, when nothing told
	// the Linux filesystems apart, every one the error lists.
	looked, candidate := map[string]Candidate{}, map[string]bool{}
	for _, c := range g.Candidates {
		looked[c.Volume.Device] = c
		candidate[c.Volume.Device] = c.IsRoot()
	}
	var re *RootError
	if errors.As(g.Err, &re) && errors.Is(re.Err, guestabi.ErrAmbiguousRoot) {
		for _, c := range re.Candidates {
			candidate[c.Volume.Device] = true
		}
	}
	notes := map[string]string{}
	mounted := map[string]string{}
	for _, m := range g.Fstab {
		switch {
		case m.Mounted:
			mounted[m.Device] = m.Target
		case m.Device != "" && notes[m.Device] == "":
			notes[m.Device] = fmt.Sprintf("fstab line %d: %s", m.Entry.Line, m.Note)
		}
	}
	for _, v := range g.Volumes[:min(len(g.Volumes), wire.MaxFilesystems)] {
		f := wire.Filesystem{
			Device: shortText(v.Device), Disk: v.Disk, Partition: v.Partition, LV: shortText(v.LV),
			PartUUID: shortText(v.PartUUID), PartLabel: shortText(v.PartLabel),
		}
		if v.Err == nil {
			f.Type, f.UUID, f.Label = string(v.Info.Type), shortText(v.Info.UUID), shortText(v.Info.Label)
		}
		if c, ok := looked[v.Device]; ok {
			f.Candidate = candidate[v.Device]
			f.OSName = shortText(osName(c.OS))
			if c.Err != nil {
				f.Note = longText("could not be looked at: " + c.Err.Error())
			}
		}
		switch {
		case g.FS != nil && v.Device == g.Root.Device:
			in.Root = len(in.Filesystems)
			f.MountPoint = "/"
			f.Subvolume = shortText(g.RootSubvol)
			f.Candidate = g.OS != nil || f.Candidate
			f.OSName = shortText(osName(g.OS))
		case mounted[v.Device] != "":
			f.MountPoint = longText(mounted[v.Device])
		case f.Note != "":
		case notes[v.Device] != "":
			f.Note = longText(notes[v.Device])
		case v.Err != nil:
			f.Note = longText(v.String())
		case v.Info.Type == blkid.Swap:
			f.Note = "swap"
		case v.Info.Type == blkid.LVM2 && g.LVMErr != nil:
			f.Note = longText("LVM physical volume; " + lvmReason(g.LVMErr))
		case v.Info.Type == blkid.LVM2:
			f.Note = "LVM physical volume"
		case g.FS != nil:
			f.Note = "not mounted: not in the root's /etc/fstab"
		}
		in.Filesystems = append(in.Filesystems, f)
	}
	if g.LVMErr != nil {
		in.Issues = append(in.Issues, wire.Issue{Code: guestabi.IssueOf(g.LVMErr), Message: longText(g.LVMErr.Error())})
	}
	if g.FstabNote != "" {
		in.Fstab = append(in.Fstab, wire.FstabLine{Note: longText(g.FstabNote)})
	}
	for _, s := range g.FstabSkips {
		in.Fstab = append(in.Fstab, wire.FstabLine{Line: s.Line, Note: longText(s.Reason)})
	}
	for _, m := range g.Fstab {
		in.Fstab = append(in.Fstab, wire.FstabLine{
			Line: m.Entry.Line, Source: longText(m.Entry.Source), MountPoint: longText(m.Entry.Target),
			Type: shortText(m.Entry.Type), Device: shortText(m.Device), Mounted: m.Mounted, Note: longText(m.Note),
		})
	}
	if len(in.Fstab) > wire.MaxFstabLines {
		in.Fstab = in.Fstab[:wire.MaxFstabLines]
	}
	return in
}

// lvmReason is the short account of an LVM failure for a note: the
// missing tools, or that activation failed (the issue has the details).
func lvmReason(err error) string {
	if errors.Is(err, guestabi.ErrNoLVMTools) {
		return "not activated: " + guestabi.ErrNoLVMTools.Error()
	}
	return guestabi.ErrLVMFailed.Error() + ": " + err.Error()
}

// shortText and longText make a string from the guest fit the rules of
// the host's check: guestabi.Clean to the limit for a name and for a
// message or path.
func shortText(s string) string { return guestabi.Clean(s, guestabi.MaxShortText) }
func longText(s string) string  { return guestabi.Clean(s, guestabi.MaxText) }
