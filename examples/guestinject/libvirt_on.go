//go:build libvirt

package main

import (
	"context"

	"github.com/guestinject/guestinject/appliance"
	"github.com/guestinject/guestinject/appliance/libvirt"
	"github.com/guestinject/guestinject/vfs"
)

// libvirtLauncher boots the appliance as a transient libvirt domain.
func libvirtLauncher(uri string) (appliance.Launcher, error) { return libvirt.Launcher{URI: uri}, nil }

// openDomain boots the appliance on the disks of the shut-off domain
// --domain names.
func openDomain(ctx context.Context, b backendArgs, opts []appliance.Option) (vfs.Session, error) {
	s, err := libvirt.OpenDomain(ctx, b.connect, b.domain, opts...)
	if err != nil {
		return nil, err
	}
	return s, nil
}
