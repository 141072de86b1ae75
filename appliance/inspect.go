package appliance

import (
	"errors"
	"fmt"
	"strings"

	"github.com/guestinject/guestinject/internal/guestabi"
	"github.com/guestinject/guestinject/internal/wire"
	"github.com/guestinject/guestinject/vfs"
)

// Errors of setting up the guest that do not by themselves prevent a
// root; they are the Err of an Issue, and a *RootError matches them
// (errors.Is) when it has that issue.
var (
	// ErrNoLVMTools: the guest has LVM physical volumes, but the
	// appliance was built on a host without lvm2, so their logical
	// volumes are missing.
	ErrNoLVMTools = guestabi.ErrNoLVMTools
	// ErrLVMFailed: activating the guest's LVM volume groups failed, at
	// least in part.
	ErrLVMFailed = guestabi.ErrLVMFailed
)

// WithRoot names the guest root instead of letting the appliance choose
// it, like Nova's inject_partition: by any field of vfs.Root, LVM logical
// volumes included. Open fails with vfs.ErrRootNotFound when the named
// filesystem is not there or cannot be mounted.
func WithRoot(r vfs.Root) Option { return func(o *options) { o.root = &r } }

// rootName validates r against the number of disks and turns it into
// what the agent reads.
func rootName(r vfs.Root, disks int) (guestabi.RootName, error) {
	var names []guestabi.RootName
	if r.Volume != nil {
		names = append(names, guestabi.RootName{Kind: guestabi.RootByPartition, Disk: r.Volume.Disk, Partition: r.Volume.Partition})
		if r.Volume.Disk < 0 || r.Volume.Disk >= disks {
			return guestabi.RootName{}, fmt.Errorf("appliance: WithRoot: disk %d of %d", r.Volume.Disk, disks)
		}
	}
	if r.Label != "" {
		names = append(names, guestabi.RootName{Kind: guestabi.RootByLabel, Value: r.Label})
	}
	if r.UUID != "" {
		names = append(names, guestabi.RootName{Kind: guestabi.RootByUUID, Value: r.UUID})
	}
	if r.LV != "" {
		names = append(names, guestabi.RootName{Kind: guestabi.RootByLV, Value: strings.TrimPrefix(r.LV, "/dev/")})
	}
	if len(names) != 1 {
		return guestabi.RootName{}, fmt.Errorf("appliance: WithRoot: set exactly one of Volume, Label, UUID and LV (%d set)", len(names))
	}
	if err := names[0].Validate(); err != nil {
		return guestabi.RootName{}, fmt.Errorf("appliance: WithRoot: %w", err)
	}
	return names[0], nil
}

// Inspection is what the appliance found on the disks: the guest root,
// its operating system, every filesystem and how each fstab entry of the
// root was handled. Every string in it comes from the guest image and is
// only checked to be bounded, valid UTF-8 and free of control characters.
type Inspection struct {
	OS OS `json:"os"`
	// Root is the filesystem mounted at "/"; it is also in Filesystems.
	Root Filesystem `json:"root"`
	// Filesystems are the whole disks and partitions (and logical
	// volumes) found, in disk and partition order.
	Filesystems []Filesystem `json:"filesystems"`
	// Fstab says what became of each line of the root's /etc/fstab,
	// and of the file itself when it could not be read (Line 0).
	Fstab []FstabEntry `json:"fstab,omitempty"`
	// Issues are what went wrong while setting up the guest and may
	// explain volumes or mounts that are missing.
	Issues []Issue `json:"issues,omitempty"`
}

// Issue is something that went wrong while the appliance set up the
// guest, such as LVM volumes it could not activate. It is an error that
// matches its sentinel (ErrNoLVMTools, ErrLVMFailed) with errors.Is.
type Issue struct {
	// Code names the issue: "no-lvm-tools" or "lvm-failed".
	Code string `json:"code"`
	// Message is the appliance's account, from the guest's metadata in
	// part.
	Message string `json:"message,omitempty"`
}

// Issue codes.
const (
	IssueNoLVMTools = guestabi.IssueNoLVMTools
	IssueLVMFailed  = guestabi.IssueLVMFailed
)

func (i Issue) Error() string {
	if i.Message == "" {
		return "appliance: " + i.Unwrap().Error()
	}
	return "appliance: " + i.Message
}

// Unwrap returns the sentinel of the issue's code, ErrLVMFailed for a
// code it does not know.
func (i Issue) Unwrap() error {
	if err := guestabi.IssueErr(i.Code); err != nil {
		return err
	}
	return ErrLVMFailed
}

// OS is what the root's os-release file says; empty when it has none.
type OS struct {
	ID         string `json:"id,omitempty"`
	VersionID  string `json:"version_id,omitempty"`
	Name       string `json:"name,omitempty"`
	PrettyName string `json:"pretty_name,omitempty"`
}

// Filesystem is a volume of the guest.
type Filesystem struct {
	// Device is its device node inside the appliance, e.g. /dev/vda2.
	Device string `json:"device"`
	// Disk is its disk's index in Open's list; Partition its partition
	// number, 0 for a whole disk.
	Disk      int `json:"disk"`
	Partition int `json:"partition,omitempty"`
	// LV is "vg/lv" for an LVM logical volume.
	LV string `json:"lv,omitempty"`
	// Type, UUID and Label come from its superblock; Type is "" when the
	// content is unknown.
	Type  string `json:"type,omitempty"`
	UUID  string `json:"uuid,omitempty"`
	Label string `json:"label,omitempty"`
	// PartUUID and PartLabel come from the partition table.
	PartUUID  string `json:"partuuid,omitempty"`
	PartLabel string `json:"partlabel,omitempty"`
	// MountPoint is where it is mounted in the guest tree, "" if it is
	// not.
	MountPoint string `json:"mount_point,omitempty"`
	// Subvolume is the btrfs subvolume mounted as the root ("@",
	// "root"), "" for the filesystem's default one.
	Subvolume string `json:"subvolume,omitempty"`
	// Candidate reports that it was considered as the root: it holds an
	// os-release or an fstab. OSName is the name its os-release gives.
	Candidate bool   `json:"candidate,omitempty"`
	OSName    string `json:"os_name,omitempty"`
	// Note says why it is not mounted, or anything unusual.
	Note string `json:"note,omitempty"`
}

