package appliance

import (
	"context"
	"fmt"

	"github.com/guestinject/guestinject/internal/initramfs"
)

// Kernel is the kernel a session's VM booted.
type Kernel struct {
	Path    string // the kernel image
	Version string
	// Own is true for the appliance's own kernel, built by `make kernel`
	// (scripts/build-kernel.sh) into the cache; see "Kernel and agent"
	// in the package documentation.
	Own bool
}

// Kernel says which kernel the session's VM booted.
func (s *Session) Kernel() Kernel { return s.kernel }

// buildAppliance finds the kernel and builds, or finds in the cache,
// the initramfs and payload disk the VM boots with.
func buildAppliance(ctx context.Context, o options) (*initramfs.Appliance, Kernel, error) {
	app, err := initramfs.Build(ctx, initramfs.Config{Kernel: o.kernel, Agent: o.agent, CacheDir: o.cacheDir, Logger: o.log,
		WithoutLVM: o.withoutLVM})
	if err != nil {
		return nil, Kernel{}, fmt.Errorf("appliance: %w", err)
	}
	return app, Kernel{Path: app.Kernel, Version: app.KernelVersion, Own: app.OwnKernel}, nil
}
