package appliance_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/guestinject/guestinject/appliance"
	"github.com/guestinject/guestinject/imagecheck"
	"github.com/guestinject/guestinject/vfs"
)

// TestOpenRefusesProtocolNames gives Open disks whose names QEMU would read
// as a protocol, or probe as dmg, each an existing raw file in the working
// directory. They are refused before the appliance is built: the kernel
// named here does not exist, so any later refusal would be about it.
func TestOpenRefusesProtocolNames(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "good.img")
	cases := []struct {
		name string
		want imagecheck.Reason
	}{
		{"nbd:localhost:10809", imagecheck.ReasonProtocolName},
		{`json:{"file":{"driver":"file","filename":"good.img"}}`, imagecheck.ReasonProtocolName},
		{"file:good.img", imagecheck.ReasonProtocolName},
		{"fat:rw:x", imagecheck.ReasonProtocolName},
		{"disk.dmg", imagecheck.ReasonFormatMismatch},
	}
	for _, p := range []string{good, filepath.Join(dir, "disk.dmg"), filepath.Join(dir, "nbd:localhost:10809")} {
		if err := os.WriteFile(p, make([]byte, 1<<20), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	t.Chdir(dir)
	tmp := privateTemp(t)
	for _, c := range cases {
		// The refused disk comes second: every disk is judged before
		// anything else happens.
		disks := []vfs.Disk{{Path: good, Format: imagecheck.Raw}, {Path: c.name, Format: imagecheck.Raw}}
		_, err := appliance.Open(context.Background(), disks, appliance.WithKernel("/nonexistent-kernel-for-this-test"))
		var rej *imagecheck.RejectionError
		if !errors.Is(err, c.want) || !errors.As(err, &rej) || rej.Path != c.name {
			t.Errorf("Open(%q) = %v, want a %s rejection naming it", c.name, err, c.want)
		}
	}
	assertNothingLeft(t, tmp)
}
