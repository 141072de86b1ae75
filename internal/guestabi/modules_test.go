package guestabi

import (
	"slices"
	"strings"
	"testing"
)

func TestParseModuleListRejects(t *testing.T) {
	for _, bad := range []string{
		"core\n",
		"core /etc/passwd\n",
		"core /lib/modules/../../etc/shadow\n",
		"core /lib/modules/a.ko extra\n",
		"core /lib/modules/a.ko\rx\n",
		" /lib/modules/a.ko\n",
		strings.Repeat("x", maxModuleList+1),
	} {
		if mods, err := ParseModuleList([]byte(bad)); err == nil {
			t.Errorf("ParseModuleList(%.40q) = %v, want an error", bad, mods)
		}
	}
	mods, err := ParseModuleList([]byte("core /lib/modules/virtio.ko\n\nxfs /lib/modules/xfs.ko.zst\n"))
	if err != nil || len(mods) != 2 || mods[1] != (Module{Group: "xfs", Path: "/lib/modules/xfs.ko.zst"}) {
		t.Errorf("ParseModuleList = %v, %v", mods, err)
	}
}

func TestModuleListRoundTrip(t *testing.T) {
	mods := []Module{
		{CoreGroup, "/lib/modules/6.1.0/kernel/drivers/virtio/virtio_pci.ko.xz"},
		{DMGroup, "/lib/modules/6.1.0/kernel/drivers/md/dm-mod.ko"},
		{"btrfs", "/lib/modules/6.1.0/kernel/fs/btrfs/btrfs.ko.zst"},
	}
	got, err := ParseModuleList(FormatModuleList(mods))
	if err != nil || !slices.Equal(got, mods) {
		t.Errorf("round trip = %v, %v; want %v", got, err, mods)
	}
	if got, err := ParseModuleList(FormatModuleList(nil)); err != nil || len(got) != 0 {
		t.Errorf("empty list = %v, %v", got, err)
	}
}

func FuzzParseModuleList(f *testing.F) {
	f.Add([]byte("core /lib/modules/virtio.ko\nxfs /lib/modules/xfs.ko\n"))
	f.Add([]byte("core /lib/modules/a.ko\r\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		mods, err := ParseModuleList(data)
		if err != nil {
			return
		}
		for _, m := range mods {
			if !strings.HasPrefix(m.Path, "/lib/modules/") || strings.Contains(m.Path, "/..") || m.Group == "" {
				t.Fatalf("accepted %+v", m)
			}
		}
		again, err := ParseModuleList(FormatModuleList(mods))
		if err != nil || !slices.Equal(again, mods) {
			t.Fatalf("round trip: %v, %v", again, err)
		}
	})
}
