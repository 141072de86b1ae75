package guestabi

import "errors"

// Errors of choosing the guest root. The agent wraps them in what it
// reports; over the wire they travel as Problem codes, and the host
// returns the same values, so errors.Is matches on both sides.
var (
	// ErrNoRoot: no volume holds a Linux root filesystem.
	ErrNoRoot = errors.New("no Linux filesystem found for the guest root")
	// ErrAmbiguousRoot: more than one volume could be the root, or the
	// root the host named matches more than one.
	ErrAmbiguousRoot = errors.New("more than one filesystem could be the guest root")
	// ErrRootNotFound: the root the host named matches no volume, or one
	// that cannot be mounted.
	ErrRootNotFound = errors.New("the named guest root was not found")
)

// Errors of setting up the guest that do not by themselves prevent a
// root. Over the wire they travel as Issue codes.
var (
	// ErrNoLVMTools: the guest has LVM physical volumes, but the
	// appliance was built on a host without lvm2, so it cannot activate
	// them.
	ErrNoLVMTools = errors.New("the appliance has no LVM tools (install lvm2 on the host)")
	// ErrLVMFailed: activating the guest's LVM volume groups failed, at
	// least in part.
	ErrLVMFailed = errors.New("LVM activation failed")
)

// Problems the agent can report instead of a root.
const (
	ProblemNoRoot        = "no-root"        // ErrNoRoot
	ProblemAmbiguousRoot = "ambiguous-root" // ErrAmbiguousRoot; the candidates are marked
	ProblemRootNotFound  = "root-not-found" // ErrRootNotFound
	ProblemFailed        = "failed"         // anything else; the message says what
)

// Issues the agent can report beside a root or a problem: what went wrong
// while setting up the guest and may explain missing volumes.
const (
	IssueNoLVMTools = "no-lvm-tools" // ErrNoLVMTools
	IssueLVMFailed  = "lvm-failed"   // ErrLVMFailed; the message says how
)

// problems pairs the problem codes with their sentinels, in the order
// ProblemOf tries them.
var problems = []struct {
	code string
	err  error
}{
	{ProblemAmbiguousRoot, ErrAmbiguousRoot},
	{ProblemNoRoot, ErrNoRoot},
	{ProblemRootNotFound, ErrRootNotFound},
}

// ProblemOf returns the problem code that reports err, why there is no
// root: the code of the sentinel err matches, else ProblemFailed; "" for
// nil.
func ProblemOf(err error) string {
	if err == nil {
		return ""
	}
	for _, p := range problems {
		if errors.Is(err, p.err) {
			return p.code
		}
	}
	return ProblemFailed
}

// ProblemErr returns the sentinel of a problem code; nil for
// ProblemFailed, which has none, and for unknown codes.
func ProblemErr(code string) error {
	for _, p := range problems {
		if p.code == code {
			return p.err
		}
	}
	return nil
}

// KnownProblem reports whether code is one of the Problem codes.
func KnownProblem(code string) bool {
	return code == ProblemFailed || ProblemErr(code) != nil
}

// IssueOf returns the issue code that reports err, an LVM activation
// failure: IssueNoLVMTools when it matches ErrNoLVMTools, else
// IssueLVMFailed; "" for nil.
func IssueOf(err error) string {
	switch {
	case err == nil:
		return ""
	case errors.Is(err, ErrNoLVMTools):
		return IssueNoLVMTools
	}
	return IssueLVMFailed
}

// IssueErr returns the sentinel of an issue code, nil for an unknown code.
func IssueErr(code string) error {
	switch code {
	case IssueNoLVMTools:
		return ErrNoLVMTools
	case IssueLVMFailed:
		return ErrLVMFailed
	}
	return nil
}

// KnownIssue reports whether code is one of the Issue codes.
func KnownIssue(code string) bool { return IssueErr(code) != nil }
