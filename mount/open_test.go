package mount_test

import (
	"context"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/guestinject/guestinject/imagecheck"
	"github.com/guestinject/guestinject/internal/testsupport/testimage"
	"github.com/guestinject/guestinject/mount"
	"github.com/guestinject/guestinject/vfs"
	"github.com/guestinject/guestinject/vfs/vfstest"
)

// layoutSizeMiB is an image size with room for layout's data.
func layoutSizeMiB(layout vfstest.Layout) int64 {
	var data int64
	for _, e := range layout {
		data += int64(len(e.Data))
	}
	return 64 + 2*data>>20
}

// imageHarness runs the conformance suite on images built from each
// layout; build turns the layout's host tree into an image and returns its
// path and format.
func imageHarness(build func(t *testing.T, tree string, layout vfstest.Layout) vfs.Disk, inPlace bool) vfstest.Harness {
	return vfstest.Harness{
		New: func(t *testing.T, hostDir string, layout vfstest.Layout) vfs.FS {
			if err := layout.WriteDir(hostDir); err != nil {
				t.Fatalf("building the guest tree: %v", err)
			}
			img := build(t, hostDir, layout)
			state := stateDir(t, filepath.Dir(img.Path))
			if inPlace {
				s, err := mount.OpenTrustedInPlace(t.Context(), img, mount.WithStateDir(state))
				if err != nil {
					t.Fatal(err)
				}
				return s
			}
			s, err := mount.OpenTrusted(t.Context(), img, mount.WithStateDir(state))
			if err != nil {
				t.Fatal(err)
			}
			return s
		},
		Caps: vfstest.Caps{Owners: true, DeviceNodes: true, Xattrs: true, Symlinks: true, Renames: true, Times: true},
	}
}

func rawExt4(t *testing.T, tree string, layout vfstest.Layout) vfs.Disk {
	img := filepath.Join(t.TempDir(), "disk.raw")
	testimage.Ext4Exact(t, img, tree, layoutSizeMiB(layout))
	return vfs.Disk{Path: img, Format: imagecheck.Raw}
}

func TestConformanceRawExt4(t *testing.T) {
	needHostMount(t)
	vfstest.Run(t, imageHarness(rawExt4, true))
}

func TestConformanceQcow2(t *testing.T) {
	needFUSEExport(t)
	if testing.Short() {
		t.Skip("starts a storage daemon per case; skipped with -short")
	}
	vfstest.Run(t, imageHarness(func(t *testing.T, tree string, layout vfstest.Layout) vfs.Disk {
		raw := rawExt4(t, tree, layout)
		img := filepath.Join(filepath.Dir(raw.Path), "disk.qcow2")
		testimage.Qcow2(t, raw.Path, img)
		return vfs.Disk{Path: img, Format: imagecheck.QCOW2}
	}, false))
}

// TestConformanceRawXFS fills an empty xfs image through a session (mkfs.xfs
// cannot populate from a directory) and then runs the case on a fresh one.
func TestConformanceRawXFS(t *testing.T) {
	needHostMount(t, "mkfs.xfs")
	if testing.Short() {
		t.Skip("mounts twice per case; skipped with -short")
	}
	vfstest.Run(t, imageHarness(func(t *testing.T, tree string, layout vfstest.Layout) vfs.Disk {
		dir := t.TempDir()
		img := filepath.Join(dir, "disk.raw")
		testimage.Sparse(t, img, 320<<20+layoutSizeMiB(layout)<<20)
		testimage.Run(t, "mkfs.xfs", "-q", "-f", img)
		fill, err := mount.OpenTrustedInPlace(t.Context(), vfs.Disk{Path: img, Format: imagecheck.Raw}, mount.WithStateDir(t.TempDir()))
		if err != nil {
			t.Fatal(err)
		}
		if err := layout.WriteDir(fill.Dir()); err != nil {
			fill.Close()
			t.Fatal(err)
		}
		if err := fill.Close(); err != nil {
			t.Fatal(err)
		}
		return vfs.Disk{Path: img, Format: imagecheck.Raw}
	}, true))
}

