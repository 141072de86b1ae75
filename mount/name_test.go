package mount_test

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/guestinject/guestinject/imagecheck"
	"github.com/guestinject/guestinject/mount"
	"github.com/guestinject/guestinject/vfs"
)

// TestOpenRefusesProtocolNames gives both opens names QEMU would read as a
// protocol, or probe as dmg, each an existing raw file in the working
// directory: they are refused before anything is opened or made.
func TestOpenRefusesProtocolNames(t *testing.T) {
	dir := t.TempDir()
	cases := []struct {
		name string
		want imagecheck.Reason
	}{
		{"nbd:localhost:10809", imagecheck.ReasonProtocolName},
		{"json:{}", imagecheck.ReasonProtocolName},
		{"file:disk.img", imagecheck.ReasonProtocolName},
		{"a:b", imagecheck.ReasonProtocolName},
		{"disk.dmg", imagecheck.ReasonFormatMismatch},
	}
	for _, c := range cases {
		if err := os.WriteFile(filepath.Join(dir, c.name), make([]byte, 1<<20), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	t.Chdir(dir)
	state := stateDir(t, dir)
	for _, c := range cases {
		for open, f := range map[string]func(vfs.Disk) error{
			"OpenTrusted": func(d vfs.Disk) error {
				_, err := mount.OpenTrusted(t.Context(), d, mount.WithStateDir(state))
				return err
			},
			"OpenTrustedInPlace": func(d vfs.Disk) error {
				_, err := mount.OpenTrustedInPlace(t.Context(), d, mount.WithStateDir(state))
				return err
			},
		} {
			err := f(vfs.Disk{Path: c.name, Format: imagecheck.Raw})
			var pe *fs.PathError
			if !errors.Is(err, c.want) || !errors.As(err, &pe) || pe.Path != c.name || strings.Contains(err.Error(), c.name+": "+c.name+": ") {
				t.Errorf("%s(%q) = %v, want *fs.PathError for it wrapping %s, naming it once", open, c.name, err, c.want)
			}
		}
	}
}
