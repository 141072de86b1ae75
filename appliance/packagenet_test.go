package appliance_test

import (
	"context"
	"errors"
	"testing"

	"github.com/guestinject/guestinject/appliance"
	"github.com/guestinject/guestinject/internal/pkgproxy"
	"github.com/guestinject/guestinject/vfs"
)

// A package network that cannot be had is refused before anything is
// built or booted.
func TestPackageNetworkRefusals(t *testing.T) {
	ctx := context.Background()
	disks := []vfs.Disk{{Path: "/nonexistent.img", Format: "raw"}}
	for _, tc := range []struct {
		mirrors []string
		want    error
	}{
		{nil, appliance.ErrPackageNetwork},
		{[]string{"https://deb.debian.org/debian"}, pkgproxy.ErrNotAllowed},
		{[]string{"http://deb.debian.org/debian", "file:///srv/mirror"}, pkgproxy.ErrNotAllowed},
	} {
		_, err := appliance.Open(ctx, disks, appliance.WithPackageNetwork(appliance.PackageNetwork{Mirrors: tc.mirrors}))
		if !errors.Is(err, tc.want) {
			t.Errorf("Open with mirrors %q = %v, want %v", tc.mirrors, err, tc.want)
		}
	}
	_, err := appliance.NewPool(ctx, 1, appliance.WithPackageNetwork(appliance.PackageNetwork{Mirrors: []string{"http://deb.debian.org/debian"}}))
	if !errors.Is(err, appliance.ErrPackageNetwork) {
		t.Errorf("NewPool with the package network = %v, want ErrPackageNetwork", err)
	}
}
