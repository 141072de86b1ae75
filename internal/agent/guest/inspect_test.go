package guest_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/guestinject/guestinject/internal/agent/guest"
	"github.com/guestinject/guestinject/internal/blkid"
	"github.com/guestinject/guestinject/internal/guestabi"
	"github.com/guestinject/guestinject/internal/guestetc"
)

// vols is a guest of two disks: disk 0 GPT with an EFI partition, a
// root, /home and swap; disk 1 a whole-disk xfs; and an LVM volume.
var vols = []guest.Volume{
	{Device: "/dev/vda1", Disk: 0, Partition: 1, PartUUID: "aaaaaaaa-0000-0000-0000-000000000001", PartLabel: "EFI System",
		Info: blkid.Info{Type: blkid.VFAT, UUID: "ABCD-1234", Label: "EFI"}},
	{Device: "/dev/vda2", Disk: 0, Partition: 2, PartUUID: "aaaaaaaa-0000-0000-0000-000000000002", PartLabel: "root",
		Info: blkid.Info{Type: blkid.Ext4, UUID: "11111111-2222-3333-4444-555555555555", Label: "root"}},
	{Device: "/dev/vda3", Disk: 0, Partition: 3, PartUUID: "aaaaaaaa-0000-0000-0000-000000000003", PartLabel: "home",
		Info: blkid.Info{Type: blkid.Ext4, UUID: "66666666-2222-3333-4444-555555555555", Label: "home"}},
	{Device: "/dev/vda4", Disk: 0, Partition: 4, Info: blkid.Info{Type: blkid.Swap}},
	{Device: "/dev/vdb", Disk: 1, ReadOnly: true, Info: blkid.Info{Type: blkid.XFS, UUID: "77777777-2222-3333-4444-555555555555", Label: "srv"}},
	{Device: "/dev/mapper/my--vg-data", Disk: 0, LV: "my-vg/data", Info: blkid.Info{Type: blkid.Ext4, Label: "data"}},
	{Device: "/dev/vdc", Disk: 2, Err: blkid.ErrUnknown},
}

func TestParseFstab(t *testing.T) {
	data := "# comment\n\n" +
		"UUID=1111 / ext4 defaults,errors=remount-ro 0 1\n" +
		"LABEL=My\\040Data /srv/my\\040data ext4 rw,nofail 0 2\n" +
		"  /dev/vdb\t/srv   xfs\n" +
		"only-two fields\n" +
		"/dev/vdc /bad\\08 ext4 defaults\n" +
		"/dev/vdc /bad\\400 ext4 defaults\n" +
		"/dev/vdc /ctl\\001 ext4 defaults\n" +
		"a b c d e f g\n"
	entries, skips := guest.ParseFstab([]byte(data))
	want := []guest.FstabEntry{
		{Line: 3, Source: "UUID=1111", Target: "/", Type: "ext4", Options: []string{"defaults", "errors=remount-ro"}},
		{Line: 4, Source: "LABEL=My Data", Target: "/srv/my data", Type: "ext4", Options: []string{"rw", "nofail"}},
		{Line: 5, Source: "/dev/vdb", Target: "/srv", Type: "xfs", Options: []string{"defaults"}},
	}
	if diff := cmp.Diff(want, entries); diff != "" {
		t.Errorf("entries (-want +got):\n%s", diff)
	}
	var lines []int
	for _, s := range skips {
		lines = append(lines, s.Line)
		if s.Reason == "" {
			t.Errorf("skip of line %d without a reason", s.Line)
		}
	}
	if diff := cmp.Diff([]int{6, 7, 8, 9, 10}, lines); diff != "" {
		t.Errorf("skipped lines (-want +got):\n%s", diff)
	}
}

func TestParseFstabBounds(t *testing.T) {
	big := strings.Repeat("/dev/vda1 /a ext4 defaults 0 0\n", guest.MaxFstabEntries+10)
	entries, skips := guest.ParseFstab([]byte(big))
	if len(entries) != guest.MaxFstabEntries || len(skips) != 1 {
		t.Errorf("got %d entries and %d skips, want %d and 1", len(entries), len(skips), guest.MaxFstabEntries)
	}
	huge := append([]byte("/dev/vda1 /a ext4\n"), make([]byte, guest.MaxFstabSize)...)
	if _, skips := guest.ParseFstab(huge); len(skips) == 0 || !strings.Contains(skips[0].Reason, "larger") {
		t.Errorf("oversized fstab: skips %+v", skips)
	}
}

