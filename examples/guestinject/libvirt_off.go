//go:build !libvirt

package main

import (
	"context"
	"log/slog"

	"github.com/guestinject/guestinject/vfs"
)

// openLibvirt stands in for the libvirt backend, which needs cgo and the
// libvirt headers: build with -tags libvirt to include it.
func openLibvirt(context.Context, backendArgs, target, *slog.Logger) (vfs.Session, error) {
	return nil, &unavailableError{msg: "--backend libvirt is not available in this build (build with -tags libvirt, which needs cgo and libvirt's headers); use --backend appliance"}
}
