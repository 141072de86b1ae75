package imagecheck

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
)

// DefaultMaxVirtualSize is the virtual-size limit of DefaultPolicy: 1 TiB.
const DefaultMaxVirtualSize = 1 << 40

// Policy says which images Check accepts. The zero Policy accepts nothing;
// start from DefaultPolicy and widen it deliberately.
type Policy struct {
	// AllowedFormats lists the formats a caller may declare.
	AllowedFormats []Format
	// MaxVirtualSize bounds the largest size any header claims. Zero or
	// negative means DefaultMaxVirtualSize.
	MaxVirtualSize int64
	// AllowEncryption accepts encrypted images (LUKS, qcow2 encryption).
	AllowEncryption bool
	// AllowISOHybrid accepts an ISO image that also carries a GPT or MBR
	// partition table, when declared as iso.
	AllowISOHybrid bool
}

// DefaultPolicy accepts raw and qcow2 images up to 1 TiB, unencrypted.
func DefaultPolicy() Policy {
	return Policy{AllowedFormats: []Format{Raw, QCOW2}, MaxVirtualSize: DefaultMaxVirtualSize}
}

// WithFormats returns a copy of p that also allows formats.
func (p Policy) WithFormats(formats ...Format) Policy {
	p.AllowedFormats = append(slices.Clone(p.AllowedFormats), formats...)
	return p
}

func (p Policy) maxSize() int64 {
	if p.MaxVirtualSize <= 0 {
		return DefaultMaxVirtualSize
	}
	return p.MaxVirtualSize
}

// Check inspects the image in r (size bytes) and verifies it is a safe image
// of the declared format under p. It returns the Info either way; the error
// is a *RejectionError when the image is refused, or an I/O error. Check
// has no name to judge: see CheckFile and CheckName.
func Check(ctx context.Context, r io.ReaderAt, size int64, declared Format, p Policy) (*Info, error) {
	if err := checkDeclared(declared, p); err != nil {
		return nil, err
	}
	info, err := Inspect(ctx, r, size)
	if err != nil {
		if errors.Is(err, ErrReadLimit) {
			return info, &RejectionError{Reason: ReasonReadLimit, Format: declared, Detail: err.Error()}
		}
		return info, err
	}
	if rej := Judge(info, declared, p); rej != nil {
		return info, rej
	}
	return info, nil
}

// CheckFile is Check on the regular file at path; only path is opened. It
// also judges the name itself, before opening it, as CheckName does: path
// must be a name QEMU opens as this file (no protocol prefix, no fd set),
// and a raw or iso declaration is refused for a name a QEMU driver claims
// when it probes. Every rejection carries path in its Path.
func CheckFile(ctx context.Context, path string, declared Format, p Policy) (*Info, error) {
	if err := checkDeclared(declared, p); err != nil {
		var rej *RejectionError
		if errors.As(err, &rej) {
			rej.Path = path
		}
		return nil, err
	}
	if err := CheckName(path, declared); err != nil {
		return nil, err
	}
	f, size, err := openImage(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	info, err := Check(ctx, f, size, declared, p)
	var rej *RejectionError
	if errors.As(err, &rej) {
		rej.Path = path
	}
	return info, err
}

func checkDeclared(declared Format, p Policy) error {
	if err := declared.Declared(); err != nil {
		return err
	}
	if !declarable[declared] {
		return &RejectionError{Reason: ReasonFormatNotAllowed, Format: declared, Detail: fmt.Sprintf("%q cannot be declared", declared)}
	}
	if !slices.Contains(p.AllowedFormats, declared) {
		return &RejectionError{Reason: ReasonFormatNotAllowed, Format: declared, Detail: fmt.Sprintf("policy allows %v", p.AllowedFormats)}
	}
	return nil
}

// defectPriority orders defects so the most telling reason is reported.
var defectPriority = []Reason{
	ReasonBackingFile, ReasonDataFile, ReasonExternalExtent, ReasonUnsafeCreateType,
	ReasonUnknownFeature, ReasonUnsupportedVersion, ReasonFormatNotAllowed, ReasonTruncated,
	ReasonCorrupt, ReasonDirty, ReasonTooLarge,
}

// Judge applies declared and p to an Info from Inspect and returns the
// rejection, or nil if the image is acceptable. Like Check, it judges
// content only, not names.
func Judge(info *Info, declared Format, p Policy) *RejectionError {
	if err := checkDeclared(declared, p); err != nil {
		var rej *RejectionError
		errors.As(err, &rej)
		return rej
	}
	var containers, layouts []Format
	for _, f := range info.Formats {
		switch {
		case f == Raw:
		case f.IsLayout():
			layouts = append(layouts, f)
		default:
			containers = append(containers, f)
		}
	}
	mismatch := func(format string, args ...any) *RejectionError {
		return &RejectionError{Reason: ReasonFormatMismatch, Format: declared, Detail: fmt.Sprintf(format, args...)}
	}
	if len(containers) > 1 {
		return &RejectionError{Reason: ReasonPolyglot, Format: declared, Detail: fmt.Sprintf("content matches %v", containers)}
	}
	switch declared {
	case Raw:
		// An ISO 9660 or UDF filesystem, like a partition table, is raw
		// content (a config drive is one): Info.Formats names the layout.
		if len(containers) == 1 {
			return mismatch("declared raw, content is %s", containers[0])
		}
	case ISO:
		if len(containers) == 1 {
			return mismatch("declared iso, content is %s", containers[0])
		}
		if !slices.Contains(layouts, ISO) {
			return mismatch("declared iso, content has no ISO 9660 or UDF volume")
		}
		if len(layouts) > 1 && !p.AllowISOHybrid {
			return &RejectionError{Reason: ReasonPolyglot, Format: declared, Detail: fmt.Sprintf("hybrid image: %v", layouts)}
		}
	default:
		if len(containers) == 0 {
			return mismatch("declared %s, content is raw", declared)
		}
		if got := containers[0]; got != declared {
			if declared == QCOW2 && got == QCOW {
				return &RejectionError{Reason: ReasonUnsupportedVersion, Format: declared, Detail: "content is qcow version 1"}
			}
			return mismatch("declared %s, content is %s", declared, got)
		}
		if len(layouts) > 0 {
			return &RejectionError{Reason: ReasonPolyglot, Format: declared, Detail: fmt.Sprintf("%s image also carries %v", declared, layouts)}
		}
	}
	for _, r := range defectPriority {
		for _, d := range info.Defects {
			if d.Reason == r {
				return reject(d)
			}
		}
	}
	if len(info.Defects) > 0 {
		return reject(info.Defects[0])
	}
	if info.Encrypted && !p.AllowEncryption {
		return &RejectionError{Reason: ReasonEncrypted, Format: declared, Detail: "encryption: " + info.Encryption}
	}
	if m := info.MaxSize(); m > p.maxSize() {
		return &RejectionError{Reason: ReasonTooLarge, Format: declared, Detail: fmt.Sprintf("%d bytes, limit %d", m, p.maxSize())}
	}
	return nil
}