func FuzzParseFstab(f *testing.F) {
	f.Add([]byte("UUID=1 / ext4 defaults 0 1\nLABEL=a\\040b /x vfat ro\n"))
	f.Add([]byte("/dev/sda1 /\\134 auto\n#c\n\\"))
	f.Fuzz(func(t *testing.T, data []byte) {
		entries, _ := guest.ParseFstab(data)
		if len(entries) > guest.MaxFstabEntries {
			t.Fatalf("%d entries", len(entries))
		}
		for _, e := range entries {
			for _, s := range []string{e.Source, e.Target, e.Type} {
				if s == "" || strings.ContainsFunc(s, func(r rune) bool { return r < 0x20 || r == 0x7f }) {
					t.Fatalf("bad field %q in %+v", s, e)
				}
			}
		}
	})
}

func TestResolveSource(t *testing.T) {
	for src, want := range map[string]string{
		"UUID=66666666-2222-3333-4444-555555555555":     "/dev/vda3",
		"UUID=\"66666666-2222-3333-4444-555555555555\"": "/dev/vda3",
		"UUID=66666666-2222-3333-4444-555555555555 ":    "",
		"LABEL=srv": "/dev/vdb",
		"PARTUUID=AAAAAAAA-0000-0000-0000-000000000003":              "/dev/vda3",
		"PARTLABEL=EFI System":                                       "/dev/vda1",
		"/dev/disk/by-uuid/77777777-2222-3333-4444-555555555555":     "/dev/vdb",
		"/dev/disk/by-label/home":                                    "/dev/vda3",
		"/dev/disk/by-partlabel/EFI\\x20System":                      "/dev/vda1",
		"/dev/disk/by-partuuid/aaaaaaaa-0000-0000-0000-000000000002": "/dev/vda2",
		"/dev/sda3":               "/dev/vda3",
		"/dev/vda3":               "/dev/vda3",
		"/dev/xvdb":               "/dev/vdb",
		"/dev/hdb1":               "",
		"/dev/sda03":              "",
		"/dev/mapper/my--vg-data": "/dev/mapper/my--vg-data",
		"/dev/my-vg/data":         "/dev/mapper/my--vg-data",
		"/dev/nvme0n1p1":          "/dev/vda1",
		"/dev/nvme0n1p3":          "/dev/vda3",
		"/dev/nvme1n1":            "/dev/vdb",
		"/dev/nvme1n1p1":          "",
		"/dev/nvme0n2p1":          "",
		"/dev/nvme0n1p":           "",
		"/dev/nvme0n1p01":         "",
		"/dev/nvme01n1p1":         "",
		"/dev/nvme0n1p+1":         "",
		"/dev/nvme0":              "",
		"/dev/nvmen1p1":           "",
		"/dev/nvme0n1p1p2":        "",
		"UUID=00000000-0000-0000-0000-000000000000": "",
		"tmpfs":                         "",
		"LABEL=":                        "",
		"/dev/disk/by-label/../../vda2": "",
	} {
		v, err := guest.ResolveSource(src, vols)
		if want == "" {
			if err == nil {
				t.Errorf("%q resolved to %s", src, v.Device)
			}
			continue
		}
		if err != nil || v.Device != want {
			t.Errorf("%q = %s, %v; want %s", src, v.Device, err, want)
		}
	}
}

