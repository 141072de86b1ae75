package imagecheck

import (
	"errors"
	"fmt"
)

// Reason says why an image was rejected. A Reason is itself an error so that
// callers can write errors.Is(err, imagecheck.ReasonBackingFile).
type Reason string

// The reasons Check, CheckFile, CheckName and CrossCheck give for rejecting
// an image or its name.
const (
	ReasonNoDeclaredFormat   Reason = "no declared format"
	ReasonProtocolName       Reason = "not a plain file name for QEMU"
	ReasonFormatNotAllowed   Reason = "format not allowed"
	ReasonFormatMismatch     Reason = "format mismatch"
	ReasonPolyglot           Reason = "polyglot"
	ReasonBackingFile        Reason = "backing file"
	ReasonDataFile           Reason = "external data file"
	ReasonExternalExtent     Reason = "external extent"
	ReasonUnsafeCreateType   Reason = "unsafe create type"
	ReasonUnknownFeature     Reason = "unknown feature"
	ReasonCorrupt            Reason = "corrupt"
	ReasonDirty              Reason = "dirty"
	ReasonUnsupportedVersion Reason = "unsupported version"
	ReasonEncrypted          Reason = "encrypted"
	ReasonTooLarge           Reason = "virtual size too large"
	ReasonTruncated          Reason = "truncated"
	ReasonReadLimit          Reason = "read limit exceeded"
	ReasonQEMUDisagrees      Reason = "qemu-img disagrees"
)

func (r Reason) Error() string { return string(r) }

// ErrRejected matches every *RejectionError with errors.Is.
var ErrRejected = errors.New("image rejected")

// ErrReadLimit is returned when inspecting an image would read more than
// MaxBytesRead bytes.
var ErrReadLimit = errors.New("imagecheck: read limit exceeded")

// RejectionError is the error Check returns when an image fails the policy.
type RejectionError struct {
	Reason Reason
	// Format is the format whose header produced the finding, if any.
	Format Format
	// Detail explains the finding in words, quoting the offending value.
	Detail string
	// Path is the file checked, empty for readers.
	Path string
}

func (e *RejectionError) Error() string {
	var s string
	if e.Path != "" {
		s = e.Path + ": "
	}
	s += "image rejected: " + string(e.Reason)
	if e.Format != "" {
		s += " (" + string(e.Format) + ")"
	}
	if e.Detail != "" {
		s += ": " + e.Detail
	}
	return s
}

// Is reports whether target is ErrRejected or the error's Reason.
func (e *RejectionError) Is(target error) bool {
	if target == ErrRejected {
		return true
	}
	r, ok := target.(Reason)
	return ok && r == e.Reason
}

// Defect is a policy-independent finding in an image header: something no
// policy accepts (a backing file, a corrupt flag, a truncated table...).
type Defect struct {
	Format Format
	Reason Reason
	Detail string
}

func (d Defect) String() string {
	return fmt.Sprintf("%s: %s: %s", d.Format, d.Reason, d.Detail)
}

func reject(d Defect) *RejectionError {
	return &RejectionError{Reason: d.Reason, Format: d.Format, Detail: d.Detail}
}
