package guestinject

import (
	"context"
	"errors"
	"fmt"

	"github.com/guestinject/guestinject/appliance"
	"github.com/guestinject/guestinject/imagecheck"
	"github.com/guestinject/guestinject/inject"
)

// InjectImage is the main job in one call: it checks the image at path
// against its declared format and policy (the default policy when none is
// given through opts), opens it in a single-use appliance VM, applies spec,
// and commits. An error before the commit leaves the image byte-for-byte
// unchanged; the report is nil on any error.
func InjectImage(ctx context.Context, path, format string, spec inject.Spec, opts ...appliance.Option) (*inject.Report, error) {
	f, err := imagecheck.ParseFormat(format)
	if err != nil {
		return nil, fmt.Errorf("guestinject: %w", err)
	}
	s, err := appliance.Open(ctx, []appliance.Disk{{Path: path, Format: string(f)}}, opts...)
	if err != nil {
		return nil, err
	}
	report, err := inject.Apply(ctx, s, spec)
	if err != nil {
		return nil, errors.Join(err, s.Close())
	}
	if err := s.Commit(ctx); err != nil {
		return nil, errors.Join(err, s.Close())
	}
	return report, nil
}
