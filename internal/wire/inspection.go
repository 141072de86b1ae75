package wire

import (
	"path"
	"strings"

	"github.com/guestinject/guestinject/internal/guestabi"
)

// OpInspect asks the agent what it found on the disks: the guest root,
// its operating system, every filesystem and what became of each fstab
// entry. The agent answers it even when it could not set up a root.
const OpInspect Op = "inspect"

// Bounds on an Inspection, checked by the host.
const (
	MaxFilesystems = 256
	MaxFstabLines  = 512
	MaxIssues      = 16
)

// Inspection is the agent's report of the guest, answered to OpInspect.
type Inspection struct {
	Problem     string                             `json:"problem,omitempty"` // a guestabi.Problem* code, "" when there is a root
	Message     string                             `json:"message,omitempty"`
	Root        int                                `json:"root"` // index in Filesystems, -1 when there is no root
	OS          OSInfo                             `json:"os"`
	Filesystems List[Filesystem, filesystemsBound] `json:"filesystems,omitempty"`
	Fstab       List[FstabLine, fstabLinesBound]   `json:"fstab,omitempty"`
	Issues      List[Issue, issuesBound]           `json:"issues,omitempty"`
}

// Issue is one guestabi.Issue* code and the agent's account of it.
type Issue struct {
	Code    string `json:"code"`
	Message string `json:"message,omitempty"`
}

// OSInfo is what the root's os-release says.
type OSInfo struct {
	ID         string `json:"id,omitempty"`
	VersionID  string `json:"version_id,omitempty"`
	Name       string `json:"name,omitempty"`
	PrettyName string `json:"pretty_name,omitempty"`
}

// Filesystem is one volume the agent found.
type Filesystem struct {
	Device     string `json:"device"`
	Disk       int    `json:"disk"`
	Partition  int    `json:"partition,omitempty"`
	LV         string `json:"lv,omitempty"`
	Type       string `json:"type,omitempty"`
	UUID       string `json:"uuid,omitempty"`
	Label      string `json:"label,omitempty"`
	PartUUID   string `json:"partuuid,omitempty"`
	PartLabel  string `json:"partlabel,omitempty"`
	MountPoint string `json:"mount_point,omitempty"`
	Subvolume  string `json:"subvolume,omitempty"` // btrfs subvolume mounted at MountPoint "/"
	Candidate  bool   `json:"candidate,omitempty"` // holds os-release or fstab
	OSName     string `json:"os_name,omitempty"`   // of a candidate
	Note       string `json:"note,omitempty"`
}

// FstabLine is what became of one line of the root's /etc/fstab.
type FstabLine struct {
	Line       int    `json:"line"`
	Source     string `json:"source,omitempty"`
	MountPoint string `json:"mount_point,omitempty"`
	Type       string `json:"type,omitempty"`
	Device     string `json:"device,omitempty"` // the volume the source names
	Mounted    bool   `json:"mounted,omitempty"`
	Note       string `json:"note,omitempty"` // why it was not mounted
}

// Check validates an Inspection from the agent: bounded counts and
// strings, valid UTF-8 without control characters, devices that are clean
// paths under /dev, clean absolute mount points, a known problem and known issues, and a root
// index in range.
func (in *Inspection) Check() error {
	switch {
	case in.Problem == "":
		if in.Root < 0 {
			return protocolErr("inspection without a root or a problem")
		}
	case guestabi.KnownProblem(in.Problem):
		if in.Root != -1 {
			return protocolErr("inspection with a problem and a root")
		}
	default:
		return protocolErr("unknown inspection problem %q", truncate(in.Problem))
	}
	if len(in.Filesystems) > MaxFilesystems || len(in.Fstab) > MaxFstabLines || len(in.Issues) > MaxIssues {
		return protocolErr("inspection with %d filesystems, %d fstab lines and %d issues", len(in.Filesystems), len(in.Fstab), len(in.Issues))
	}
	if in.Root >= len(in.Filesystems) || in.Root < -1 {
		return protocolErr("inspection root %d out of range", in.Root)
	}
	const long, short = guestabi.MaxText, guestabi.MaxShortText
	texts := []boundedText{
		{in.Message, long}, {in.OS.ID, short}, {in.OS.VersionID, short},
		{in.OS.Name, short}, {in.OS.PrettyName, short},
	}
	for _, f := range in.Filesystems {
		if !isDevice(f.Device) || f.Disk < 0 || f.Disk > MaxFilesystems || f.Partition < 0 || f.Partition > guestabi.MaxPartition {
			return protocolErr("inspection filesystem %q on disk %d partition %d", truncate(f.Device), f.Disk, f.Partition)
		}
		if f.MountPoint != "" && (f.MountPoint[0] != '/' || path.Clean(f.MountPoint) != f.MountPoint) {
			return protocolErr("inspection mount point %q", truncate(f.MountPoint))
		}
		texts = append(texts, []boundedText{
			{f.Device, short}, {f.LV, short}, {f.Type, short}, {f.UUID, short},
			{f.Label, short}, {f.PartUUID, short}, {f.PartLabel, short},
			{f.MountPoint, long}, {f.Subvolume, short}, {f.OSName, short}, {f.Note, long},
		}...)
	}
	for _, l := range in.Fstab {
		if l.Line < 0 || (l.Device != "" && !isDevice(l.Device)) {
			return protocolErr("inspection fstab line %d device %q", l.Line, truncate(l.Device))
		}
		texts = append(texts, []boundedText{
			{l.Source, long}, {l.MountPoint, long}, {l.Type, short},
			{l.Device, short}, {l.Note, long},
		}...)
	}
	for _, is := range in.Issues {
		if !guestabi.KnownIssue(is.Code) {
			return protocolErr("unknown inspection issue %q", truncate(is.Code))
		}
		texts = append(texts, boundedText{is.Message, long})
	}
	for _, t := range texts {
		if !guestabi.IsClean(t.s, t.max) {
			return protocolErr("inspection text %q", truncate(t.s))
		}
	}
	return nil
}

// isDevice reports whether name is a clean path under /dev: the agent
// names the devices it found there, and "/dev/../etc/passwd" is not one.
func isDevice(name string) bool {
	return strings.HasPrefix(name, "/dev/") && path.Clean(name) == name
}

type boundedText struct {
	s   string
	max int
}
