package initramfs

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/guestinject/guestinject/internal/guestabi"
)

var testManifest = guestabi.PayloadManifest{ID: "6.1.0-test-0123456789", Groups: []string{"xfs", guestabi.LVMGroup}}

// payloadOf builds a payload of files ("group/path" -> content) with the
// builder.
func payloadOf(t *testing.T, files map[string]string) []byte {
	t.Helper()
	dir := t.TempDir()
	var entries []payloadEntry
	i := 0
	for member, content := range files {
		group, p, _ := strings.Cut(member, "/")
		host := filepath.Join(dir, fmt.Sprint(i))
		i++
		if err := os.WriteFile(host, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
		entries = append(entries, payloadEntry{group: group, path: "/" + p, host: host, mode: 0o755})
	}
	b, err := buildPayload(testManifest, entries)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestPayloadRoundTrip(t *testing.T) {
	b := payloadOf(t, map[string]string{"xfs/lib/modules/xfs.ko": "xfs module", "lvm/lvm/bin/lvm": "lvm binary"})
	if len(b)%guestabi.PayloadAlign != 0 {
		t.Errorf("%d bytes: not whole blocks", len(b))
	}
	index, err := guestabi.ReadPayloadIndex(bytes.NewReader(b), int64(len(b)), testManifest.Format())
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	for _, f := range index {
		got[f.Group+" "+f.Path] = string(b[f.Offset : f.Offset+f.Size])
		if f.Mode != 0o755 {
			t.Errorf("%s: mode %o", f.Path, f.Mode)
		}
	}
	if len(got) != 2 || got["xfs /lib/modules/xfs.ko"] != "xfs module" || got["lvm /lvm/bin/lvm"] != "lvm binary" {
		t.Errorf("index: %v", got)
	}
}

// hostilePayload writes a payload member by member with the cpio writer,
// which checks nothing the reader must.
func hostilePayload(manifest []byte, members ...[2]string) []byte {
	var b bytes.Buffer
	cw := &cpioWriter{w: &b}
	if manifest != nil {
		cw.file(guestabi.PayloadManifestName, 0o644, manifest)
	}
	for _, m := range members {
		cw.file(m[0], 0o644, []byte(m[1]))
	}
	cw.close()
	return b.Bytes()
}

func TestPayloadReaderRejects(t *testing.T) {
	good := testManifest.Format()
	valid := hostilePayload(good, [2]string{"xfs/lib/modules/xfs.ko", "x"})
	other := guestabi.PayloadManifest{ID: "another-build", Groups: testManifest.Groups}.Format()
	// A size field far past the end of the disk.
	oversized := bytes.Clone(valid)
	second := bytes.Index(oversized, []byte("xfs/lib")) - 110
	copy(oversized[second+54:], "7FFFFFFF")
	// A name size field that claims more than any name may have.
	longName := bytes.Clone(valid)
	copy(longName[second+94:], "0000FFFF")
	var many [][2]string
	for i := range guestabi.MaxPayloadFiles + 1 {
		many = append(many, [2]string{fmt.Sprintf("xfs/f%d", i), ""})
	}
	var withDevice bytes.Buffer
	cw := &cpioWriter{w: &withDevice}
	cw.file(guestabi.PayloadManifestName, 0o644, good)
	cw.charDev("xfs/dev/sda", 0o600, 8, 0)
	cw.close()
	for name, b := range map[string][]byte{
		"empty":              nil,
		"truncated header":   valid[:50],
		"truncated data":     valid[:second+120],
		"no trailer":         valid[:len(valid)-124],
		"oversized size":     oversized,
		"oversized name":     longName,
		"too many files":     hostilePayload(good, many...),
		"dot-dot":            hostilePayload(good, [2]string{"xfs/../etc/passwd", "x"}),
		"dot-dot inside":     hostilePayload(good, [2]string{"xfs/lib/../../init", "x"}),
		"absolute":           hostilePayload(good, [2]string{"xfs//init", "x"}),
		"unclean":            hostilePayload(good, [2]string{"xfs/lib/./x", "x"}),
		"group not listed":   hostilePayload(good, [2]string{"btrfs/lib/modules/btrfs.ko", "x"}),
		"no group":           hostilePayload(good, [2]string{"init", "x"}),
		"group only":         hostilePayload(good, [2]string{"xfs/", "x"}),
		"control character":  hostilePayload(good, [2]string{"xfs/a\nb", "x"}),
		"twice":              hostilePayload(good, [2]string{"xfs/a", "x"}, [2]string{"xfs/a", "y"}),
		"no manifest":        hostilePayload(nil, [2]string{"xfs/a", "x"}),
		"another build":      hostilePayload(other, [2]string{"xfs/a", "x"}),
		"manifest not first": hostilePayload(nil, [2]string{"xfs/a", "x"}, [2]string{guestabi.PayloadManifestName, string(good)}),
		"device node":        withDevice.Bytes(),
		"not cpio":           bytes.Repeat([]byte("not a cpio archive "), 100),
	} {
		t.Run(name, func(t *testing.T) {
			index, err := guestabi.ReadPayloadIndex(bytes.NewReader(b), int64(len(b)), good)
			if !errors.Is(err, guestabi.ErrBadPayload) {
				t.Errorf("ReadPayloadIndex = %d files, %v; want ErrBadPayload", len(index), err)
			}
		})
	}
	if _, err := guestabi.ReadPayloadIndex(bytes.NewReader(valid), int64(len(valid)), good); err != nil {
		t.Errorf("the valid payload the cases derive from: %v", err)
	}
}

func TestPayloadManifestRejects(t *testing.T) {
	for _, bad := range []string{
		"", "guestinject-payload 1 id", "guestinject-payload 2 id\n", "guestinject-payload 1 \n",
		"guestinject-payload 1 id\nXFS\n", "guestinject-payload 1 id\nxfs\nxfs\n", "guestinject-payload 1 id\n../x\n",
		"guestinject-payload 1 id\n\n", "guestinject-payload 1 id\n" + strings.Repeat("g\n", 20000),
	} {
		if m, err := guestabi.ParsePayloadManifest([]byte(bad)); !errors.Is(err, guestabi.ErrBadPayload) {
			t.Errorf("ParsePayloadManifest(%.40q) = %v, %v; want ErrBadPayload", bad, m, err)
		}
	}
}
