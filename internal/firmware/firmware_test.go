package firmware

import (
	"os"
	"path/filepath"
	"testing"
)

func TestPath(t *testing.T) {
	dir := t.TempDir()
	rom := filepath.Join(dir, "qboot.rom")
	if err := os.WriteFile(rom, []byte("rom"), 0o644); err != nil {
		t.Fatal(err)
	}
	old := qbootPaths
	t.Cleanup(func() { qbootPaths = old })
	qbootPaths = []string{filepath.Join(dir, "missing.rom"), dir, rom}
	for setting, want := range map[string]string{"": rom, "default": "", "/x/bios.bin": "/x/bios.bin"} {
		if got := Path(setting); got != want {
			t.Errorf("Path(%q) = %q, want %q", setting, got, want)
		}
	}
	qbootPaths = []string{filepath.Join(dir, "missing.rom"), dir}
	if got := Path(""); got != "" {
		t.Errorf("Path(\"\") without qboot = %q, want the hypervisor's default", got)
	}
}
