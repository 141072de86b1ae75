//go:build !libvirt

package main

import (
	"context"

	"github.com/guestinject/guestinject/appliance"
	"github.com/guestinject/guestinject/vfs"
)

// errNoLibvirt stands in for the libvirt backend, which needs cgo and the
// libvirt headers: build with -tags libvirt to include it.
var errNoLibvirt = &unavailableError{msg: "--backend libvirt is not available in this build (build with -tags libvirt, which needs cgo and libvirt's headers); use --backend appliance"}

func libvirtLauncher(string) (appliance.Launcher, error) { return nil, errNoLibvirt }

func openDomain(context.Context, backendArgs, []appliance.Option) (vfs.Session, error) {
	return nil, errNoLibvirt
}
