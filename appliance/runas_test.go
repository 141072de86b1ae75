package appliance

import (
	"os"
	"testing"

	"github.com/guestinject/guestinject/internal/testsupport/inroottest"
)

func TestStatusHasUID(t *testing.T) {
	status := []byte("Name:\tqemu\nUmask:\t0022\nUid:\t2013265921\t2013265921\t2013265921\t2013265922\nGid:\t7\t7\t7\t7\n")
	for uid, want := range map[string]bool{"2013265921": true, "2013265922": true, "7": false, "201326592": false} {
		if got := statusHasUID(status, uid); got != want {
			t.Errorf("statusHasUID(%s) = %v, want %v", uid, got, want)
		}
	}
}

// TestReserveDynamicUser checks that concurrent reservations get distinct
// uids in the range, and that closing the lock frees the uid.
func TestReserveDynamicUser(t *testing.T) {
	inroottest.RequireRoot(t)
	seen := map[uint32]*uidReservation{}
	for range 32 {
		r, err := reserveDynamicUser()
		if err != nil {
			t.Fatal(err)
		}
		defer r.lock.Close()
		if r.UID < DynamicUIDBase || r.UID >= DynamicUIDBase+DynamicUIDCount || r.GID != r.UID {
			t.Fatalf("reserved uid %d gid %d", r.UID, r.GID)
		}
		if seen[r.UID] != nil {
			t.Fatalf("uid %d reserved twice", r.UID)
		}
		seen[r.UID] = r
	}
	fi, err := os.Stat(runtimeDir)
	if err != nil || fi.Mode().Perm() != 0o700 {
		t.Errorf("%s: %v, %v", runtimeDir, fi.Mode(), err)
	}
	// A held uid cannot be taken; a released one can.
	for uid, r := range seen {
		if tryLock(t, uid) {
			t.Errorf("uid %d taken while reserved", uid)
		}
		r.lock.Close()
		if !tryLock(t, uid) {
			t.Errorf("uid %d still reserved after its lock closed", uid)
		}
		break
	}
}

// tryLock reports whether uid's byte of the lock file can be locked now.
func tryLock(t *testing.T, uid uint32) bool {
	t.Helper()
	f, err := os.OpenFile(runtimeDir+"/"+uidLockName, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	return lockSlot(f, int64(uid-DynamicUIDBase)) == nil
}
