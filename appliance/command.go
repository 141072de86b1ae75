package appliance

import (
	"context"
	"fmt"
	"io/fs"

	"github.com/guestinject/guestinject/vfs"
)

var _ vfs.CommandFS = (*Session)(nil)

// RunCommand implements vfs.CommandFS: the agent runs c with the guest's
// own /bin/sh, chrooted into the guest root inside the VM (see
// vfs.CommandFS for what the command gets). What it changes goes to the
// session's overlays like any other change: Commit keeps it, Close drops
// it.
//
// The host bounds the call, not the VM: a ctx without a deadline gets c's
// timeout plus the session's operation timeout, after which the VM is
// killed and the session ended (*TimeoutError), whatever the agent does;
// the result the agent sends is checked before use, its output never
// longer than c asked for; and an overlay that grows over the limit of
// WithOverlayLimit while the command runs ends the session at once with
// an *OverlayLimitError.
func (s *Session) RunCommand(ctx context.Context, c vfs.Command) (*vfs.CommandResult, error) {
	c, err := c.WithDefaults()
	if err != nil {
		return nil, &fs.PathError{Op: "run", Path: "/", Err: err}
	}
	ctx, w := s.guard(ctx, c.Timeout+s.opTimeout)
	defer w.release()
	done := w.arm("run", "/")
	stopWatch := s.watchOverlays()
	res, err := s.client.RunCommand(ctx, c)
	if over := stopWatch(); over != nil {
		done(nil)
		return nil, over
	}
	if err = done(err); err != nil {
		return nil, fmt.Errorf("appliance: %w", err)
	}
	return res, nil
}

var _ vfs.PackageNetworkFS = (*Session)(nil)

// PackageNetwork implements vfs.PackageNetworkFS: whether the session was
// opened WithPackageNetwork, so that its commands reach the caller's
// package mirrors through the host's proxy.
func (s *Session) PackageNetwork() bool { return s.proxyStop != nil }
