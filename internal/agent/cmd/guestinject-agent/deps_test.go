package main

import (
	"os"
	"os/exec"
	"strings"
	"testing"

	"github.com/guestinject/guestinject/internal/testsupport/testimage"
)

// hostOnly are the host's packages. The agent links none of them: host
// code has no business in the VM, and a dependency on it would mean the
// two sides share an implementation instead of the contract in
// internal/guestabi. (imagecheck, a pure parser of image headers, comes in
// through vfs.Disk's Format type; the agent calls none of it.)
var hostOnly = []string{
	"github.com/guestinject/guestinject/appliance",
	"github.com/guestinject/guestinject/mount",
	"github.com/guestinject/guestinject/internal/initramfs",
	"github.com/guestinject/guestinject/internal/cachefile",
	"github.com/guestinject/guestinject/internal/accel",
	"github.com/guestinject/guestinject/internal/ownerdir",
}

func TestLinksNoHostCode(t *testing.T) {
	goTool := testimage.NeedTool(t, "go")
	cmd := exec.Command(goTool, "list", "-deps", "-f", "{{.ImportPath}}", ".")
	// As the initramfs builder builds it.
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux")
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	deps := strings.Fields(string(out))
	if len(deps) == 0 {
		t.Fatal("go list listed nothing")
	}
	for _, dep := range deps {
		for _, host := range hostOnly {
			if dep == host || strings.HasPrefix(dep, host+"/") {
				t.Errorf("the agent links %s", dep)
			}
		}
	}
}
