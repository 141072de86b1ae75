package guestinject_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"testing/iotest"
	"time"

	"github.com/guestinject/guestinject"
	"github.com/guestinject/guestinject/imagecheck"
	"github.com/guestinject/guestinject/inject"
	"github.com/guestinject/guestinject/internal/testsupport/testimage"
	"github.com/guestinject/guestinject/mount"
	"github.com/guestinject/guestinject/vfs"
	"github.com/guestinject/guestinject/vfs/memfs"
	"github.com/guestinject/guestinject/vfs/vfstest"
)

func run(t *testing.T, name string, args ...string) string {
	t.Helper()
	if p, err := exec.LookPath(name); err == nil {
		name = p
	} else {
		name = "/usr/sbin/" + name
	}
	out, err := exec.Command(name, args...).CombinedOutput()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
	return string(out)
}

// guestImage builds a small Debian-like ext4 image without mounting.
func guestImage(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	tree := filepath.Join(dir, "tree")
	if err := os.Mkdir(tree, 0o755); err != nil {
		t.Fatal(err)
	}
	layout := vfstest.MustParseLayout(`
d /etc mode=0755 owner=0:0
f /etc/passwd owner=0:0 data="root:x:0:0:root:/root:/bin/bash\n"
f /etc/group owner=0:0 data="root:x:0:\n"
f /etc/shadow mode=0640 owner=0:42 data="root:*:19000:0:99999:7:::\n"
f /etc/os-release owner=0:0 data="ID=debian\nVERSION_ID=\"12\"\n"
f /etc/hostname owner=0:0 data="localhost\n"
f /etc/hosts owner=0:0 data="127.0.0.1 localhost\n"
d /root mode=0700 owner=0:0
`)
	if err := layout.WriteDir(tree); err != nil {
		t.Fatal(err)
	}
	img := filepath.Join(dir, "guest.img")
	run(t, "mkfs.ext4", "-q", "-F", "-d", tree, img, "64M")
	return img
}

func fileSum(t *testing.T, p string) [32]byte {
	t.Helper()
	data, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return sha256.Sum256(data)
}

// TestInjectImage runs the main job through each backend and reads the
// result back with debugfs alone.
func TestInjectImage(t *testing.T) {
	for _, tc := range []struct {
		name    string
		backend func(t *testing.T) guestinject.Backend
	}{
		{"appliance", func(t *testing.T) guestinject.Backend {
			testimage.NeedTools(t, "mkfs.ext4", "debugfs", "qemu-img", "qemu-system-x86_64")
			return guestinject.Appliance()
		}},
		{"trusted-host-mount", func(t *testing.T) guestinject.Backend {
			testimage.NeedTools(t, "mkfs.ext4", "debugfs", "qemu-img", "qemu-storage-daemon")
			if os.Geteuid() != 0 {
				testimage.Need(t, "root")
			}
			return guestinject.TrustedHostMount(mount.WithStateDir(t.TempDir()))
		}},
	} {
		t.Run(tc.name, func(t *testing.T) { testInjectImage(t, tc.backend(t)) })
	}
}

func testInjectImage(t *testing.T, backend guestinject.Backend) {
	img := guestImage(t)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	key := "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl admin"
	report, err := guestinject.InjectImage(ctx, vfs.Disk{Path: img, Format: imagecheck.Raw}, inject.Spec{
		SSHKeys:  []inject.SSHKeys{{Keys: []string{key}}},
		Hostname: "web-1",
		Files:    []inject.File{{Path: "/etc/motd", Content: []byte("managed\n"), Mode: 0o644}},
	}, guestinject.WithBackend(backend))
	if err != nil {
		t.Fatal(err)
	}
	if len(report.Changes) == 0 {
		t.Error("empty report")
	}
	for path, want := range map[string]string{
		"/root/.ssh/authorized_keys": key + "\n",
		"/etc/hostname":              "web-1\n",
		"/etc/motd":                  "managed\n",
	} {
		got := run(t, "debugfs", "-R", "cat "+path, img)
		if i := strings.Index(got, "\n"); strings.HasPrefix(got, "debugfs ") && i >= 0 {
			got = got[i+1:]
		}
		if got != want {
			t.Errorf("%s in the image = %q, want %q", path, got, want)
		}
	}
	if stat := run(t, "debugfs", "-R", "stat /root/.ssh/authorized_keys", img); !strings.Contains(stat, "Mode:  0600") {
		t.Errorf("authorized_keys mode:\n%s", stat)
	}
}

