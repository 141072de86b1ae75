package appliance_test

import (
	"context"
	"fmt"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/guestinject/guestinject/appliance"
	"github.com/guestinject/guestinject/imagecheck"
	"github.com/guestinject/guestinject/inject"
	"github.com/guestinject/guestinject/internal/testsupport/testimage/novaguest"
	"github.com/guestinject/guestinject/vfs"
)

// injectNova opens the image through the appliance, applies novaguest.Spec and
// commits.
func injectNova(ctx context.Context, img string, format imagecheck.Format, opts ...appliance.Option) (*inject.Report, error) {
	s, err := appliance.Open(ctx, []vfs.Disk{{Path: img, Format: format}}, opts...)
	if err != nil {
		return nil, err
	}
	defer s.Close()
	rep, err := inject.Apply(ctx, s, novaguest.Spec())
	if err != nil {
		return nil, fmt.Errorf("%w\n%s", err, s.Console())
	}
	return rep, s.Commit(ctx)
}

// TestNovaInjection runs a full Nova-style injection through the
// appliance on raw and qcow2 Debian-like images and reads every result
// back with debugfs.
func TestNovaInjection(t *testing.T) {
	needE2E(t)
	for _, format := range []imagecheck.Format{imagecheck.Raw, imagecheck.QCOW2} {
		t.Run(string(format), func(t *testing.T) {
			dir := t.TempDir()
			raw := filepath.Join(dir, "debian.raw")
			novaguest.Image(t, raw, 128)
			img := raw
			if format == "qcow2" {
				img = filepath.Join(dir, "debian.qcow2")
				run(t, "qemu-img", "convert", "-f", "raw", "-O", "qcow2", raw, img)
			}
			ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
			defer cancel()
			rep, err := injectNova(ctx, img, format)
			if err != nil {
				t.Fatal(err)
			}
			if len(rep.Changes) < 10 {
				t.Errorf("report lists %d changes: %+v", len(rep.Changes), rep.Changes)
			}
			check := img
			if format == "qcow2" {
				check = filepath.Join(dir, "check.raw")
				run(t, "qemu-img", "convert", "-f", "qcow2", "-O", "raw", img, check)
			}
			novaguest.Check(t, check)
		})
	}
}

// TestNovaInjectionKilledBeforeCommit applies the whole spec, kills QEMU
// before Commit, and checks the qcow2 image is byte-for-byte unchanged.
func TestNovaInjectionKilledBeforeCommit(t *testing.T) {
	needE2E(t)
	dir := t.TempDir()
	raw := filepath.Join(dir, "debian.raw")
	novaguest.Image(t, raw, 128)
	img := filepath.Join(dir, "debian.qcow2")
	run(t, "qemu-img", "convert", "-f", "raw", "-O", "qcow2", raw, img)
	before := fileHash(t, img)
	tmp := privateTemp(t)

	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	s, err := appliance.Open(ctx, []vfs.Disk{{Path: img, Format: "qcow2"}})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if _, err := inject.Apply(ctx, s, novaguest.Spec()); err != nil {
		t.Fatal(err)
	}
	if err := s.Sync(ctx); err != nil {
		t.Fatal(err)
	}
	pids := processesUsing(tmp)
	if len(pids) != 1 {
		t.Fatalf("QEMU processes: %v, want one", pids)
	}
	if err := syscall.Kill(pids[0], syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	if err := s.Commit(ctx); err == nil {
		t.Fatal("Commit succeeded after QEMU was killed")
	}
	if fileHash(t, img) != before {
		t.Error("image changed")
	}
	assertNothingLeft(t, tmp)
}
