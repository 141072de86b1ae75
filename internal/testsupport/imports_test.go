package testsupport_test

import (
	"os/exec"
	"strings"
	"testing"

	"github.com/guestinject/guestinject/internal/testsupport/testimage"
)

const prefix = "github.com/guestinject/guestinject/internal/testsupport"

// TestProductionNeverImports checks the package comment's promise: no
// package outside this folder imports one in it, except from its tests.
func TestProductionNeverImports(t *testing.T) {
	goTool := testimage.NeedTool(t, "go")
	out, err := exec.Command(goTool, "list", "-tags", "libvirt", "-f", "{{.ImportPath}} {{join .Imports \" \"}}", "github.com/guestinject/guestinject/...").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	if len(lines) < 10 {
		t.Fatalf("go list listed %d packages", len(lines))
	}
	for _, line := range lines {
		f := strings.Fields(line)
		if strings.HasPrefix(f[0], prefix) {
			continue
		}
		for _, imp := range f[1:] {
			if strings.HasPrefix(imp, prefix) {
				t.Errorf("%s imports %s", f[0], imp)
			}
		}
	}
}
