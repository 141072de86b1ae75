package guest_test

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"testing"

	"github.com/guestinject/guestinject/internal/agent/guest"
	"github.com/guestinject/guestinject/internal/guestabi"
)

// payloadDisk is a payload in the builder's format: a newc archive of
// the manifest and regular files ("group/path", content pairs), padded to
// whole blocks.
func payloadDisk(manifest []byte, members ...string) []byte {
	var b bytes.Buffer
	member := func(name string, mode uint32, data []byte) {
		fmt.Fprintf(&b, "070701%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%s\x00",
			1, mode, 0, 0, 1, 0, len(data), 0, 0, 0, 0, len(name)+1, 0, name)
		for b.Len()%4 != 0 {
			b.WriteByte(0)
		}
		b.Write(data)
		for b.Len()%4 != 0 {
			b.WriteByte(0)
		}
	}
	member(guestabi.PayloadManifestName, 0o100644, manifest)
	for i := 0; i+1 < len(members); i += 2 {
		member(members[i], 0o100755, []byte(members[i+1]))
	}
	member("TRAILER!!!", 0, nil)
	b.Write(make([]byte, guestabi.PayloadAlign-b.Len()%guestabi.PayloadAlign))
	return b.Bytes()
}

// payloadMachine lays out a machine whose vda is a guest disk holding
// guestContent and vdb the payload disk holding payload (none when nil),
// and the initramfs's payload manifest; it returns the payload and the
// appliance root files are copied into.
func payloadMachine(t *testing.T, manifest, guestContent, payload []byte) (sysBlock, dev, root string, p *guest.Payload) {
	t.Helper()
	disks := []fakeDisk{{name: "vda", serial: guestabi.DiskSerial(0, false)}}
	if payload != nil {
		disks = append(disks, fakeDisk{name: "vdb", serial: guestabi.PayloadSerial})
	}
	sysBlock, dev = fakeMachine(t, disks...)
	if err := os.MkdirAll(dev, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dev, "vda"), guestContent, 0o644); err != nil {
		t.Fatal(err)
	}
	if payload != nil {
		if err := os.WriteFile(filepath.Join(dev, "vdb"), payload, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	root = t.TempDir()
	manifestPath := filepath.Join(t.TempDir(), "payload")
	if err := os.WriteFile(manifestPath, manifest, 0o644); err != nil {
		t.Fatal(err)
	}
	p, err := guest.OpenPayloadManifest(manifestPath, sysBlock, dev, root)
	if err != nil {
		t.Fatal(err)
	}
	guest.SetPayloadWait(p, 0)
	return sysBlock, dev, root, p
}

var payloadManifest = guestabi.PayloadManifest{ID: "test-build", Groups: []string{"xfs", guestabi.LVMGroup}}.Format()

func TestPayloadFetch(t *testing.T) {
	disk := payloadDisk(payloadManifest, "xfs/lib/modules/xfs.ko", "xfs module", "xfs/lib/modules/libcrc32c.ko", "crc",
		"lvm/lvm/bin/lvm", "lvm binary", "lvm/lib64/ld.so", "loader")
	// The guest disk holds a valid payload too: it stays a guest disk.
	sysBlock, dev, root, p := payloadMachine(t, payloadManifest, disk, disk)
	if got := guest.FindPayloadDisk(sysBlock, dev); got != filepath.Join(dev, "vdb") {
		t.Errorf("FindPayloadDisk = %q, want vdb, the disk with the payload serial", got)
	}
	vols, err := guest.ScanVolumes(sysBlock, dev)
	if err != nil {
		t.Fatal(err)
	}
	if len(vols) != 1 || vols[0].Device != filepath.Join(dev, "vda") || vols[0].Disk != 0 {
		t.Errorf("ScanVolumes = %v, want the guest disk vda alone", vols)
	}

	// A file already in the root is kept, and a symbolic link in the
	// way is not followed.
	if err := os.MkdirAll(filepath.Join(root, "lib/modules"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(root, "lib/modules/libcrc32c.ko"), []byte("from another group"), 0o644); err != nil {
		t.Fatal(err)
	}
	outside := filepath.Join(t.TempDir(), "host-file")
	if err := os.Symlink(outside, filepath.Join(root, "lib/modules/xfs.ko")); err != nil {
		t.Fatal(err)
	}
	mods := guest.Modules{Payload: p}
	if err := mods.Fetch("xfs"); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Lstat(outside); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("fetch wrote through a symbolic link: %v", err)
	}
	if b, _ := os.ReadFile(filepath.Join(root, "lib/modules/libcrc32c.ko")); string(b) != "from another group" {
		t.Errorf("existing file replaced: %q", b)
	}
	if _, err := os.Stat(filepath.Join(root, "lvm/bin/lvm")); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("fetching xfs copied the LVM tools: %v", err)
	}
	if err := mods.Fetch(guestabi.LVMGroup); err != nil {
		t.Fatal(err)
	}
	for p, want := range map[string]string{"lvm/bin/lvm": "lvm binary", "lib64/ld.so": "loader"} {
		b, err := os.ReadFile(filepath.Join(root, p))
		fi, _ := os.Stat(filepath.Join(root, p))
		if err != nil || string(b) != want || fi.Mode().Perm() != 0o755 {
			t.Errorf("%s: %q, %v", p, b, err)
		}
	}
	// Once only: a second fetch reads nothing.
	if err := os.Remove(filepath.Join(dev, "vdb")); err != nil {
		t.Fatal(err)
	}
	if err := mods.Fetch(guestabi.LVMGroup); err != nil {
		t.Errorf("second fetch: %v", err)
	}
	// Groups the payload does not hold need nothing; Load of such a group
	// with no modules does nothing either.
	if err := mods.Load("ext4"); err != nil {
		t.Errorf("Load(ext4): %v", err)
	}
}

func TestPayloadFetchFails(t *testing.T) {
	valid := payloadDisk(payloadManifest, "xfs/lib/modules/xfs.ko", "xfs module")
	other := guestabi.PayloadManifest{ID: "other-build", Groups: []string{"xfs"}}.Format()
	for name, tc := range map[string]struct {
		payload []byte
		want    error
	}{
		"missing disk":  {nil, fs.ErrNotExist},
		"truncated":     {valid[:200], guestabi.ErrBadPayload},
		"another build": {payloadDisk(other, "xfs/lib/modules/xfs.ko", "x"), guestabi.ErrBadPayload},
		"climbs":        {payloadDisk(payloadManifest, "xfs/../../etc/passwd", "x"), guestabi.ErrBadPayload},
		"foreign group": {payloadDisk(payloadManifest, "btrfs/lib/modules/btrfs.ko", "x"), guestabi.ErrBadPayload},
	} {
		t.Run(name, func(t *testing.T) {
			_, _, root, p := payloadMachine(t, payloadManifest, make([]byte, 4096), tc.payload)
			err := guest.Modules{Payload: p}.Fetch("xfs")
			if !errors.Is(err, tc.want) {
				t.Fatalf("Fetch = %v, want %v", err, tc.want)
			}
			if entries, _ := os.ReadDir(root); len(entries) != 0 {
				t.Errorf("root has %d entries after a failed fetch", len(entries))
			}
		})
	}
	_, _, _, p := payloadMachine(t, payloadManifest, make([]byte, 4096), valid)
	if err := p.Fetch("btrfs"); !errors.Is(err, guestabi.ErrBadPayload) {
		t.Errorf("Fetch of a group not in the manifest = %v", err)
	}
}
