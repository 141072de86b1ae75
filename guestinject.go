package guestinject

import (
	"context"
	"errors"
	"fmt"

	"github.com/guestinject/guestinject/appliance"
	"github.com/guestinject/guestinject/imagecheck"
	"github.com/guestinject/guestinject/inject"
	"github.com/guestinject/guestinject/vfs"
)

// InjectImage is the main job in one call: it checks the image at path
// against its declared format and policy (the default policy when none is
// given through opts), opens it in a single-use appliance VM, applies spec,
// and commits. An error before the commit leaves the image byte-for-byte
// unchanged.
//
// The report is nil when the image is refused, the appliance does not
// start or the spec cannot be planned. When applying fails part-way, the
// report comes back with the error: its Changes were made in the
// appliance's overlay and discarded with it, and its NotMade lists the
// change that failed first, then the rest of the plan; none of them is in
// the image. When the commit fails, the report is complete and the error
// says why the changes may not be in the image (see appliance.Session.Commit).
func InjectImage(ctx context.Context, path, format string, spec inject.Spec, opts ...appliance.Option) (*inject.Report, error) {
	f, err := imagecheck.ParseFormat(format)
	if err != nil {
		return nil, fmt.Errorf("guestinject: %w", err)
	}
	s, err := appliance.Open(ctx, []vfs.Disk{{Path: path, Format: f}}, opts...)
	if err != nil {
		return nil, err
	}
	return applyAndCommit(ctx, s, spec)
}

// session is what InjectImage needs of an appliance session: a guest, a
// Commit, and a Close that discards whatever was not committed.
type session interface {
	vfs.FS
	Commit(ctx context.Context) error
}

// applyAndCommit applies spec to s and commits it, or closes s (discarding
// every change) on failure. The report is returned with the error when
// there is one.
func applyAndCommit(ctx context.Context, s session, spec inject.Spec) (*inject.Report, error) {
	report, err := inject.Apply(ctx, s, spec)
	if err != nil {
		return report, errors.Join(err, s.Close())
	}
	if err := s.Commit(ctx); err != nil {
		return report, errors.Join(err, s.Close())
	}
	return report, nil
}
