//go:build libvirt

package main

import (
	"context"
	"log/slog"

	"github.com/guestinject/guestinject/appliance"
	"github.com/guestinject/guestinject/appliance/libvirt"
	"github.com/guestinject/guestinject/vfs"
)

// openLibvirt boots the appliance as a transient libvirt domain, on the
// image or on the disks of the shut-off domain --domain names.
func openLibvirt(ctx context.Context, b backendArgs, t target, log *slog.Logger) (vfs.Session, error) {
	opts := b.applianceOptions(t, log)
	if b.domain != "" {
		return libvirt.OpenDomain(ctx, b.connect, b.domain, opts...)
	}
	opts = append(opts, appliance.WithLauncher(libvirt.Launcher{URI: b.connect}))
	return appliance.Open(ctx, []vfs.Disk{t.disk()}, opts...)
}
