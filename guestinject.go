package guestinject

import (
	"context"
	"errors"
	"fmt"

	"github.com/guestinject/guestinject/appliance"
	"github.com/guestinject/guestinject/inject"
	"github.com/guestinject/guestinject/mount"
	"github.com/guestinject/guestinject/vfs"
)

// A Backend opens guest disk images as a vfs.Session. Every backend checks
// each image against its declared format and its policy once, before
// anything else reads it; the session's Commit keeps the changes and its
// Close without Commit discards them. Appliance and TrustedHostMount are
// the two there are.
type Backend interface {
	OpenSession(ctx context.Context, disks []vfs.Disk) (vfs.Session, error)
}

// Appliance is the default backend: each session is a single-use VM that
// parses the guest's filesystems, so the images may come from anyone (see
// package appliance for what opts can say, a libvirt launcher included).
func Appliance(opts ...appliance.Option) Backend { return applianceBackend(opts) }

type applianceBackend []appliance.Option

func (b applianceBackend) OpenSession(ctx context.Context, disks []vfs.Disk) (vfs.Session, error) {
	s, err := appliance.Open(ctx, disks, b...)
	if err != nil {
		return nil, err // not a nil *Session in a non-nil interface
	}
	return s, nil
}

// TrustedHostMount is the backend for images the caller trusts: the host
// kernel mounts the image (mount.OpenTrusted), which is fast, and which a
// crafted filesystem can attack. It opens one disk per session.
func TrustedHostMount(opts ...mount.OpenOption) Backend { return hostMountBackend(opts) }

type hostMountBackend []mount.OpenOption

func (b hostMountBackend) OpenSession(ctx context.Context, disks []vfs.Disk) (vfs.Session, error) {
	if len(disks) != 1 {
		return nil, fmt.Errorf("guestinject: the host mount opens one disk, not %d", len(disks))
	}
	s, err := mount.OpenTrusted(ctx, disks[0], b...)
	if err != nil {
		return nil, err
	}
	return s, nil
}

// Option configures Open and InjectImage.
type Option func(*options)

type options struct {
	backend Backend
}

// WithBackend opens the image through b instead of Appliance().
func WithBackend(b Backend) Option { return func(o *options) { o.backend = b } }

// Open opens disk through the chosen backend (the appliance unless
// WithBackend says otherwise), which checks it first: a refused image is
// an error wrapping imagecheck's *RejectionError, and nothing has read it.
func Open(ctx context.Context, disk vfs.Disk, opts ...Option) (vfs.Session, error) {
	o := options{backend: Appliance()}
	for _, opt := range opts {
		opt(&o)
	}
	if o.backend == nil {
		return nil, errors.New("guestinject: WithBackend(nil)")
	}
	return o.backend.OpenSession(ctx, []vfs.Disk{disk})
}

// InjectImage is the main job in one call: it opens disk with Open (the
// image checked against its declared format and the backend's policy
// first), applies spec, and commits. An error before the commit leaves the
// image byte-for-byte unchanged.
//
// The report is nil when the image is refused, the backend does not open
// it or the spec cannot be planned. When applying fails part-way, the
// report comes back with the error: its Changes were made in the
// session's overlay and discarded with it, and its NotMade lists the
// change that failed first, then the rest of the plan; none of them is in
// the image. When the commit fails, the report is complete and the error
// says why the changes may not be in the image (see the backend's Commit).
func InjectImage(ctx context.Context, disk vfs.Disk, spec inject.Spec, opts ...Option) (*inject.Report, error) {
	s, err := Open(ctx, disk, opts...)
	if err != nil {
		return nil, err
	}
	return applyAndCommit(ctx, s, spec)
}

// applyAndCommit applies spec to s and commits it, or closes s (discarding
// every change) on failure. The report is returned with the error when
// there is one.
func applyAndCommit(ctx context.Context, s vfs.Session, spec inject.Spec) (*inject.Report, error) {
	report, err := inject.Apply(ctx, s, spec)
	if err != nil {
		return report, errors.Join(err, s.Close())
	}
	if err := s.Commit(ctx); err != nil {
		return report, errors.Join(err, s.Close())
	}
	return report, nil
}
