package mockvfs_test

import (
	"context"
	"errors"
	"io/fs"
	"syscall"
	"testing"

	"go.uber.org/mock/gomock"

	"github.com/guestinject/guestinject/examples/mockvfs"
	"github.com/guestinject/guestinject/vfs"
	"github.com/guestinject/guestinject/vfs/memfs"
	"github.com/guestinject/guestinject/vfs/vfsmock"
)

// delegate makes every call to m that no earlier expectation claims go to
// the in-memory guest, so a test states only the calls it cares about.
func delegate(m *vfsmock.FS, guest *memfs.FS) {
	x := gomock.Any()
	m.EXPECT().Stat(x, x).DoAndReturn(guest.Stat).AnyTimes()
	m.EXPECT().Lstat(x, x).DoAndReturn(guest.Lstat).AnyTimes()
	m.EXPECT().Readlink(x, x).DoAndReturn(guest.Readlink).AnyTimes()
	m.EXPECT().ReadDir(x, x).DoAndReturn(guest.ReadDir).AnyTimes()
	m.EXPECT().Open(x, x).DoAndReturn(guest.Open).AnyTimes()
	m.EXPECT().MkdirAll(x, x, x).DoAndReturn(guest.MkdirAll).AnyTimes()
	m.EXPECT().WriteFile(x, x, x, x).DoAndReturn(guest.WriteFile).AnyTimes()
	m.EXPECT().Chmod(x, x, x).DoAndReturn(guest.Chmod).AnyTimes()
	m.EXPECT().Lchown(x, x, x, x).DoAndReturn(guest.Lchown).AnyTimes()
}

// TestNoMarkerAfterFailure fills the disk when the key is written: the
// error must say so, and the marker must not be written, so that the next
// run retries.
func TestNoMarkerAfterFailure(t *testing.T) {
	ctx := context.Background()
	guest := newGuest()
	m := vfsmock.NewFS(gomock.NewController(t))
	full := &fs.PathError{Op: "writefile", Path: "/home/deploy/.ssh/authorized_keys", Err: syscall.ENOSPC}
	m.EXPECT().WriteFile(gomock.Any(), "/home/deploy/.ssh/authorized_keys", gomock.Any(), gomock.Any()).Return(full)
	m.EXPECT().WriteFile(gomock.Any(), mockvfs.MarkerPath, gomock.Any(), gomock.Any()).Times(0)
	delegate(m, guest)

	_, err := mockvfs.Bootstrap(ctx, m, "web-1", deployKey)
	if !errors.Is(err, syscall.ENOSPC) {
		t.Fatalf("err = %v, want ENOSPC", err)
	}
	if _, err := guest.Lstat(ctx, mockvfs.MarkerPath); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("marker after a failed run: %v", err)
	}
	// The retry on a healthy disk completes the job.
	if _, err := mockvfs.Bootstrap(ctx, guest, "web-1", deployKey); err != nil {
		t.Fatal(err)
	}
	if data, _ := vfs.ReadFile(ctx, guest, "/home/deploy/.ssh/authorized_keys", 1024); len(data) == 0 {
		t.Error("the retry did not authorize the key")
	}
}

// TestProvisionedGuestIsNotWritten checks, with a strict mock, that a
// guest already provisioned for the host gets no write of any kind.
func TestProvisionedGuestIsNotWritten(t *testing.T) {
	ctx := context.Background()
	guest := newGuest()
	if _, err := mockvfs.Bootstrap(ctx, guest, "web-1", deployKey); err != nil {
		t.Fatal(err)
	}
	m := vfsmock.NewFS(gomock.NewController(t))
	m.EXPECT().Open(gomock.Any(), mockvfs.MarkerPath).DoAndReturn(guest.Open)
	m.EXPECT().Stat(gomock.Any(), gomock.Any()).DoAndReturn(guest.Stat).AnyTimes()
	m.EXPECT().Lstat(gomock.Any(), gomock.Any()).DoAndReturn(guest.Lstat).AnyTimes()
	// No WriteFile, MkdirAll, Chmod or Lchown expectation: any would fail.

	report, err := mockvfs.Bootstrap(ctx, m, "web-1", deployKey)
	if err != nil || len(report.Changes) != 0 {
		t.Errorf("report %+v, err %v", report, err)
	}
}

// TestMarkerWriteFailureIsReported makes the last write fail.
func TestMarkerWriteFailureIsReported(t *testing.T) {
	ctx := context.Background()
	m := vfsmock.NewFS(gomock.NewController(t))
	m.EXPECT().WriteFile(gomock.Any(), mockvfs.MarkerPath, gomock.Any(), gomock.Any()).
		Return(&fs.PathError{Op: "writefile", Path: mockvfs.MarkerPath, Err: vfs.ErrReadOnly})
	delegate(m, newGuest())
	report, err := mockvfs.Bootstrap(ctx, m, "web-1", deployKey)
	if !errors.Is(err, vfs.ErrReadOnly) || report == nil || len(report.Changes) == 0 {
		t.Errorf("report %+v, err %v; want the changes made and ErrReadOnly", report, err)
	}
}
