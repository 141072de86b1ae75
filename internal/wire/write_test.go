package wire

import (
	"encoding/json"
	"io/fs"
	"reflect"
	"testing"

	"github.com/guestinject/guestinject/vfs"
)

// TestWriteOptionsRoundTrip checks that every field of vfs.WriteOptions
// reaches the agent as the host set it, through JSON as on the wire.
func TestWriteOptionsRoundTrip(t *testing.T) {
	full := vfs.WriteOptions{Policy: vfs.Exclusive, Perm: 0o755 | fs.ModeSetuid | fs.ModeSetgid | fs.ModeSticky,
		UID: 1000, GID: 42, Inherit: true, MaxSize: 1 << 40}
	// A field added to vfs.WriteOptions must be carried too: full sets
	// every one of them.
	v := reflect.ValueOf(full)
	for i := range v.NumField() {
		if v.Field(i).IsZero() {
			t.Errorf("the test leaves vfs.WriteOptions.%s unset", v.Type().Field(i).Name)
		}
	}
	for _, opts := range []vfs.WriteOptions{full, {Policy: vfs.Append, Perm: 0o600, UID: -1, GID: -1}, {}} {
		req := WriteRequest("/etc/x", opts)
		if req.Op != OpWriteFile || req.Name != "/etc/x" {
			t.Fatalf("WriteRequest: %+v", req)
		}
		j, err := json.Marshal(req)
		if err != nil {
			t.Fatal(err)
		}
		var got Request
		if err := Decode(j, &got); err != nil {
			t.Fatal(err)
		}
		if got.WriteOptions() != opts {
			t.Errorf("%+v came back as %+v", opts, got.WriteOptions())
		}
	}
}