func TestOpenRefusesBadBackends(t *testing.T) {
	disk := vfs.Disk{Path: "fake.raw", Format: imagecheck.Raw}
	if _, err := guestinject.Open(t.Context(), disk, guestinject.WithBackend(nil)); err == nil {
		t.Error("WithBackend(nil) opened something")
	}
	two := []vfs.Disk{disk, disk}
	if _, err := guestinject.TrustedHostMount().OpenSession(t.Context(), two); err == nil || !strings.Contains(err.Error(), "one disk") {
		t.Errorf("host mount of two disks: %v, want a refusal naming one disk", err)
	}
}

func TestInjectImageRefusesAndLeavesImage(t *testing.T) {
	testimage.NeedTools(t, "mkfs.ext4", "qemu-img", "qemu-system-x86_64")
	img := guestImage(t)
	before := fileSum(t, img)
	ctx := context.Background()

	// A spec that cannot be applied: the image stays as it was.
	_, err := guestinject.InjectImage(ctx, vfs.Disk{Path: img, Format: imagecheck.Raw}, inject.Spec{SSHKeys: []inject.SSHKeys{{User: "nobody-here", Keys: []string{"ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl x"}}}})
	if !errors.Is(err, inject.ErrNoUser) {
		t.Errorf("unknown user: got %v, want inject.ErrNoUser", err)
	}
	if fileSum(t, img) != before {
		t.Error("a failed injection changed the image")
	}

	// No declared format, no injection.
	if _, err := guestinject.InjectImage(ctx, vfs.Disk{Path: img, Format: ""}, inject.Spec{Hostname: "x"}); !errors.Is(err, imagecheck.ReasonNoDeclaredFormat) {
		t.Errorf("undeclared format: got %v", err)
	}
	// Declared qcow2, content raw.
	if _, err := guestinject.InjectImage(ctx, vfs.Disk{Path: img, Format: imagecheck.QCOW2}, inject.Spec{Hostname: "x"}); !errors.Is(err, imagecheck.ReasonFormatMismatch) {
		t.Errorf("declared qcow2 for a raw image: got %v", err)
	}
	if got := fileSum(t, img); !bytes.Equal(got[:], before[:]) {
		t.Error("a refused image changed")
	}
}

// fakeSession stands in for an appliance session: an in-memory guest that
// counts commits and closes.
type fakeSession struct {
	*memfs.FS
	commitErr       error
	commits, closes int
}

func (s *fakeSession) Commit(context.Context) error { s.commits++; return s.commitErr }
func (s *fakeSession) Close() error                 { s.closes++; return nil }

// OpenSession makes the fake session its own backend, for WithBackend.
func (s *fakeSession) OpenSession(_ context.Context, disks []vfs.Disk) (vfs.Session, error) {
	if len(disks) != 1 || disks[0].Path != "fake.raw" {
		return nil, fmt.Errorf("fake backend: disks %v", disks)
	}
	return s, nil
}

// injectFake is InjectImage through the fake session's backend.
func injectFake(s *fakeSession, spec inject.Spec) (*inject.Report, error) {
	return guestinject.InjectImage(context.Background(), vfs.Disk{Path: "fake.raw", Format: imagecheck.Raw}, spec, guestinject.WithBackend(s))
}

func newFakeSession(t *testing.T) *fakeSession {
	t.Helper()
	g := memfs.New()
	if err := g.Add(memfs.Node{Path: "/etc", Mode: fs.ModeDir | 0o755}); err != nil {
		t.Fatal(err)
	}
	return &fakeSession{FS: g}
}