func TestPlanMounts(t *testing.T) {
	root := vols[1]
	fstab := "UUID=11111111-2222-3333-4444-555555555555 / ext4 defaults 0 1\n" + // 1 root
		"LABEL=home /home/user/../ ext4 defaults 0 2\n" + // 2 mounted at /home
		"/dev/vda4 none swap sw 0 0\n" + // 3 swap
		"/dev/vdb /srv auto ro\n" + // 4 mounted, read-only disk
		"/dev/vdb /srv2 xfs defaults\n" + // 5 volume used
		"/dev/vda2 /again ext4 defaults\n" + // 6 root again
		"UUID=deadbeef /gone ext4 defaults\n" + // 7 no such volume
		"proc /proc proc defaults\n" + // 8 pseudo
		"/srv /mnt none bind\n" + // 9 bind
		"/dev/mapper/my--vg-data /home/data xfs defaults\n" + // 10 type disagrees
		"/dev/mapper/my--vg-data /data ext4 noauto\n" + // 11 noauto
		"/dev/mapper/my--vg-data /home/data/deeper/x ext4 defaults\n" + // 12 mounted after /home
		"PARTLABEL=EFI\\040System relative vfat defaults\n" + // 13 relative mount point
		"PARTLABEL=EFI\\040System /boot/efi vfat umask=077\n" // 14 mounted
	entries, _ := guest.ParseFstab([]byte(fstab))
	plan := guest.PlanMounts(root, "", entries, vols)
	type outcome struct {
		Line   int
		Target string
		Device string
		RO     bool
	}
	var mounted []outcome
	notes := map[int]string{}
	for _, i := range guest.MountOrder(plan) {
		m := plan[i]
		mounted = append(mounted, outcome{m.Entry.Line, m.Target, m.Device, m.ReadOnly})
	}
	for _, m := range plan {
		if !m.Mount {
			notes[m.Entry.Line] = m.Note
		}
	}
	want := []outcome{
		{2, "/home", "/dev/vda3", false},
		{4, "/srv", "/dev/vdb", true},
		{14, "/boot/efi", "/dev/vda1", false},
		{12, "/home/data/deeper/x", "/dev/mapper/my--vg-data", false},
	}
	if diff := cmp.Diff(want, mounted); diff != "" {
		t.Errorf("mounts in order (-want +got):\n%s", diff)
	}
	for line, words := range map[int]string{
		1: "root", 3: "swap", 5: "already mounted by line 4", 6: "root", 7: "no such volume", 8: "pseudo",
		9: "bind", 10: "superblock", 11: "noauto", 13: "absolute",
	} {
		if !strings.Contains(notes[line], words) {
			t.Errorf("line %d: note %q, want it to say %q", line, notes[line], words)
		}
	}
	if len(notes) != 10 {
		t.Errorf("notes %v", notes)
	}
}

func TestParseSubvol(t *testing.T) {
	for opts, want := range map[string]string{
		"defaults":                          "",
		"defaults,subvol=@":                 "subvol=@",
		"subvol=/@home,compress=zstd":       "subvol=@home",
		"subvol=@/.snapshots/1/snapshot":    "subvol=@/.snapshots/1/snapshot",
		"subvol=root":                       "subvol=root",
		"subvolid=257":                      "subvolid=257",
		"subvolid=5":                        "subvolid=5",
		"noatime,subvol=home_1.2+x:y=z-@,x": "subvol=home_1.2+x:y=z-@",
	} {
		got, err := guest.ParseSubvol(strings.Split(opts, ","))
		if err != nil || got != want {
			t.Errorf("ParseSubvol(%s) = %q, %v; want %q", opts, got, err, want)
		}
	}
	for _, bad := range []string{
		"subvol=", "subvol=/", "subvol=//@", "subvol=@//home", "subvol=@/", "subvol=..", "subvol=@/../x", "subvol=./@",
		"subvol=a b", "subvol=@\\x", "subvol=caf\u00e9", "subvol=" + strings.Repeat("a", 256),
		"subvolid=", "subvolid=0", "subvolid=6", "subvolid=255", "subvolid=0257", "subvolid=+257", "subvolid=-1",
		"subvolid=999999999999999999999", "subvolid=281474976710657",
		"subvol=@,subvolid=257", "subvol=@,subvol=@home",
	} {
		if got, err := guest.ParseSubvol(strings.Split(bad, ",")); err == nil {
			t.Errorf("ParseSubvol(%s) = %q, want an error", bad, got)
		}
	}
}

