package guestabi

import (
	"bytes"
	"errors"
	"fmt"
	"testing"
)

// newc writes a newc archive of regular files (name, content pairs) and
// a trailer, as the payload builder does.
func newc(members ...string) []byte {
	var b bytes.Buffer
	for i := 0; i+1 < len(members); i += 2 {
		writeMember(&b, members[i], 0o100644, members[i+1])
	}
	writeMember(&b, "TRAILER!!!", 0, "")
	return b.Bytes()
}

func writeMember(b *bytes.Buffer, name string, mode uint32, data string) {
	hdr := fmt.Sprintf("070701%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X",
		1, mode, 0, 0, 1, 0, len(data), 0, 0, 0, 0, len(name)+1, 0)
	b.WriteString(hdr + name + "\x00")
	for b.Len()%4 != 0 {
		b.WriteByte(0)
	}
	b.WriteString(data)
	for b.Len()%4 != 0 {
		b.WriteByte(0)
	}
}

// FuzzReadPayloadIndex: whatever the disk holds, the reader returns an
// error or files that lie inside the disk, in a listed group, at clean
// absolute paths.
func FuzzReadPayloadIndex(f *testing.F) {
	manifest := PayloadManifest{ID: "test", Groups: []string{"xfs", LVMGroup}}.Format()
	f.Add(newc(PayloadManifestName, string(manifest), "xfs/lib/modules/xfs.ko", "module", "lvm/lvm/bin/lvm", "lvm"))
	f.Add(newc(PayloadManifestName, string(manifest), "xfs/../init", "x"))
	f.Add(newc(PayloadManifestName, string(manifest)))
	f.Add(newc("xfs/a", "b"))
	f.Add([]byte("070701"))
	f.Fuzz(func(t *testing.T, disk []byte) {
		files, err := ReadPayloadIndex(bytes.NewReader(disk), int64(len(disk)), manifest)
		if err != nil {
			if !errors.Is(err, ErrBadPayload) {
				t.Fatalf("error does not wrap ErrBadPayload: %v", err)
			}
			return
		}
		for _, file := range files {
			if file.Offset < 0 || file.Size < 0 || file.Offset+file.Size > int64(len(disk)) {
				t.Fatalf("%s: bytes %d+%d outside a disk of %d", file.Path, file.Offset, file.Size, len(disk))
			}
			if file.Group != "xfs" && file.Group != LVMGroup {
				t.Fatalf("%s: group %q not in the manifest", file.Path, file.Group)
			}
			if len(file.Path) < 2 || file.Path[0] != '/' || bytes.Contains([]byte(file.Path+"/"), []byte("/../")) ||
				bytes.Contains([]byte(file.Path), []byte("//")) {
				t.Fatalf("path %q is not clean and absolute", file.Path)
			}
			if file.Mode&^0o755 != 0 {
				t.Fatalf("%s: mode %o", file.Path, file.Mode)
			}
		}
	})
}

func TestPayloadManifestRoundTrip(t *testing.T) {
	m := PayloadManifest{ID: "6.1.0-9-amd64-abc", Groups: []string{"xfs", "btrfs", "dm", LVMGroup}}
	got, err := ParsePayloadManifest(m.Format())
	if err != nil || got.ID != m.ID || len(got.Groups) != 4 || !got.Has("btrfs") || got.Has("core") {
		t.Errorf("round trip: %+v, %v", got, err)
	}
}
