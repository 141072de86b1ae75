package guest

import (
	"fmt"
	"sort"
	"strings"

	"github.com/guestinject/guestinject/internal/blkid"
)

// FstabMount is what the agent makes of one fstab line: a mount to do,
// or the reason it is not done.
type FstabMount struct {
	Entry    FstabEntry
	Target   string // clean mount point, when Mount
	Volume   Volume // the volume the source names, when Device != ""
	Device   string // Volume.Device, "" when the source names none
	FSType   string // the type to mount, the superblock's
	Subvol   string // "subvol=..." or "subvolid=...", the btrfs subvolume to mount, "" for the default one
	ReadOnly bool   // the volume is on a read-only disk
	Mount    bool   // to be mounted
	Mounted  bool   // mounted, at Target
	Note     string // why not, or why the mount failed
}

// diskTypes are the fstab types that name an on-disk filesystem the agent
// can mount; anything else is pseudo, network or unsupported.
var diskTypes = map[string]string{
	"auto": "", "ext2": "ext4", "ext3": "ext4", "ext4": "ext4", "xfs": "xfs", "btrfs": "btrfs", "vfat": "vfat",
}

// PlanMounts decides, for each fstab entry of the root, whether and where
// to mount it; the result is in line order. Swap, noauto, bind mounts,
// pseudo and network filesystems, the root itself, sources that name no
// volume or a volume already used, a type that disagrees with the
// superblock, a bad btrfs subvolume option (ParseSubvol) and repeated
// mount points are skipped with a reason. rootSubvol is the btrfs
// subvolume mounted as the root ("" for the default one): another
// subvolume of the root's filesystem may be mounted, that one not again.
func PlanMounts(root Volume, rootSubvol string, entries []FstabEntry, vols []Volume) []FstabMount {
	plan := make([]FstabMount, 0, len(entries))
	usedVolume := map[volumeKey]int{} // device and subvolume -> line
	usedTarget := map[string]int{}    // mount point -> line
	usedVolume[volumeKey{root.Device, subvolOption(rootSubvol)}] = 0
	for _, e := range entries {
		m := FstabMount{Entry: e}
		m.Note = m.decide(root, vols, usedVolume, usedTarget)
		if m.Note == "" {
			m.Mount = true
			usedVolume[volumeKey{m.Device, m.Subvol}] = e.Line
			usedTarget[m.Target] = e.Line
		}
		plan = append(plan, m)
	}
	return plan
}

// volumeKey is what is mounted: a device and a subvolume option.
type volumeKey struct{ device, subvol string }

func (m *FstabMount) decide(root Volume, vols []Volume, usedVolume map[volumeKey]int, usedTarget map[string]int) string {
	e := m.Entry
	want, known := diskTypes[e.Type]
	switch {
	case e.Type == "swap":
		return "swap is not mounted"
	case e.HasOption("noauto"):
		return "noauto"
	case e.HasOption("bind") || e.HasOption("rbind") || e.HasOption("move"):
		return "bind mounts are not mounted"
	case !known:
		return fmt.Sprintf("type %q is a pseudo, network or unsupported filesystem", clip(e.Type))
	}
	target, err := cleanTarget(e.Target)
	if err != nil {
		return err.Error()
	}
	if target == "/" {
		return "the root filesystem"
	}
	v, err := ResolveSource(e.Source, vols)
	if err != nil {
		return err.Error()
	}
	m.Volume, m.Device, m.ReadOnly = v, v.Device, v.ReadOnly
	subvol, err := ParseSubvol(e.Options)
	if err != nil {
		return err.Error()
	}
	used, ok := usedVolume[volumeKey{v.Device, subvol}]
	switch {
	case ok && used == 0:
		return "names the root filesystem, which is mounted once, at /"
	case ok:
		return fmt.Sprintf("%s is already mounted by line %d", describeMount(v.Device, subvol), used)
	case v.Device == root.Device && root.Info.Type != blkid.Btrfs:
		return "names the root filesystem, which is mounted once, at /"
	}
	if v.Err != nil || v.Info.Type.MountType() == "" {
		return fmt.Sprintf("%s holds no mountable filesystem", v)
	}
	m.FSType = v.Info.Type.MountType()
	if want != "" && want != m.FSType {
		return fmt.Sprintf("fstab says %s but the superblock of %s says %s", e.Type, v.Device, v.Info.Type)
	}
	if subvol != "" && m.FSType != "btrfs" {
		return fmt.Sprintf("%s is a btrfs option but %s holds %s", strings.SplitN(subvol, "=", 2)[0], v.Device, v.Info.Type)
	}
	m.Subvol = subvol
	if line, ok := usedTarget[target]; ok {
		return fmt.Sprintf("mount point %s is already used by line %d", clip(target), line)
	}
	m.Target = target
	return ""
}

// describeMount names a device and its subvolume option for a note.
func describeMount(device, subvol string) string {
	if subvol == "" {
		return device
	}
	return device + " " + subvol
}

// MountOrder returns the indexes of the planned mounts of plan, parents
// before children: by depth of the mount point, then by line.
func MountOrder(plan []FstabMount) []int {
	var order []int
	for i, m := range plan {
		if m.Mount {
			order = append(order, i)
		}
	}
	sort.SliceStable(order, func(a, b int) bool {
		return depth(plan[order[a]].Target) < depth(plan[order[b]].Target)
	})
	return order
}

func depth(p string) int { return strings.Count(p, "/") }