func smallExt4(t testing.TB) string {
	t.Helper()
	dir := t.TempDir()
	tree := filepath.Join(dir, "tree")
	if err := vfstest.MustParseLayout(`f /etc/hostname data="guest\n"`).WriteDir(mustMkdir(t, tree)); err != nil {
		t.Fatal(err)
	}
	img := filepath.Join(dir, "disk.raw")
	testimage.Ext4(t, img, tree, 32)
	return img
}

func mustMkdir(t testing.TB, dir string) string {
	t.Helper()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	return dir
}

func TestInPlaceRefusesQcow2(t *testing.T) {
	state := t.TempDir()
	img := filepath.Join(state, "disk.qcow2")
	_, err := mount.OpenTrustedInPlace(t.Context(), vfs.Disk{Path: img, Format: imagecheck.QCOW2}, mount.WithStateDir(state))
	var pe *fs.PathError
	if !errors.Is(err, vfs.ErrUnsupportedFormat) || !errors.As(err, &pe) || pe.Path != img || !strings.Contains(err.Error(), "in place") {
		t.Fatalf("qcow2 in place: %v, want *fs.PathError for %s wrapping ErrUnsupportedFormat saying in place", err, img)
	}
	if entries, _ := os.ReadDir(state); len(entries) != 0 {
		t.Errorf("refused open left %d entries", len(entries))
	}
}

func TestOpenRefusesUndeclaredFormat(t *testing.T) {
	for _, format := range []imagecheck.Format{"", "auto", "vmdk"} {
		for _, open := range []func() error{
			func() error {
				_, err := mount.OpenTrusted(t.Context(), vfs.Disk{Path: "/nonexistent", Format: format})
				return err
			},
			func() error {
				_, err := mount.OpenTrustedInPlace(t.Context(), vfs.Disk{Path: "/nonexistent", Format: format})
				return err
			},
		} {
			if err := open(); !errors.Is(err, vfs.ErrUnsupportedFormat) {
				t.Errorf("format %q: %v, want ErrUnsupportedFormat", format, err)
			}
		}
	}
}

// A raw image whose content is a qcow2 header is refused by imagecheck
// before anything is attached.
func TestOpenRunsImagecheck(t *testing.T) {
	needFUSEExport(t)
	dir := t.TempDir()
	img := filepath.Join(dir, "disk.qcow2")
	testimage.Run(t, "qemu-img", "create", "-q", "-f", "qcow2", img, "16M")
	state := stateDir(t, dir)
	_, err := mount.OpenTrusted(t.Context(), vfs.Disk{Path: img, Format: imagecheck.Raw}, mount.WithStateDir(state))
	if err == nil || !strings.Contains(err.Error(), "qcow2") {
		t.Fatalf("raw-declared qcow2 image: %v, want an imagecheck rejection", err)
	}
}

// An in-place session writes into the image itself, and its Close keeps
// the writes.
func TestInPlaceWritesLandInImage(t *testing.T) {
	needHostMount(t)
	img := smallExt4(t)
	state := stateDir(t, filepath.Dir(img))
	ctx := t.Context()
	s, err := mount.OpenTrustedInPlace(ctx, vfs.Disk{Path: img, Format: imagecheck.Raw}, mount.WithStateDir(state))
	if err != nil {
		t.Fatal(err)
	}
	if got := s.Volume().Type; got != "ext4" {
		t.Errorf("volume type %s, want ext4", got)
	}
	if err := s.WriteFile(ctx, "/etc/hostname", strings.NewReader("injected\n"), vfs.WriteOptions{Perm: 0o644}); err != nil {
		t.Fatal(err)
	}
	// The mount refuses to run, to honour set-id bits or to open devices,
	// and reading leaves access times alone.
	opts := mountOptions(t, s.Dir())
	for _, want := range []string{"nodev", "nosuid", "noexec", "noatime"} {
		if !strings.Contains(opts, want) {
			t.Errorf("mount options %q lack %s", opts, want)
		}
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Errorf("second Close: %v, want nil", err)
	}
	if _, err := s.Stat(ctx, "/etc/hostname"); !errors.Is(err, vfs.ErrClosed) {
		t.Errorf("Stat after Close: %v, want vfs.ErrClosed", err)
	}
	if got := testimage.Run(t, "debugfs", "-R", "cat /etc/hostname", img); got != "injected\n" {
		t.Errorf("debugfs reads %q after Close", got)
	}
}

