package guest

import (
	"os"
	"path/filepath"
	"testing"
)

func TestFindNetDevice(t *testing.T) {
	dir := t.TempDir()
	if got := FindNetDevice(dir); got != "" {
		t.Errorf("empty /sys/class/net: %q", got)
	}
	// lo and a virtual device have no "device" link; eth0 has.
	for _, p := range []string{"lo", "dummy0", "eth0/device"} {
		if err := os.MkdirAll(filepath.Join(dir, p), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if got := FindNetDevice(dir); got != "eth0" {
		t.Errorf("FindNetDevice = %q, want eth0", got)
	}
}

func TestPrefixMask(t *testing.T) {
	for bits, want := range map[int][4]byte{0: {}, 8: {255}, 24: {255, 255, 255}, 25: {255, 255, 255, 128}, 32: {255, 255, 255, 255}} {
		if got := prefixMask(bits); [4]byte(got) != want {
			t.Errorf("prefixMask(%d) = %v, want %v", bits, got, want)
		}
	}
}
