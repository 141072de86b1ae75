package wire

import (
	"encoding/json"
	"errors"
	"io/fs"
	"testing"
	"time"

	"github.com/guestinject/guestinject/vfs"
)

// TestTimespecRoundTrip: times reach the agent to the nanosecond, through
// JSON as on the wire, also those Unix nanoseconds cannot hold.
func TestTimespecRoundTrip(t *testing.T) {
	for _, want := range []time.Time{
		time.Unix(0, 0),
		time.Unix(-1, 999999999), // just before the epoch
		time.Date(1999, 12, 31, 23, 59, 59, 987654321, time.UTC),
		time.Date(2446, 5, 10, 22, 38, 55, 1, time.UTC), // ext4's last second, past 2262
		time.Date(1600, 1, 1, 0, 0, 0, 0, time.UTC),     // before 1678
		time.Date(1, 1, 1, 0, 0, 0, 1, time.UTC),        // one nanosecond after the zero time
	} {
		j, err := json.Marshal(Request{Op: OpLchtimes, Name: "/x", Atime: TimespecFrom(want)})
		if err != nil {
			t.Fatal(err)
		}
		var req Request
		if err := Decode(j, &req); err != nil {
			t.Fatal(err)
		}
		got, err := req.Atime.Time()
		if err != nil || !got.Equal(want) {
			t.Errorf("%v: arrived as %v, %v", want, got, err)
		}
		if mt, err := req.Mtime.Time(); err != nil || !mt.IsZero() {
			t.Errorf("an absent time arrived as %v, %v", mt, err)
		}
	}
	if TimespecFrom(time.Time{}) != nil {
		t.Error("the zero time is sent")
	}
}

func TestTimespecRefusals(t *testing.T) {
	zero := time.Time{}
	for _, ts := range []Timespec{
		{Sec: 1, Nsec: -1},
		{Sec: 1, Nsec: int64(time.Second)},
		{Sec: zero.Unix(), Nsec: 0}, // would read as "leave it"
	} {
		if got, err := ts.Time(); !errors.Is(err, fs.ErrInvalid) {
			t.Errorf("%+v: %v, %v; want fs.ErrInvalid", ts, got, err)
		}
	}
}

// TestFileInfoAtime: the access time travels with a FileInfo when the
// backend reports one, and stays absent otherwise.
func TestFileInfoAtime(t *testing.T) {
	at := time.Unix(1e9, 42)
	fi := InfoFrom(namedAttr{attr: vfs.Attr{UID: 1, Atime: at}})
	j, err := json.Marshal(fi)
	if err != nil {
		t.Fatal(err)
	}
	var back FileInfo
	if err := Decode(j, &back); err != nil {
		t.Fatal(err)
	}
	if a, ok := vfs.AttrOf(back.FileInfo()); !ok || !a.Atime.Equal(at) || a.UID != 1 {
		t.Errorf("attr %+v, %v; want atime %v", a, ok, at)
	}
	none := InfoFrom(namedAttr{})
	if none.Atime != nil {
		t.Errorf("an unreported atime is sent as %d", *none.Atime)
	}
	if a, _ := vfs.AttrOf(none.FileInfo()); !a.Atime.IsZero() {
		t.Errorf("an unreported atime arrives as %v", a.Atime)
	}
}

type namedAttr struct{ attr vfs.Attr }

func (n namedAttr) Name() string       { return "x" }
func (n namedAttr) Size() int64        { return 0 }
func (n namedAttr) Mode() fs.FileMode  { return 0o644 }
func (n namedAttr) ModTime() time.Time { return time.Unix(0, 0) }
func (n namedAttr) IsDir() bool        { return false }
func (n namedAttr) Sys() any           { return &n.attr }