// mountOptions returns the per-mount options of mount point dir.
func mountOptions(t *testing.T, dir string) string {
	b, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		if f := strings.Fields(line); len(f) > 5 && f[4] == dir {
			return f[5]
		}
	}
	t.Fatalf("%s is not mounted", dir)
	return ""
}

func TestReadOnlyChangesNothing(t *testing.T) {
	needHostMount(t)
	img := smallExt4(t)
	before := testimage.FileHash(t, img)
	state := stateDir(t, filepath.Dir(img))
	ctx := t.Context()
	s, err := mount.OpenTrusted(ctx, vfs.Disk{Path: img, Format: imagecheck.Raw, ReadOnly: true}, mount.WithStateDir(state))
	if err != nil {
		t.Fatal(err)
	}
	if data, err := vfs.ReadFile(ctx, s, "/etc/hostname", 100); err != nil || string(data) != "guest\n" {
		t.Errorf("read /etc/hostname: %q, %v", data, err)
	}
	err = s.WriteFile(ctx, "/etc/hostname", strings.NewReader("x"), vfs.WriteOptions{Perm: 0o644})
	if !errors.Is(err, vfs.ErrReadOnly) {
		t.Errorf("write on a read-only session: %v, want vfs.ErrReadOnly", err)
	}
	if err := s.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	if after := testimage.FileHash(t, img); after != before {
		t.Error("read-only session changed the image")
	}
}

func TestOverlayCloseDiscardsCommitMerges(t *testing.T) {
	needFUSEExport(t)
	for _, format := range []imagecheck.Format{imagecheck.Raw, imagecheck.QCOW2} {
		t.Run(string(format), func(t *testing.T) {
			img := smallExt4(t)
			if format == imagecheck.QCOW2 {
				q := img + ".qcow2"
				testimage.Qcow2(t, img, q)
				img = q
			}
			state := stateDir(t, filepath.Dir(img))
			ctx := t.Context()
			image := vfs.Disk{Path: img, Format: format}
			write := func(s *mount.Session, content string) {
				t.Helper()
				if err := s.WriteFile(ctx, "/etc/hostname", strings.NewReader(content), vfs.WriteOptions{Perm: 0o644}); err != nil {
					t.Fatal(err)
				}
			}
			before := testimage.FileHash(t, img)
			s, err := mount.OpenTrusted(ctx, image, mount.WithStateDir(state))
			if err != nil {
				t.Fatal(err)
			}
			write(s, "discarded\n")
			if err := s.Close(); err != nil {
				t.Fatal(err)
			}
			if testimage.FileHash(t, img) != before {
				t.Fatal("Close with an overlay changed the image")
			}
			s, err = mount.OpenTrusted(ctx, image, mount.WithStateDir(state))
			if err != nil {
				t.Fatal(err)
			}
			write(s, "committed\n")
			if err := s.Commit(ctx); err != nil {
				t.Fatal(err)
			}
			s, err = mount.OpenTrusted(ctx, vfs.Disk{Path: img, Format: format, ReadOnly: true}, mount.WithStateDir(state))
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() {
				if err := s.Close(); err != nil {
					t.Errorf("close: %v", err)
				}
			})
			if data, err := vfs.ReadFile(ctx, s, "/etc/hostname", 100); err != nil || string(data) != "committed\n" {
				t.Errorf("after Commit /etc/hostname is %q, %v", data, err)
			}
		})
	}
}

