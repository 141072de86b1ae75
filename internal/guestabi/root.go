package guestabi

import (
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"
)

// RootParam is the kernel command line parameter that names the guest
// root. The host builds it with RootName.Param and the agent reads it with
// ParseRootParam.
//
// The name travels on the command line, not over the wire, because the
// agent chooses and mounts the root before it serves anything; the
// command line is the one input the host fixes before boot. The value is
// "<kind>.<hex>" (kind part, label, uuid or lv), so no byte of a label
// can split the command line or reach the kernel's own parser.
const RootParam = "guestinject.root"

// Kinds of RootName.
const (
	RootByPartition = "part"  // Disk and Partition
	RootByLabel     = "label" // filesystem label
	RootByUUID      = "uuid"  // filesystem UUID
	RootByLV        = "lv"    // LVM logical volume "vg/lv"
)

// MaxRootName bounds a label, UUID or LV name in a RootName.
const MaxRootName = 255

// Bounds on the numbers in a RootByPartition name. The host also holds
// the partition numbers the agent reports to MaxPartition.
const (
	MaxDisk      = 1024
	MaxPartition = 1 << 16
)

// maxQuoted bounds a rejected value quoted in an error.
const maxQuoted = 64

// RootName names the guest root instead of letting the agent choose it.
type RootName struct {
	Kind      string
	Disk      int    // RootByPartition: the host's disk index
	Partition int    // RootByPartition: partition number, 0 for the whole disk
	Value     string // the label, UUID or "vg/lv"
}

// Validate checks n; the host calls it before boot, the agent after
// decoding.
func (n RootName) Validate() error {
	switch n.Kind {
	case RootByPartition:
		if n.Disk < 0 || n.Disk > MaxDisk || n.Partition < 0 || n.Partition > MaxPartition {
			return fmt.Errorf("disk %d partition %d out of range", n.Disk, n.Partition)
		}
		return nil
	case RootByLabel, RootByUUID, RootByLV:
	default:
		return fmt.Errorf("unknown kind of root name %q", Clean(n.Kind, maxQuoted))
	}
	v := n.Value
	if v == "" || len(v) > MaxRootName || !utf8.ValidString(v) || strings.ContainsFunc(v, unicode.IsControl) {
		return fmt.Errorf("bad root %s %q", n.Kind, Clean(v, maxQuoted))
	}
	switch n.Kind {
	case RootByUUID:
		for _, c := range []byte(v) {
			if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F' || c == '-') {
				return fmt.Errorf("bad root UUID %q", Clean(v, maxQuoted))
			}
		}
	case RootByLV:
		vg, lv, ok := strings.Cut(v, "/")
		if !ok || !ValidLVMName(vg) || !ValidLVMName(lv) {
			return fmt.Errorf("bad root logical volume %q: want vg/lv", Clean(v, maxQuoted))
		}
	}
	return nil
}

// Param returns the kernel command line parameter that carries n.
func (n RootName) Param() string {
	v := n.Value
	if n.Kind == RootByPartition {
		v = strconv.Itoa(n.Disk) + ":" + strconv.Itoa(n.Partition)
	}
	return RootParam + "=" + n.Kind + "." + hex.EncodeToString([]byte(v))
}

// ParseRootParam decodes the value of RootParam; "" means no name. It
// accepts only what Param makes of a valid RootName.
func ParseRootParam(s string) (*RootName, error) {
	if s == "" {
		return nil, nil
	}
	kind, enc, ok := strings.Cut(s, ".")
	if !ok || len(enc) > 2*MaxRootName || strings.ToLower(enc) != enc {
		return nil, errors.New("malformed " + RootParam)
	}
	raw, err := hex.DecodeString(enc)
	if err != nil {
		return nil, errors.New("malformed " + RootParam)
	}
	n := RootName{Kind: kind, Value: string(raw)}
	if kind == RootByPartition {
		d, p, ok := strings.Cut(n.Value, ":")
		var derr, perr error
		n.Disk, derr = strconv.Atoi(d)
		n.Partition, perr = strconv.Atoi(p)
		if !ok || derr != nil || perr != nil || strconv.Itoa(n.Disk) != d || strconv.Itoa(n.Partition) != p {
			return nil, errors.New("malformed " + RootParam)
		}
		n.Value = ""
	}
	if err := n.Validate(); err != nil {
		return nil, err
	}
	return &n, nil
}

func (n RootName) String() string {
	switch n.Kind {
	case RootByPartition:
		if n.Partition == 0 {
			return fmt.Sprintf("disk %d (whole disk)", n.Disk)
		}
		return fmt.Sprintf("disk %d partition %d", n.Disk, n.Partition)
	case RootByLabel:
		return fmt.Sprintf("filesystem label %q", n.Value)
	case RootByUUID:
		return "filesystem UUID " + n.Value
	case RootByLV:
		return "logical volume " + n.Value
	}
	return "root " + Clean(n.Kind, maxQuoted)
}

// ValidLVMName reports whether s is a valid LVM volume group or logical
// volume name: letters, digits and "+_.-", not starting with "-", not "."
// or "..", at most 127 bytes.
func ValidLVMName(s string) bool {
	if s == "" || len(s) > 127 || s[0] == '-' || s == "." || s == ".." {
		return false
	}
	for _, c := range []byte(s) {
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9', c == '+', c == '_', c == '.', c == '-':
		default:
			return false
		}
	}
	return true
}
