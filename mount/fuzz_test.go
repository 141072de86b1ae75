package mount

import (
	"strings"
	"testing"
)

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
