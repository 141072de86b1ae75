package mount

import (
	"bytes"
	"encoding/binary"
	"hash/crc32"
	"strings"
	"testing"
)

// gptDisk builds a minimal GPT disk image in memory with one partition.
func gptDisk(first, last uint64) []byte {
	disk := make([]byte, 64*512)
	disk[446+4] = 0xEE
	disk[510], disk[511] = 0x55, 0xAA
	le := binary.LittleEndian
	entries := disk[2*512 : 2*512+128*4]
	copy(entries[0:16], "linux-type-guid!")
	le.PutUint64(entries[32:], first)
	le.PutUint64(entries[40:], last)
	hdr := disk[512:]
	copy(hdr, "EFI PART")
	le.PutUint32(hdr[12:], 92)
	le.PutUint64(hdr[72:], 2)
	le.PutUint32(hdr[80:], 4)
	le.PutUint32(hdr[84:], 128)
	le.PutUint32(hdr[88:], crc32.ChecksumIEEE(entries))
	le.PutUint32(hdr[16:], crc32.ChecksumIEEE(hdr[:92]))
	return disk
}

func mbrDisk(start, count uint32) []byte {
	disk := make([]byte, 64*512)
	disk[446+4] = 0x83
	binary.LittleEndian.PutUint32(disk[446+8:], start)
	binary.LittleEndian.PutUint32(disk[446+12:], count)
	disk[510], disk[511] = 0x55, 0xAA
	return disk
}

func TestReadPartitions(t *testing.T) {
	for _, tc := range []struct {
		name string
		disk []byte
		want []partition
		bad  bool
	}{
		{"gpt", gptDisk(34, 63), []partition{{Number: 1, Offset: 34 * 512, Size: 30 * 512}}, false},
		{"gpt past the end", gptDisk(34, 64), nil, true},
		{"mbr", mbrDisk(8, 16), []partition{{Number: 1, Offset: 8 * 512, Size: 16 * 512}}, false},
		{"mbr past the end", mbrDisk(8, 64), nil, true},
		{"no table", make([]byte, 4096), nil, false},
	} {
		got, err := readPartitions(bytes.NewReader(tc.disk), int64(len(tc.disk)))
		if (err != nil) != tc.bad || len(got) != len(tc.want) || (len(got) == 1 && got[0] != tc.want[0]) {
			t.Errorf("%s: got %v, %v; want %v (error %v)", tc.name, got, err, tc.want, tc.bad)
		}
	}
	// A corrupted header checksum is refused, not trusted.
	disk := gptDisk(34, 63)
	disk[512+72] = 3
	if _, err := readPartitions(bytes.NewReader(disk), int64(len(disk))); err == nil {
		t.Error("GPT with a bad header checksum accepted")
	}
}

func FuzzReadPartitions(f *testing.F) {
	f.Add(gptDisk(34, 63))
	f.Add(mbrDisk(8, 16))
	ext := mbrDisk(8, 40)
	ext[446+4] = 0x05
	f.Add(ext)
	f.Fuzz(func(t *testing.T, disk []byte) {
		parts, err := readPartitions(bytes.NewReader(disk), int64(len(disk)))
		if err != nil {
			return
		}
		for _, p := range parts {
			if p.Offset <= 0 || p.Size <= 0 || p.Offset+p.Size > int64(len(disk)) {
				t.Fatalf("partition %+v outside a disk of %d bytes", p, len(disk))
			}
		}
	})
}

const sampleMountInfo = `22 1 254:0 / / rw,relatime shared:1 - ext4 /dev/vda rw
41 22 0:38 / /tmp/a\040b/export.raw rw,nosuid - fuse /dev/fuse rw,user_id=0
42 41 7:0 / /tmp/a\040b/root rw,nosuid,nodev,noexec - ext4 /dev/loop0 rw
`

func TestParseMountInfo(t *testing.T) {
	ms := parseMountInfo([]byte(sampleMountInfo))
	if len(ms) != 3 || ms[1].MountPoint != "/tmp/a b/export.raw" || ms[1].FSType != "fuse" || ms[2].Source != "/dev/loop0" || ms[2].Parent != 41 {
		t.Errorf("parsed %+v", ms)
	}
}

func FuzzParseMountInfo(f *testing.F) {
	f.Add([]byte(sampleMountInfo))
	f.Add([]byte(`1 2 3 4 \\134\0 x - y`))
	f.Fuzz(func(t *testing.T, b []byte) {
		for _, m := range parseMountInfo(b) {
			if strings.Contains(m.FSType, " ") {
				t.Fatalf("field with a space: %+v", m)
			}
		}
	})
}

func TestParseProcStat(t *testing.T) {
	st, err := parseProcStat([]byte("123 (a b) c)) S 1 123 123 0 -1 4194560 1 0 0 0 0 0 0 0 20 0 1 0 98765 1000 10 18446744073709551615"))
	if err != nil || st.state != 'S' || st.start != 98765 {
		t.Errorf("got %+v, %v", st, err)
	}
}

func FuzzParseProcStat(f *testing.F) {
	f.Add([]byte("1 (init) S 0 1 1 0 -1 4194560 1 0 0 0 0 0 0 0 20 0 1 0 42 1000 10 0"))
	f.Fuzz(func(t *testing.T, b []byte) {
		parseProcStat(b)
	})
}

func TestParseSessionName(t *testing.T) {
	for name, want := range map[string]bool{
		"guestinject-mount-12-345-abc": true,
		"guestinject-mount-12-345-":    false,
		"guestinject-mount-012-345-x":  false,
		"guestinject-mount--1-345-x":   false,
		"other-12-345-x":               false,
	} {
		if _, _, ok := parseSessionName(name); ok != want {
			t.Errorf("parseSessionName(%q) ok=%v, want %v", name, ok, want)
		}
	}
}

func FuzzParseSessionName(f *testing.F) {
	f.Add("guestinject-mount-12-345-abc")
	f.Fuzz(func(t *testing.T, name string) {
		pid, _, ok := parseSessionName(name)
		if ok && pid <= 0 {
			t.Fatalf("%q: pid %d accepted", name, pid)
		}
	})
}