// threeFiles writes three files; the second one's source fails with boom.
func threeFiles(boom error) inject.Spec {
	return inject.Spec{Files: []inject.File{
		{Path: "/etc/first", Content: []byte("1")},
		{Path: "/etc/second", Source: iotest.ErrReader(boom)},
		{Path: "/etc/third", Content: []byte("3")},
	}}
}

// TestInjectImageReportOnApplyFailure checks, without a VM, that a failed
// Apply comes back with its report, and that the session is discarded,
// never committed.
func TestInjectImageReportOnApplyFailure(t *testing.T) {
	s := newFakeSession(t)
	boom := errors.New("source failed")
	report, err := injectFake(s, threeFiles(boom))
	var ie *inject.ItemError
	if !errors.Is(err, boom) || !errors.As(err, &ie) {
		t.Fatalf("err = %v, want the source's error in an *inject.ItemError", err)
	}
	if want := (inject.Item{Field: inject.FieldFiles, Index: 1}); ie.Item != want || ie.Path != "/etc/second" {
		t.Errorf("ItemError names %v %s, want %v /etc/second", ie.Item, ie.Path, want)
	}
	if report == nil {
		t.Fatal("no report with the error")
	}
	type made struct {
		item inject.Item
		path string
	}
	list := func(cs []inject.Change) []made {
		var out []made
		for _, c := range cs {
			out = append(out, made{c.Item, c.Path})
		}
		return out
	}
	files := func(i int) inject.Item { return inject.Item{Field: inject.FieldFiles, Index: i} }
	if got, want := list(report.Changes), []made{{files(0), "/etc/first"}}; !slices.Equal(got, want) {
		t.Errorf("report.Changes = %v, want %v", got, want)
	}
	if got, want := list(report.NotMade), []made{{files(1), "/etc/second"}, {files(2), "/etc/third"}}; !slices.Equal(got, want) {
		t.Errorf("report.NotMade = %v, want %v", got, want)
	}
	if s.commits != 0 || s.closes != 1 {
		t.Errorf("%d commits and %d closes, want the session closed once and never committed", s.commits, s.closes)
	}
}

// TestInjectImageReportOnCommitFailure checks that a failed commit comes
// back with the complete report.
func TestInjectImageReportOnCommitFailure(t *testing.T) {
	s := newFakeSession(t)
	s.commitErr = errors.New("merge failed")
	report, err := injectFake(s, inject.Spec{Hostname: "web-1"})
	if !errors.Is(err, s.commitErr) {
		t.Fatalf("err = %v, want the commit's error", err)
	}
	if report == nil || len(report.Changes) == 0 || len(report.NotMade) != 0 {
		t.Errorf("report = %+v, want every change made and none left", report)
	}
	if s.commits != 1 || s.closes != 1 {
		t.Errorf("%d commits and %d closes, want one of each", s.commits, s.closes)
	}
}

// TestInjectImageApplyFailureLeavesImage fails in the middle of Apply in a
// real appliance: the report comes back with the error and the image is
// unchanged.
func TestInjectImageApplyFailureLeavesImage(t *testing.T) {
	testimage.NeedTools(t, "mkfs.ext4", "qemu-img", "qemu-system-x86_64")
	img := guestImage(t)
	before := fileSum(t, img)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	boom := errors.New("source failed")
	report, err := guestinject.InjectImage(ctx, vfs.Disk{Path: img, Format: imagecheck.Raw}, threeFiles(boom))
	var ie *inject.ItemError
	if !errors.Is(err, boom) || !errors.As(err, &ie) || ie.Item != (inject.Item{Field: inject.FieldFiles, Index: 1}) {
		t.Fatalf("err = %v, want the source's error for files[1]", err)
	}
	if report == nil || len(report.Changes) != 1 || report.Changes[0].Path != "/etc/first" ||
		len(report.NotMade) != 2 || report.NotMade[0].Path != "/etc/second" || report.NotMade[1].Path != "/etc/third" {
		t.Errorf("report = %+v, want /etc/first made, /etc/second and /etc/third not", report)
	}
	if fileSum(t, img) != before {
		t.Error("a failed injection changed the image")
	}
}
