package imagecheck

import (
	"fmt"
	"strings"
)

// Format names an image format the way qemu-img's -f option does, plus the
// raw layouts (iso, gpt, mbr) that QEMU itself treats as raw.
type Format string

// Formats QEMU has a driver for.
const (
	Raw       Format = "raw"
	QCOW2     Format = "qcow2"
	QCOW      Format = "qcow" // version 1, recognised and refused
	QED       Format = "qed"
	VMDK      Format = "vmdk"
	VPC       Format = "vpc" // Microsoft VHD
	VHDX      Format = "vhdx"
	VDI       Format = "vdi"
	LUKS      Format = "luks"
	Bochs     Format = "bochs"     // recognised and refused
	Parallels Format = "parallels" // recognised and refused
	Cloop     Format = "cloop"     // recognised and refused
)

// Raw layouts: QEMU opens these as raw, but their content has a structure
// worth knowing about.
const (
	ISO Format = "iso" // ISO 9660 or UDF
	GPT Format = "gpt"
	MBR Format = "mbr"
)

// VHD is the common name of QEMU's vpc format.
const VHD = VPC

// IsLayout reports whether f is a raw layout rather than a container format.
func (f Format) IsLayout() bool { return f == ISO || f == GPT || f == MBR }

// Declared returns a RejectionError with ReasonNoDeclaredFormat when f
// declares nothing ("" or "auto"), and nil otherwise, for callers that
// refuse an undeclared format before they look at anything else.
func (f Format) Declared() error {
	if f == "" || f == "auto" {
		return &RejectionError{Reason: ReasonNoDeclaredFormat, Detail: "the format must be declared, not probed"}
	}
	return nil
}

// declarable lists the formats a caller may declare to Check.
var declarable = map[Format]bool{
	Raw: true, QCOW2: true, QED: true, VMDK: true, VPC: true, VHDX: true,
	VDI: true, LUKS: true, ISO: true,
}

// ParseFormat turns a qemu-img style name into a Format. "vhd" is accepted
// for vpc and "iso9660"/"udf" for iso. "auto" and "" are refused: the format
// must be declared.
func ParseFormat(s string) (Format, error) {
	f := Format(strings.ToLower(strings.TrimSpace(s)))
	if err := f.Declared(); err != nil {
		return "", err
	}
	switch f {
	case "vhd":
		return VPC, nil
	case "iso9660", "udf":
		return ISO, nil
	default:
		if declarable[f] || f == QCOW || f == Bochs || f == Parallels || f == Cloop || f == GPT || f == MBR {
			return f, nil
		}
		return "", fmt.Errorf("imagecheck: unknown format %q", s)
	}
}

// Extent is one VMDK extent line as QEMU would read it.
type Extent struct {
	Access   string // RW, RDONLY, NOACCESS
	Sectors  int64
	Type     string // SPARSE, FLAT, ZERO, VMFS, VMFSSPARSE, SESPARSE...
	FileName string
	Offset   int64 // FLAT extents only
}

// Info is what Inspect learned about an image.
type Info struct {
	// Formats lists every format whose signature the content carries. Raw is
	// listed when no QEMU driver would claim the content by probing; claims
	// by name are CheckName's to judge.
	Formats []Format
	// Format is the single container format (or Raw/ISO) of the content;
	// empty when several container formats match.
	Format Format

	FileSize int64
	// VirtualSize is the guest-visible size QEMU would compute.
	VirtualSize int64
	// CandidateSizes holds every size the headers claim (for example a VMDK
	// header and its footer); policy limits apply to the largest.
	CandidateSizes []int64

	Version     string
	ClusterSize int64
	BackingFile string
	DataFile    string
	CreateType  string // VMDK
	Extents     []Extent
	Encrypted   bool
	// Encryption names the scheme: "aes", "luks" (qcow2) or "luks".
	Encryption string
	// Features names the feature bits set in the header.
	Features  []string
	Snapshots int
	Dirty     bool
	Corrupt   bool
	// PartitionTable is "gpt", "mbr" or empty.
	PartitionTable string

	// Defects are findings that no policy accepts.
	Defects []Defect
	// BytesRead counts the bytes read from the image.
	BytesRead int64
}

// MaxSize is the largest of VirtualSize and CandidateSizes.
func (in *Info) MaxSize() int64 {
	m := in.VirtualSize
	for _, s := range in.CandidateSizes {
		m = max(m, s)
	}
	return m
}

// Has reports whether f is among the matching formats.
func (in *Info) Has(f Format) bool {
	for _, g := range in.Formats {
		if g == f {
			return true
		}
	}
	return false
}

func (in *Info) addFormat(f Format) {
	if !in.Has(f) {
		in.Formats = append(in.Formats, f)
	}
}

func (in *Info) defect(f Format, r Reason, format string, args ...any) {
	in.Defects = append(in.Defects, Defect{Format: f, Reason: r, Detail: fmt.Sprintf(format, args...)})
}

func (in *Info) addSize(s int64) {
	in.CandidateSizes = append(in.CandidateSizes, s)
}
