package guestabi_test

import (
	"errors"
	"fmt"
	"testing"

	"github.com/guestinject/guestinject/internal/guestabi"
)

func TestProblemRoundTrip(t *testing.T) {
	for _, sentinel := range []error{guestabi.ErrNoRoot, guestabi.ErrAmbiguousRoot, guestabi.ErrRootNotFound} {
		wrapped := fmt.Errorf("choosing: %w; %w", sentinel, guestabi.ErrNoLVMTools)
		code := guestabi.ProblemOf(wrapped)
		if !guestabi.KnownProblem(code) || code == guestabi.ProblemFailed {
			t.Errorf("ProblemOf(%v) = %q", wrapped, code)
		}
		if got := guestabi.ProblemErr(code); got != sentinel {
			t.Errorf("ProblemErr(%q) = %v, want %v", code, got, sentinel)
		}
	}
	if code := guestabi.ProblemOf(errors.New("mount failed")); code != guestabi.ProblemFailed {
		t.Errorf("ProblemOf(other) = %q, want %q", code, guestabi.ProblemFailed)
	}
	if code := guestabi.ProblemOf(nil); code != "" {
		t.Errorf("ProblemOf(nil) = %q", code)
	}
	if err := guestabi.ProblemErr(guestabi.ProblemFailed); err != nil {
		t.Errorf("ProblemErr(failed) = %v, want nil", err)
	}
	for _, code := range []string{"", "No-Root", "no-lvm-tools", "bogus"} {
		if guestabi.KnownProblem(code) || guestabi.ProblemErr(code) != nil {
			t.Errorf("problem %q is known", code)
		}
	}
}

func TestIssueRoundTrip(t *testing.T) {
	for err, want := range map[error]error{
		fmt.Errorf("LVM physical volumes /dev/vda1: %w", guestabi.ErrNoLVMTools): guestabi.ErrNoLVMTools,
		errors.New("lvm vgchange: exit status 5"):                                guestabi.ErrLVMFailed,
	} {
		code := guestabi.IssueOf(err)
		if !guestabi.KnownIssue(code) || guestabi.IssueErr(code) != want {
			t.Errorf("IssueOf(%v) = %q, whose sentinel is %v; want %v", err, code, guestabi.IssueErr(code), want)
		}
	}
	if code := guestabi.IssueOf(nil); code != "" {
		t.Errorf("IssueOf(nil) = %q", code)
	}
	for _, code := range []string{"", "no-root", "bogus"} {
		if guestabi.KnownIssue(code) || guestabi.IssueErr(code) != nil {
			t.Errorf("issue %q is known", code)
		}
	}
}

// TestSentinelsDistinct keeps every sentinel its own message, so an error
// text tells which one it is.
func TestSentinelsDistinct(t *testing.T) {
	seen := map[string]bool{}
	for _, err := range []error{guestabi.ErrNoRoot, guestabi.ErrAmbiguousRoot, guestabi.ErrRootNotFound, guestabi.ErrNoLVMTools, guestabi.ErrLVMFailed} {
		if seen[err.Error()] {
			t.Errorf("message %q is used twice", err)
		}
		seen[err.Error()] = true
	}
}
