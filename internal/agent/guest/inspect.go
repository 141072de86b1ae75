package guest

import (
	"fmt"
	"strings"

	"github.com/guestinject/guestinject/internal/guestabi"
	"github.com/guestinject/guestinject/internal/guestetc"
)

// Candidate is a Linux filesystem looked at as a possible root.
type Candidate struct {
	Volume   Volume
	Subvol   string             // the btrfs subvolume holding the root, "" for the default one
	OS       guestetc.OSRelease // nil when it has no os-release
	HasFstab bool
	Err      error // why it could not be looked at
}

// IsRoot reports whether c looks like a root: it has an os-release or an
// fstab.
func (c Candidate) IsRoot() bool { return c.Err == nil && (c.OS != nil || c.HasFstab) }

func (c Candidate) String() string {
	s := c.Volume.String()
	if c.Subvol != "" {
		s += " subvolume " + c.Subvol
	}
	if name := osName(c.OS); name != "" {
		s += fmt.Sprintf(" with %q", name)
	}
	return s
}

// osName is the name of the operating system os-release describes.
func osName(o guestetc.OSRelease) string {
	for _, k := range []string{"PRETTY_NAME", "NAME", "ID"} {
		if o[k] != "" {
			return o[k]
		}
	}
	return ""
}

// RootError is a failure to choose the guest root.
type RootError struct {
	Err        error              // guestabi.ErrNoRoot, ErrAmbiguousRoot or ErrRootNotFound
	Name       *guestabi.RootName // the root the host named, if any
	Candidates []Candidate        // the possible roots, for guestabi.ErrAmbiguousRoot
	Volumes    []Volume           // everything found
	Detail     string             // e.g. why the named root cannot be mounted
}

func (e *RootError) Error() string {
	var b strings.Builder
	b.WriteString(e.Err.Error())
	if e.Name != nil {
		fmt.Fprintf(&b, " (%s)", e.Name)
	}
	if e.Detail != "" {
		b.WriteString(": " + e.Detail)
	}
	if len(e.Candidates) > 0 {
		s := make([]string, len(e.Candidates))
		for i, c := range e.Candidates {
			s[i] = c.String()
		}
		b.WriteString("; candidates: " + strings.Join(s, ", "))
	}
	b.WriteString("; volumes: " + listVolumes(e.Volumes))
	return b.String()
}

func (e *RootError) Unwrap() error { return e.Err }

// ChooseRoot picks the volume holding the guest root.
//
// A root named by the host must match exactly one volume with a
// mountable filesystem. Otherwise, with one Linux filesystem it is the
// root; with several, look tells which hold /etc/os-release or /etc/fstab
// and the one that does is the root. It returns the candidates looked at.
func ChooseRoot(vols []Volume, name *guestabi.RootName, look func(Volume) Candidate) (Volume, []Candidate, error) {
	if name != nil {
		var found []Volume
		for _, v := range vols {
			if matches(*name, v) {
				found = append(found, v)
			}
		}
		switch {
		case len(found) == 0:
			return Volume{}, nil, &RootError{Err: guestabi.ErrRootNotFound, Name: name, Volumes: vols}
		case len(found) > 1:
			return Volume{}, nil, &RootError{Err: guestabi.ErrAmbiguousRoot, Name: name, Volumes: vols, Detail: "it names " + listVolumes(found)}
		case found[0].Err != nil || found[0].Info.Type.MountType() == "":
			return Volume{}, nil, &RootError{Err: guestabi.ErrRootNotFound, Name: name, Volumes: vols, Detail: found[0].String() + " holds no mountable filesystem"}
		}
		return found[0], nil, nil
	}
	var linux []Volume
	for _, v := range vols {
		if v.Err == nil && v.Info.Type.IsLinuxRoot() {
			linux = append(linux, v)
		}
	}
	switch len(linux) {
	case 0:
		return Volume{}, nil, &RootError{Err: guestabi.ErrNoRoot, Volumes: vols}
	case 1:
		return linux[0], nil, nil
	}
	looked := make([]Candidate, len(linux))
	var roots []Candidate
	for i, v := range linux {
		looked[i] = look(v)
		if looked[i].IsRoot() {
			roots = append(roots, looked[i])
		}
	}
	switch len(roots) {
	case 1:
		return roots[0].Volume, looked, nil
	case 0:
		// Bare data filesystems, none with /etc: nothing tells them apart.
		roots = looked
	}
	return Volume{}, looked, &RootError{Err: guestabi.ErrAmbiguousRoot, Candidates: roots, Volumes: vols}
}

// matches reports whether v is the volume n names.
func matches(n guestabi.RootName, v Volume) bool {
	switch n.Kind {
	case guestabi.RootByPartition:
		return v.LV == "" && v.Disk == n.Disk && v.Partition == n.Partition
	case guestabi.RootByLabel:
		return v.Err == nil && v.Info.Label == n.Value
	case guestabi.RootByUUID:
		return v.Err == nil && v.Info.UUID != "" && strings.EqualFold(v.Info.UUID, n.Value)
	case guestabi.RootByLV:
		return v.LV == n.Value
	}
	return false
}
