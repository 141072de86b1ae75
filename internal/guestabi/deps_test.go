package guestabi_test

import (
	"os/exec"
	"strings"
	"testing"

	"github.com/guestinject/guestinject/internal/testsupport/testimage"
)

// TestImportsOnlyStandardLibrary keeps the contract free of either side's
// code: both the host and the agent import it.
func TestImportsOnlyStandardLibrary(t *testing.T) {
	goTool := testimage.NeedTool(t, "go")
	out, err := exec.Command(goTool, "list", "-deps", "-f", "{{if not .Standard}}{{.ImportPath}}{{end}}", ".").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	for _, pkg := range strings.Fields(string(out)) {
		if pkg != "github.com/guestinject/guestinject/internal/guestabi" {
			t.Errorf("guestabi depends on %s", pkg)
		}
	}
}
