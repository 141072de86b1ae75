package vfstest

import "testing"

func TestParseLayoutSizes(t *testing.T) {
	for in, want := range map[string]int64{"0": 0, "4096": 4096, "1G": 1 << 30, "1.5K": 1536, "2MB": 2_000_000, "1TiB": 1 << 40} {
		l, err := ParseLayout("f /big size=" + in)
		if err != nil {
			t.Errorf("size=%s: %v", in, err)
			continue
		}
		if got := l[len(l)-1].Size; got != want {
			t.Errorf("size=%s: %d, want %d", in, got, want)
		}
	}
	for _, bad := range []string{"", "-1", "1.5", "0.1K", "2T", "1X", "9223372036854775808"} {
		if _, err := ParseLayout("f /big size=" + bad); err == nil {
			t.Errorf("size=%q was accepted", bad)
		}
	}
}