func (f Filesystem) String() string {
	var b strings.Builder
	b.WriteString(f.Device)
	switch {
	case f.LV != "":
		fmt.Fprintf(&b, " (LV %s", f.LV)
	case f.Partition == 0:
		fmt.Fprintf(&b, " (disk %d", f.Disk)
	default:
		fmt.Fprintf(&b, " (disk %d partition %d", f.Disk, f.Partition)
	}
	if f.Type != "" {
		b.WriteString(", " + f.Type)
	}
	if f.Label != "" {
		fmt.Fprintf(&b, ", label %q", f.Label)
	}
	if f.UUID != "" {
		b.WriteString(", UUID " + f.UUID)
	}
	if f.OSName != "" {
		fmt.Fprintf(&b, ", %q", f.OSName)
	}
	b.WriteString(")")
	return b.String()
}

// FstabEntry is one line of the root's /etc/fstab and what became of it.
type FstabEntry struct {
	Line       int    `json:"line"`                  // line number; 0 for a note about the whole file
	Source     string `json:"source,omitempty"`      // as written: UUID=..., LABEL=..., /dev/vdb1
	MountPoint string `json:"mount_point,omitempty"` // as written
	Type       string `json:"type,omitempty"`        // as written
	Device     string `json:"device,omitempty"`      // the device the source resolved to, "" if none
	Mounted    bool   `json:"mounted,omitempty"`
	// Note says why the line was not mounted, or where a mount point
	// that is a symlink led.
	Note string `json:"note,omitempty"`
}

// RootError is a failure to choose the guest root. It wraps
// vfs.ErrNoRoot, vfs.ErrAmbiguousRoot or vfs.ErrRootNotFound.
type RootError struct {
	Err error
	// Candidates are the filesystems that could be the root, for
	// vfs.ErrAmbiguousRoot.
	Candidates []Filesystem
	// Filesystems is everything found.
	Filesystems []Filesystem
	// Detail is the appliance's own account.
	Detail string
	// Issues are what else went wrong, and may say why the root is
	// missing (a root on LVM without the LVM tools).
	Issues []Issue
}

func (e *RootError) Error() string {
	var b strings.Builder
	b.WriteString("appliance: " + e.Err.Error())
	list := func(fss []Filesystem) string {
		if len(fss) == 0 {
			return "none"
		}
		s := make([]string, len(fss))
		for i, f := range fss {
			s[i] = f.String()
		}
		return strings.Join(s, ", ")
	}
	if len(e.Candidates) > 0 {
		b.WriteString(": " + list(e.Candidates))
	}
	if errors.Is(e.Err, vfs.ErrAmbiguousRoot) {
		b.WriteString("; name the root with appliance.WithRoot(vfs.Root{...}) by Label, UUID, LV or Volume (disk and partition)")
	}
	b.WriteString("; filesystems found: " + list(e.Filesystems))
	if e.Detail != "" {
		b.WriteString("; appliance says: " + e.Detail)
	}
	return b.String()
}

// Unwrap returns Err and the issues, so errors.Is matches ErrNoLVMTools
// too when the root may be missing for want of the LVM tools.
func (e *RootError) Unwrap() []error {
	errs := []error{e.Err}
	for _, is := range e.Issues {
		errs = append(errs, is)
	}
	return errs
}

// Inspection returns what the appliance found when it set up the guest.
func (s *Session) Inspection() Inspection {
	in := s.inspection
	in.Filesystems = append([]Filesystem(nil), in.Filesystems...)
	in.Fstab = append([]FstabEntry(nil), in.Fstab...)
	in.Issues = append([]Issue(nil), in.Issues...)
	return in
}

// inspectionFrom converts the agent's checked report, and checks what
// only the host knows: the disk indexes. A root problem becomes a
// *RootError.
//
// The public types are conversions of the wire's, so the compiler keeps the
// two in step.
func inspectionFrom(w *wire.Inspection, disks int) (Inspection, error) {
	var in Inspection
	for _, f := range w.Filesystems {
		if f.Disk >= disks {
			return Inspection{}, fmt.Errorf("appliance: %w: inspection names disk %d of %d", wire.ErrProtocol, f.Disk, disks)
		}
		in.Filesystems = append(in.Filesystems, Filesystem(f))
	}
	for _, l := range w.Fstab {
		in.Fstab = append(in.Fstab, FstabEntry(l))
	}
	for _, is := range w.Issues {
		in.Issues = append(in.Issues, Issue(is))
	}
	in.OS = OS(w.OS)
	if w.Problem == "" {
		in.Root = in.Filesystems[w.Root]
		return in, nil
	}
	re := &RootError{Err: guestabi.ProblemErr(w.Problem), Filesystems: in.Filesystems, Detail: w.Message, Issues: in.Issues}
	if re.Err == nil {
		return in, fmt.Errorf("appliance: setting up the guest root: %s", w.Message)
	}
	for _, f := range in.Filesystems {
		if f.Candidate {
			re.Candidates = append(re.Candidates, f)
		}
	}
	return in, re
}
