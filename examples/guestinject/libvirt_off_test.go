//go:build !libvirt

package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestLibvirtBackendUnavailable(t *testing.T) {
	img := filepath.Join(t.TempDir(), "img")
	if err := os.WriteFile(img, make([]byte, 1<<20), 0o644); err != nil {
		t.Fatal(err)
	}
	var out, errOut bytes.Buffer
	code := run(context.Background(), []string{"ls", img, "--format", "raw", "--backend", "libvirt", "--quiet", "/"}, stdio{out: &out, err: &errOut})
	if code != exitUnavailable || !strings.Contains(errOut.String(), "not available") {
		t.Errorf("exit %d, stderr %q", code, errOut.String())
	}
}
