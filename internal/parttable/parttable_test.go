package parttable

import (
	"bytes"
	"encoding/binary"
	"hash/crc32"
	"testing"
	"unicode/utf16"
)

// gptDisk builds a minimal GPT disk image in memory with one partition
// whose unique GUID is 01020304-0506-0708-090a-0b0c0d0e0f10 and whose name
// is "home".
func gptDisk(first, last uint64) []byte {
	disk := make([]byte, 64*512)
	disk[446+4] = 0xEE
	disk[510], disk[511] = 0x55, 0xAA
	le := binary.LittleEndian
	entries := disk[2*512 : 2*512+128*4]
	copy(entries[0:16], "linux-type-guid!")
	copy(entries[16:32], []byte{4, 3, 2, 1, 6, 5, 8, 7, 9, 10, 11, 12, 13, 14, 15, 16})
	le.PutUint64(entries[32:], first)
	le.PutUint64(entries[40:], last)
	for i, u := range utf16.Encode([]rune("home")) {
		le.PutUint16(entries[56+2*i:], u)
	}
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
	binary.LittleEndian.PutUint32(disk[440:], 0xdeadbeef)
	disk[446+4] = 0x83
	binary.LittleEndian.PutUint32(disk[446+8:], start)
	binary.LittleEndian.PutUint32(disk[446+12:], count)
	disk[510], disk[511] = 0x55, 0xAA
	return disk
}

func TestRead(t *testing.T) {
	for _, tc := range []struct {
		name string
		disk []byte
		kind string
		want []Partition
		bad  bool
	}{
		{"gpt", gptDisk(34, 63), "gpt", []Partition{{Number: 1, Offset: 34 * 512, Size: 30 * 512,
			UUID: "01020304-0506-0708-090a-0b0c0d0e0f10", Name: "home"}}, false},
		{"gpt past the end", gptDisk(34, 64), "gpt", nil, true},
		{"mbr", mbrDisk(8, 16), "mbr", []Partition{{Number: 1, Offset: 8 * 512, Size: 16 * 512, UUID: "deadbeef-01"}}, false},
		{"mbr past the end", mbrDisk(8, 64), "mbr", nil, true},
		{"no table", make([]byte, 4096), "", nil, false},
	} {
		got, err := Read(bytes.NewReader(tc.disk), int64(len(tc.disk)))
		if (err != nil) != tc.bad || got.Kind != tc.kind || len(got.Partitions) != len(tc.want) ||
			(len(got.Partitions) == 1 && got.Partitions[0] != tc.want[0]) {
			t.Errorf("%s: got %+v, %v; want %s %+v (error %v)", tc.name, got, err, tc.kind, tc.want, tc.bad)
		}
	}
	// A corrupted header checksum is refused, not trusted.
	disk := gptDisk(34, 63)
	disk[512+72] = 3
	if _, err := Read(bytes.NewReader(disk), int64(len(disk))); err == nil {
		t.Error("GPT with a bad header checksum accepted")
	}
}

func TestGPTNameRefusesControlCharacters(t *testing.T) {
	b := make([]byte, 72)
	for i, u := range utf16.Encode([]rune("a\nb")) {
		binary.LittleEndian.PutUint16(b[2*i:], u)
	}
	if got := gptName(b); got != "" {
		t.Errorf("gptName = %q, want \"\"", got)
	}
}

func FuzzRead(f *testing.F) {
	f.Add(gptDisk(34, 63))
	f.Add(mbrDisk(8, 16))
	ext := mbrDisk(8, 40)
	ext[446+4] = 0x05
	f.Add(ext)
	f.Fuzz(func(t *testing.T, disk []byte) {
		table, err := Read(bytes.NewReader(disk), int64(len(disk)))
		if err != nil {
			return
		}
		for _, p := range table.Partitions {
			if p.Offset <= 0 || p.Size <= 0 || p.Offset+p.Size > int64(len(disk)) {
				t.Fatalf("partition %+v outside a disk of %d bytes", p, len(disk))
			}
		}
	})
}
