package main

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/guestinject/guestinject/imagecheck"
	"github.com/guestinject/guestinject/internal/testsupport/testimage"
)

// TestRejectedUploadLeavesNothing uploads a qcow2 image whose header names
// a host file as its backing file.
func TestRejectedUploadLeavesNothing(t *testing.T) {
	testimage.NeedTools(t, "qemu-img")
	src := filepath.Join(t.TempDir(), "evil.qcow2")
	testimage.Run(t, "qemu-img", "create", "-q", "-f", "qcow2", "-b", "/etc/shadow", "-F", "raw", src, "1M")
	f, err := os.Open(src)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	dir := t.TempDir()
	_, _, err = acceptUpload(context.Background(), dir, f, imagecheck.QCOW2, imagecheck.DefaultPolicy(), 1<<20)
	if !errors.Is(err, imagecheck.ReasonBackingFile) {
		t.Errorf("err = %v, want a backing-file rejection", err)
	}
	if left, _ := os.ReadDir(dir); len(left) != 0 {
		t.Errorf("left behind: %v", left)
	}
}

func TestAcceptedUploadIsComplete(t *testing.T) {
	testimage.NeedTools(t, "qemu-img")
	src := filepath.Join(t.TempDir(), "ok.qcow2")
	testimage.Run(t, "qemu-img", "create", "-q", "-f", "qcow2", src, "64M")
	f, err := os.Open(src)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	path, info, err := acceptUpload(context.Background(), t.TempDir(), f, imagecheck.QCOW2, imagecheck.DefaultPolicy(), 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	if info.VirtualSize != 64<<20 || testimage.FileHash(t, path) != testimage.FileHash(t, src) {
		t.Errorf("accepted %s: %+v", path, info)
	}
}
