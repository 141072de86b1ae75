package libvirt_test

import (
	"testing"

	"github.com/guestinject/guestinject/internal/testsupport/appliancetest"
	"github.com/guestinject/guestinject/internal/testsupport/libvirttest"
)

// TestConformance runs the whole vfs conformance suite against appliances
// launched by libvirt, one VM per case, as the direct launcher's tests
// do: the hostile layouts meet the guest kernel and agent of a VM that
// libvirt started and confined. -short skips it.
func TestConformance(t *testing.T) {
	launcher := needLibvirt(t)
	if testing.Short() {
		t.Skip("boots one VM per case; skipped with -short")
	}
	appliancetest.Conformance(t, launcher, libvirttest.ImageDir)
}

// TestSession runs vfstest's session section on appliances libvirt
// launched.
func TestSession(t *testing.T) {
	launcher := needLibvirt(t)
	appliancetest.Session(t, launcher, libvirttest.ImageDir)
}