// On btrfs, the root's own subvolume is not mounted again, other
// subvolumes of the same filesystem are, each once; subvol= on anything
// else is refused.
func TestPlanMountsBtrfsSubvolumes(t *testing.T) {
	vols := []guest.Volume{
		{Device: "/dev/vda1", Disk: 0, Partition: 1, Info: blkid.Info{Type: blkid.VFAT, UUID: "ABCD-1234"}},
		{Device: "/dev/vda2", Disk: 0, Partition: 2, Info: blkid.Info{Type: blkid.Btrfs, UUID: "11111111-2222-3333-4444-555555555555"}},
		{Device: "/dev/vda3", Disk: 0, Partition: 3, Info: blkid.Info{Type: blkid.Ext4, Label: "data"}},
	}
	fstab := "UUID=11111111-2222-3333-4444-555555555555 / btrfs defaults,subvol=@ 0 0\n" + // 1 root
		"UUID=11111111-2222-3333-4444-555555555555 /home btrfs defaults,subvol=@home 0 0\n" + // 2 mounted
		"UUID=11111111-2222-3333-4444-555555555555 /var/log btrfs subvol=/@log,compress=zstd 0 0\n" + // 3 mounted
		"UUID=11111111-2222-3333-4444-555555555555 /again btrfs subvol=@ 0 0\n" + // 4 the root again
		"UUID=11111111-2222-3333-4444-555555555555 /home2 btrfs subvol=/@home 0 0\n" + // 5 mounted by 2
		"UUID=11111111-2222-3333-4444-555555555555 /top btrfs subvolid=5 0 0\n" + // 6 mounted
		"UUID=11111111-2222-3333-4444-555555555555 /evil btrfs subvol=@/../../x 0 0\n" + // 7 bad
		"LABEL=data /data ext4 subvol=@data 0 0\n" + // 8 not btrfs
		"UUID=ABCD-1234 /boot/efi vfat umask=0077 0 1\n" // 9 mounted
	entries, _ := guest.ParseFstab([]byte(fstab))
	plan := guest.PlanMounts(vols[1], "@", entries, vols)
	mounted := map[int]string{}
	notes := map[int]string{}
	for _, m := range plan {
		if m.Mount {
			mounted[m.Entry.Line] = m.Target + " " + m.Subvol
		} else {
			notes[m.Entry.Line] = m.Note
		}
	}
	if diff := cmp.Diff(map[int]string{2: "/home subvol=@home", 3: "/var/log subvol=@log", 6: "/top subvolid=5", 9: "/boot/efi "}, mounted); diff != "" {
		t.Errorf("mounted (-want +got):\n%s", diff)
	}
	for line, words := range map[int]string{1: "root", 4: "root", 5: "already mounted by line 2", 7: "component ..", 8: "btrfs option"} {
		if !strings.Contains(notes[line], words) {
			t.Errorf("line %d: note %q, want it to say %q", line, notes[line], words)
		}
	}
}

func TestChooseRootByContent(t *testing.T) {
	two := []guest.Volume{vols[1], vols[2]}
	content := map[string]guest.Candidate{
		"/dev/vda2": {OS: guestetc.OSRelease{"PRETTY_NAME": "Debian GNU/Linux 12"}, HasFstab: true},
		"/dev/vda3": {},
	}
	look := func(v guest.Volume) guest.Candidate {
		c := content[v.Device]
		c.Volume = v
		return c
	}
	root, looked, err := guest.ChooseRoot(two, nil, look)
	if err != nil || root.Device != "/dev/vda2" || len(looked) != 2 {
		t.Fatalf("ChooseRoot = %s, %d looked, %v; want /dev/vda2", root.Device, len(looked), err)
	}

	content["/dev/vda3"] = guest.Candidate{HasFstab: true}
	_, _, err = guest.ChooseRoot(two, nil, look)
	var re *guest.RootError
	if !errors.As(err, &re) || !errors.Is(err, guestabi.ErrAmbiguousRoot) || len(re.Candidates) != 2 ||
		!strings.Contains(err.Error(), `"Debian GNU/Linux 12"`) || !strings.Contains(err.Error(), "/dev/vda3") {
		t.Fatalf("two roots: %v", err)
	}

	for _, tc := range []struct {
		name guestabi.RootName
		want string
		err  error
	}{
		{guestabi.RootName{Kind: guestabi.RootByLabel, Value: "home"}, "/dev/vda3", nil},
		{guestabi.RootName{Kind: guestabi.RootByUUID, Value: "11111111-2222-3333-4444-555555555555"}, "/dev/vda2", nil},
		{guestabi.RootName{Kind: guestabi.RootByPartition, Disk: 1}, "/dev/vdb", nil},
		{guestabi.RootName{Kind: guestabi.RootByLV, Value: "my-vg/data"}, "/dev/mapper/my--vg-data", nil},
		{guestabi.RootName{Kind: guestabi.RootByPartition, Disk: 0, Partition: 4}, "", guestabi.ErrRootNotFound},
		{guestabi.RootName{Kind: guestabi.RootByPartition, Disk: 2}, "", guestabi.ErrRootNotFound},
		{guestabi.RootName{Kind: guestabi.RootByLabel, Value: "nope"}, "", guestabi.ErrRootNotFound},
	} {
		root, _, err := guest.ChooseRoot(vols, &tc.name, func(guest.Volume) guest.Candidate {
			t.Fatal("a named root was looked for by content")
			return guest.Candidate{}
		})
		if tc.err != nil {
			if !errors.Is(err, tc.err) || !strings.Contains(err.Error(), "/dev/vda1") {
				t.Errorf("%s: %v, want %v listing the volumes", tc.name, err, tc.err)
			}
			continue
		}
		if err != nil || root.Device != tc.want {
			t.Errorf("%s: %s, %v; want %s", tc.name, root.Device, err, tc.want)
		}
	}
}
