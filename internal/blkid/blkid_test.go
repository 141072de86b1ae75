package blkid_test

import (
	"bytes"
	"encoding/binary"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/guestinject/guestinject/internal/blkid"
	"github.com/guestinject/guestinject/internal/testsupport/testimage"
)

func TestProbeRealFilesystems(t *testing.T) {
	for _, tc := range []struct {
		tool  string
		args  []string
		size  int64
		want  blkid.Type
		label string
	}{
		{"mkfs.ext4", []string{"-q", "-F", "-L", "rootfs", "-O", "^has_journal,^extent,^64bit,^flex_bg,^huge_file,^dir_nlink,^extra_isize,^metadata_csum"}, 8 << 20, blkid.Ext2, "rootfs"},
		{"mkfs.ext4", []string{"-q", "-F", "-L", "old", "-O", "^extent,^64bit,^flex_bg,^huge_file,^dir_nlink,^extra_isize,^metadata_csum"}, 8 << 20, blkid.Ext3, "old"},
		{"mkfs.ext4", []string{"-q", "-F", "-L", "cloudimg-rootfs"}, 8 << 20, blkid.Ext4, "cloudimg-rootfs"},
		{"mkfs.xfs", []string{"-q", "-f", "-L", "boot"}, 300 << 20, blkid.XFS, "boot"},
		{"mkfs.vfat", []string{"-n", "EFI"}, 8 << 20, blkid.VFAT, "EFI"},
		{"mkswap", []string{"-L", "swap0"}, 8 << 20, blkid.Swap, "swap0"},
	} {
		t.Run(string(tc.want), func(t *testing.T) {
			tool := testimage.NeedTool(t, tc.tool)
			img := filepath.Join(t.TempDir(), "img")
			if err := os.WriteFile(img, nil, 0o600); err != nil {
				t.Fatal(err)
			}
			if err := os.Truncate(img, tc.size); err != nil {
				t.Fatal(err)
			}
			if out, err := exec.Command(tool, append(tc.args, img)...).CombinedOutput(); err != nil {
				t.Fatalf("%s: %v\n%s", tc.tool, err, out)
			}
			f, err := os.Open(img)
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			info, err := blkid.Probe(f)
			if err != nil {
				t.Fatal(err)
			}
			if info.Type != tc.want || info.Label != tc.label || info.UUID == "" {
				t.Errorf("Probe = %+v, want type %s label %q and a UUID", info, tc.want, tc.label)
			}
		})
	}
}

// btrfsImage is a minimal btrfs superblock: the magic at 64 KiB + 0x40.
func btrfsImage() []byte {
	img := make([]byte, blkid.MaxProbeBytes)
	sb := img[64<<10:]
	copy(sb[0x20:], bytes.Repeat([]byte{0xab}, 16))
	copy(sb[0x40:], "_BHRfS_M")
	copy(sb[0x12B:], "data")
	return img
}

func TestProbeBtrfs(t *testing.T) {
	info, err := blkid.Probe(bytes.NewReader(btrfsImage()))
	if err != nil {
		t.Fatal(err)
	}
	want := blkid.Info{Type: blkid.Btrfs, UUID: "abababab-abab-abab-abab-abababababab", Label: "data"}
	if info != want {
		t.Errorf("Probe = %+v, want %+v", info, want)
	}
}

func TestProbeRejects(t *testing.T) {
	mbr := make([]byte, 4096)
	mbr[510], mbr[511] = 0x55, 0xAA // a partition table, not a FAT boot sector
	badExt := make([]byte, 4096)
	binary.LittleEndian.PutUint16(badExt[1024+0x38:], 0xEF53)
	binary.LittleEndian.PutUint32(badExt[1024+0x18:], 40) // absurd block size
	extJournal := make([]byte, 4096)
	binary.LittleEndian.PutUint16(extJournal[1024+0x38:], 0xEF53)
	binary.LittleEndian.PutUint32(extJournal[1024+0x60:], 0x0008)
	for name, img := range map[string][]byte{
		"zeros":            make([]byte, 1<<20),
		"mbr":              mbr,
		"absurd ext":       badExt,
		"external journal": extJournal,
		"truncated btrfs":  btrfsImage()[:64<<10+0x41],
	} {
		if info, err := blkid.Probe(bytes.NewReader(img)); !errors.Is(err, blkid.ErrUnknown) {
			t.Errorf("%s: Probe = %+v, %v; want ErrUnknown", name, info, err)
		}
	}
	if _, err := blkid.Probe(bytes.NewReader(make([]byte, 100))); err == nil || errors.Is(err, blkid.ErrUnknown) {
		t.Errorf("short volume: err = %v, want a read error", err)
	}
}

func TestTypeMountType(t *testing.T) {
	for typ, want := range map[blkid.Type]string{
		blkid.Ext2: "ext4", blkid.Ext3: "ext4", blkid.Ext4: "ext4", blkid.XFS: "xfs",
		blkid.Btrfs: "btrfs", blkid.VFAT: "vfat", blkid.Swap: "", blkid.LVM2: "",
	} {
		if got := typ.MountType(); got != want {
			t.Errorf("%s.MountType() = %q, want %q", typ, got, want)
		}
		if root := typ.IsLinuxRoot(); root != (want != "" && want != "vfat") {
			t.Errorf("%s.IsLinuxRoot() = %v", typ, root)
		}
	}
}

func FuzzProbe(f *testing.F) {
	f.Add(btrfsImage()[64<<10-4096:])
	ext := make([]byte, 2048)
	binary.LittleEndian.PutUint16(ext[1024+0x38:], 0xEF53)
	f.Add(ext)
	xfs := make([]byte, 512)
	copy(xfs, "XFSB\x00\x00\x10\x00")
	f.Add(xfs)
	fat := make([]byte, 512)
	binary.LittleEndian.PutUint16(fat[11:], 512)
	fat[13], fat[16], fat[510], fat[511] = 8, 2, 0x55, 0xAA
	copy(fat[82:], "FAT32   ")
	f.Add(fat)
	f.Fuzz(func(t *testing.T, data []byte) {
		r := &countingReader{r: bytes.NewReader(data)}
		info, err := blkid.Probe(r)
		if r.maxEnd > blkid.MaxProbeBytes {
			t.Fatalf("read up to byte %d, beyond MaxProbeBytes", r.maxEnd)
		}
		if err != nil && info != (blkid.Info{}) {
			t.Fatalf("error %v with info %+v", err, info)
		}
		if err == nil && info.Type == "" {
			t.Fatal("no error and no type")
		}
	})
}

type countingReader struct {
	r      *bytes.Reader
	maxEnd int64
}

func (c *countingReader) ReadAt(p []byte, off int64) (int, error) {
	c.maxEnd = max(c.maxEnd, off+int64(len(p)))
	return c.r.ReadAt(p, off)
}