func TestPartitionSelection(t *testing.T) {
	needFUSEExport(t, "sfdisk", "mkfs.vfat")
	dir := t.TempDir()
	tree := mustMkdir(t, filepath.Join(dir, "tree"))
	if err := os.WriteFile(filepath.Join(tree, "marker"), []byte("linux\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	img := filepath.Join(dir, "gpt.raw")
	testimage.GPT(t, img, tree)
	state := stateDir(t, dir)
	ctx := t.Context()
	image := vfs.Disk{Path: img, Format: imagecheck.Raw, ReadOnly: true}
	for _, tc := range []struct {
		name     string
		opt      mount.OpenOption
		wantPart int
		wantType string
	}{
		{"auto", nil, 2, "ext4"},
		{"number", mount.WithRoot(vfs.Root{Volume: &vfs.VolumeRef{Partition: 2}}), 2, "ext4"},
		{"label", mount.WithRoot(vfs.Root{Label: "root"}), 2, "ext4"},
		{"fat number", mount.WithRoot(vfs.Root{Volume: &vfs.VolumeRef{Partition: 1}}), 1, "vfat"},
		{"fat label", mount.WithRoot(vfs.Root{Label: "EFI"}), 1, "vfat"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			opts := []mount.OpenOption{mount.WithStateDir(state)}
			if tc.opt != nil {
				opts = append(opts, tc.opt)
			}
			s, err := mount.OpenTrusted(ctx, image, opts...)
			if tc.wantType == "vfat" && !kernelHas(t, "vfat") {
				// Chosen and typed correctly; this kernel has no driver.
				if !errors.Is(err, syscall.ENODEV) || !strings.Contains(err.Error(), `partition 1 (vfat "EFI")`) {
					t.Errorf("vfat without a driver: %v, want ENODEV mounting partition 1", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			v := s.Volume()
			if v.Partition != tc.wantPart || v.Type != tc.wantType {
				t.Errorf("mounted %v, want partition %d (%s)", v, tc.wantPart, tc.wantType)
			}
			if tc.wantType == "ext4" {
				if data, err := vfs.ReadFile(ctx, s, "/marker", 100); err != nil || string(data) != "linux\n" {
					t.Errorf("/marker: %q, %v", data, err)
				}
			}
		})
	}
	t.Run("uuid", func(t *testing.T) {
		s, err := mount.OpenTrusted(ctx, image, mount.WithStateDir(state), mount.WithRoot(vfs.Root{Label: "root"}))
		if err != nil {
			t.Fatal(err)
		}
		uuid := s.Volume().UUID
		s.Close()
		s, err = mount.OpenTrusted(ctx, image, mount.WithStateDir(state), mount.WithRoot(vfs.Root{UUID: strings.ToUpper(uuid)}))
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		if s.Volume().Partition != 2 {
			t.Errorf("UUID %s mounted %v", uuid, s.Volume())
		}
	})
	t.Run("missing", func(t *testing.T) {
		_, err := mount.OpenTrusted(ctx, image, mount.WithStateDir(state), mount.WithRoot(vfs.Root{Volume: &vfs.VolumeRef{Partition: 7}}))
		var re *mount.RootError
		if !errors.Is(err, vfs.ErrRootNotFound) || !errors.As(err, &re) || len(re.Volumes) != 2 {
			t.Errorf("partition 7: %v, want a RootError listing 2 volumes wrapping vfs.ErrRootNotFound", err)
		}
	})
}

// A volume outside the allowlist is refused even when named explicitly.
func TestFilesystemAllowlist(t *testing.T) {
	needFUSEExport(t, "mkswap")
	dir := t.TempDir()
	img := filepath.Join(dir, "swap.raw")
	testimage.Sparse(t, img, 16<<20)
	testimage.Run(t, "mkswap", "-q", img)
	state := stateDir(t, dir)
	_, err := mount.OpenTrusted(t.Context(), vfs.Disk{Path: img, Format: imagecheck.Raw}, mount.WithStateDir(state))
	if !errors.Is(err, vfs.ErrNoRoot) {
		t.Errorf("swap image, auto: %v, want vfs.ErrNoRoot", err)
	}
	_, err = mount.OpenTrusted(t.Context(), vfs.Disk{Path: img, Format: imagecheck.Raw}, mount.WithStateDir(state), mount.WithRoot(vfs.Root{UUID: swapUUID(t, img)}))
	if !errors.Is(err, mount.ErrFilesystemNotAllowed) {
		t.Errorf("swap image named by UUID: %v, want ErrFilesystemNotAllowed", err)
	}
}

func swapUUID(t *testing.T, img string) string {
	out := testimage.Run(t, "blkid", "-o", "value", "-s", "UUID", img)
	return strings.TrimSpace(out)
}

func TestCancelledOpenLeavesNothing(t *testing.T) {
	needFUSEExport(t)
	img := smallExt4(t)
	q := img + ".qcow2"
	testimage.Qcow2(t, img, q)
	state := stateDir(t, filepath.Dir(img))
	// Deadlines spread over the attach steps; whichever step each one
	// interrupts, nothing may be left behind.
	for _, d := range []time.Duration{time.Millisecond, 10 * time.Millisecond, 30 * time.Millisecond, 60 * time.Millisecond, 120 * time.Millisecond} {
		ctx, cancel := context.WithTimeout(t.Context(), d)
		s, err := mount.OpenTrusted(ctx, vfs.Disk{Path: q, Format: imagecheck.QCOW2}, mount.WithStateDir(state))
		cancel()
		if err == nil {
			s.Close()
			continue
		}
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("deadline %v: %v, want context.DeadlineExceeded", d, err)
		}
		assertNoLeaks(t, state, filepath.Dir(img))
	}
}

// Open with a busy mount: Close fails while a file is open, names the
// problem, and leaves the mount in place instead of deleting through it.
func TestBusyUnmountIsNotForced(t *testing.T) {
	needFUSEExport(t)
	if testing.Short() {
		t.Skip("waits for the unmount retries to give up; skipped with -short")
	}
	img := smallExt4(t)
	state := t.TempDir()
	s, err := mount.OpenTrusted(t.Context(), vfs.Disk{Path: img, Format: imagecheck.Raw}, mount.WithStateDir(state))
	if err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(filepath.Join(s.Dir(), "etc/hostname"))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 300*time.Millisecond)
	defer cancel()
	err = s.Commit(ctx)
	if !errors.Is(err, mount.ErrTeardown) {
		t.Errorf("Commit with a busy mount: %v, want ErrTeardown", err)
	}
	if data, rerr := os.ReadFile(filepath.Join(s.Dir(), "etc/hostname")); rerr != nil || string(data) != "guest\n" {
		t.Errorf("mount not intact after a failed unmount: %q, %v", data, rerr)
	}
	// The owner is alive, so a sweep must leave the session alone.
	if err := mount.Cleanup(t.Context(), state); err != nil {
		t.Fatal(err)
	}
	if !slices.Contains(mountsUnder(t, state), s.Dir()) {
		t.Fatal("Cleanup touched a live session")
	}
	f.Close()
	// Close after a failed Commit finishes the teardown.
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	assertNoLeaks(t, state, filepath.Dir(img))
}

// kernelHas reports whether the running kernel has filesystem driver fs
// built in or loaded.
func kernelHas(t *testing.T, fs string) bool {
	b, err := os.ReadFile("/proc/filesystems")
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		if f := strings.Fields(line); len(f) > 0 && f[len(f)-1] == fs {
			return true
		}
	}
	return false
}

// sessionHarness runs vfstest's session section on ext4 images of format
// opened with OpenTrusted.
func sessionHarness(format imagecheck.Format) vfstest.SessionHarness {
	return vfstest.SessionHarness{NewImage: func(t *testing.T, root string) vfstest.SessionImage {
		img := filepath.Join(t.TempDir(), "disk.raw")
		testimage.Ext4Exact(t, img, root, 64)
		if format == imagecheck.QCOW2 {
			testimage.Qcow2(t, img, img+".qcow2")
			img += ".qcow2"
		}
		state := stateDir(t, filepath.Dir(img))
		open := func(t *testing.T) vfs.Session {
			s, err := mount.OpenTrusted(t.Context(), vfs.Disk{Path: img, Format: format}, mount.WithStateDir(state))
			if err != nil {
				t.Fatal(err)
			}
			return s
		}
		return vfstest.SessionImage{Open: open, Files: []string{img}}
	}}
}

func TestSessionRaw(t *testing.T) {
	needFUSEExport(t)
	vfstest.RunSession(t, sessionHarness(imagecheck.Raw))
}

func TestSessionQcow2(t *testing.T) {
	needFUSEExport(t)
	vfstest.RunSession(t, sessionHarness(imagecheck.QCOW2))
}
