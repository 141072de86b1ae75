package appliance_test

import (
	"testing"

	"github.com/guestinject/guestinject/internal/testsupport/appliancetest"
)

// TestConformance runs the vfs conformance suite against the appliance:
// every case builds an ext4 image from its layout with mkfs.ext4 -d and
// boots its own VM, so the hostile layouts meet the real guest kernel and
// agent. It takes minutes under TCG; -short skips it.
func TestConformance(t *testing.T) {
	needE2E(t)
	if testing.Short() {
		t.Skip("boots one VM per case; skipped with -short")
	}
	appliancetest.Conformance(t, nil, nil)
}

// TestSession runs vfstest's session section: Commit keeps, Close
// discards, a session that ended refuses every call.
func TestSession(t *testing.T) {
	needE2E(t)
	appliancetest.Session(t, nil, nil)
}
