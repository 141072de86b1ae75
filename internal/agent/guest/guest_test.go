package guest_test

import (
	"encoding/binary"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/guestinject/guestinject/internal/agent/guest"
	"github.com/guestinject/guestinject/internal/blkid"
	"github.com/guestinject/guestinject/internal/guestabi"
)

// fakeVolume returns the first bytes of a volume holding kind.
func fakeVolume(kind blkid.Type) []byte {
	b := make([]byte, 8192)
	switch kind {
	case blkid.Ext4:
		binary.LittleEndian.PutUint16(b[1024+0x38:], 0xEF53)
		binary.LittleEndian.PutUint32(b[1024+0x60:], 0x40) // extents
	case blkid.XFS:
		copy(b, "XFSB\x00\x00\x10\x00")
	case blkid.VFAT:
		binary.LittleEndian.PutUint16(b[11:], 512)
		b[13], b[16], b[510], b[511] = 8, 2, 0x55, 0xAA
		copy(b[82:], "FAT32   ")
	}
	return b
}

// fakeMachine lays out sysfs and /dev for disks: name -> serial and
// partitions (number -> content); a disk without partitions has content
// under partition 0.
type fakeDisk struct {
	name, serial string
	parts        map[int]blkid.Type
}

func fakeMachine(t *testing.T, disks ...fakeDisk) (sysBlock, dev string) {
	t.Helper()
	root := t.TempDir()
	sysBlock, dev = filepath.Join(root, "sys/block"), filepath.Join(root, "dev")
	write := func(p string, b []byte) {
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	for _, d := range disks {
		if d.serial != "" {
			write(filepath.Join(sysBlock, d.name, "serial"), []byte(d.serial+"\n"))
		} else {
			write(filepath.Join(sysBlock, d.name, "size"), []byte("1\n"))
		}
		write(filepath.Join(sysBlock, d.name, "queue", "rotational"), []byte("0\n"))
		for n, kind := range d.parts {
			if n == 0 {
				write(filepath.Join(dev, d.name), fakeVolume(kind))
				continue
			}
			part := d.name + itoa(n)
			write(filepath.Join(sysBlock, d.name, part, "partition"), []byte(itoa(n)+"\n"))
			write(filepath.Join(dev, part), fakeVolume(kind))
		}
	}
	return sysBlock, dev
}

func itoa(n int) string { return string(rune('0' + n)) }

func TestChooseRoot(t *testing.T) {
	for _, tc := range []struct {
		name    string
		disks   []fakeDisk
		want    string // device base name, or the error
		wantErr error
		ro      bool
	}{
		{"whole disk", []fakeDisk{{"vda", "gi-rw-0", map[int]blkid.Type{0: blkid.Ext4}}}, "vda", nil, false},
		{"gpt with efi", []fakeDisk{{"vda", "gi-rw-0", map[int]blkid.Type{1: blkid.VFAT, 2: "", 3: blkid.Ext4}}}, "vda3", nil, false},
		{"read-only disk", []fakeDisk{{"vda", "gi-ro-0", map[int]blkid.Type{0: blkid.XFS}}}, "vda", nil, true},
		{"unrelated disk ignored", []fakeDisk{
			{"vda", "gi-rw-0", map[int]blkid.Type{1: blkid.XFS}},
			{"vdb", "", map[int]blkid.Type{0: blkid.Ext4}},
		}, "vda1", nil, false},
		{"nothing", []fakeDisk{{"vda", "gi-rw-0", map[int]blkid.Type{0: ""}}}, "", guestabi.ErrNoRoot, false},
		{"ambiguous", []fakeDisk{
			{"vda", "gi-rw-0", map[int]blkid.Type{1: blkid.Ext4}},
			{"vdb", "gi-rw-1", map[int]blkid.Type{0: blkid.XFS}},
		}, "", guestabi.ErrAmbiguousRoot, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			sysBlock, dev := fakeMachine(t, tc.disks...)
			vols, err := guest.ScanVolumes(sysBlock, dev)
			if err != nil {
				t.Fatal(err)
			}
			// Bare filesystems: nothing in them tells roots apart.
			bare := func(v guest.Volume) guest.Candidate { return guest.Candidate{Volume: v} }
			root, _, err := guest.ChooseRoot(vols, nil, bare)
			if tc.wantErr != nil {
				if !errors.Is(err, tc.wantErr) {
					t.Fatalf("ChooseRoot = %v, %v; want %v", root, err, tc.wantErr)
				}
				if !strings.Contains(err.Error(), "/dev/vda") {
					t.Errorf("error does not list the volumes: %v", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if filepath.Base(root.Device) != tc.want || root.ReadOnly != tc.ro {
				t.Errorf("root = %+v, want %s read-only=%v", root, tc.want, tc.ro)
			}
		})
	}
}

func TestDiskSerialRoundTrip(t *testing.T) {
	sysBlock, dev := fakeMachine(t,
		fakeDisk{"vda", guestabi.DiskSerial(3, true), map[int]blkid.Type{0: blkid.Ext4}},
		fakeDisk{"vdb", guestabi.DiskSerial(1, false), map[int]blkid.Type{0: blkid.VFAT}},
		fakeDisk{"vdc", "gi-rw-x", map[int]blkid.Type{0: blkid.XFS}},
	)
	vols, err := guest.ScanVolumes(sysBlock, dev)
	if err != nil {
		t.Fatal(err)
	}
	if len(vols) != 2 || vols[0].Disk != 1 || vols[0].ReadOnly || vols[1].Disk != 3 || !vols[1].ReadOnly {
		t.Errorf("volumes = %+v", vols)
	}
}

func TestFindPort(t *testing.T) {
	class := t.TempDir()
	for dir, name := range map[string]string{"vport0p1": "org.qemu.guest_agent.0", "vport0p2": guestabi.PortName} {
		if err := os.MkdirAll(filepath.Join(class, dir), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(class, dir, "name"), []byte(name+"\n"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if got := guest.FindPort(class, "/dev", guestabi.PortName); got != "/dev/vport0p2" {
		t.Errorf("FindPort = %q", got)
	}
	if got := guest.FindPort(class, "/dev", "org.example.none"); got != "" {
		t.Errorf("FindPort(missing) = %q", got)
	}
}

func TestHotplugDisksReady(t *testing.T) {
	bound := func(t *testing.T, sysBlock string, names ...string) {
		for _, n := range names {
			if err := os.MkdirAll(filepath.Join(sysBlock, n, "device", "driver"), 0o755); err != nil {
				t.Fatal(err)
			}
		}
	}
	ext4 := map[int]blkid.Type{0: blkid.Ext4}
	for _, tc := range []struct {
		name  string
		disks []fakeDisk
		bound []string
		ready bool
	}{
		{"none", nil, nil, false},
		{"one of one", []fakeDisk{{"vda", guestabi.HotplugDiskSerial(0, 1, false), ext4}}, []string{"vda"}, true},
		{"driver not done", []fakeDisk{{"vda", guestabi.HotplugDiskSerial(0, 1, false), ext4}}, nil, false},
		{"one of two", []fakeDisk{{"vda", guestabi.HotplugDiskSerial(1, 2, true), ext4}}, []string{"vda"}, false},
		{"two of two, in any order", []fakeDisk{
			{"vda", guestabi.HotplugDiskSerial(1, 2, true), ext4}, {"vdb", guestabi.HotplugDiskSerial(0, 2, false), ext4},
		}, []string{"vda", "vdb"}, true},
		{"second not bound", []fakeDisk{
			{"vda", guestabi.HotplugDiskSerial(0, 2, false), ext4}, {"vdb", guestabi.HotplugDiskSerial(1, 2, false), ext4},
		}, []string{"vda"}, false},
		{"an index twice", []fakeDisk{
			{"vda", guestabi.HotplugDiskSerial(0, 2, false), ext4}, {"vdb", guestabi.HotplugDiskSerial(0, 2, false), ext4},
		}, []string{"vda", "vdb"}, false},
		{"counts disagree", []fakeDisk{
			{"vda", guestabi.HotplugDiskSerial(0, 2, false), ext4}, {"vdb", guestabi.HotplugDiskSerial(1, 3, false), ext4},
		}, []string{"vda", "vdb"}, false},
		{"boot-time serial only", []fakeDisk{{"vda", guestabi.DiskSerial(0, false), ext4}}, []string{"vda"}, false},
		{"foreign disk ignored", []fakeDisk{
			{"vda", "QM0001", ext4}, {"vdb", guestabi.HotplugDiskSerial(0, 1, false), ext4},
		}, []string{"vda", "vdb"}, true},
		// The payload disk is there from the boot and never counts.
		{"payload alone", []fakeDisk{{"vda", guestabi.PayloadSerial, nil}}, []string{"vda"}, false},
		{"payload and one of one", []fakeDisk{
			{"vda", guestabi.PayloadSerial, nil}, {"vdb", guestabi.HotplugDiskSerial(0, 1, false), ext4},
		}, []string{"vda", "vdb"}, true},
		{"payload and one of two", []fakeDisk{
			{"vda", guestabi.PayloadSerial, nil}, {"vdb", guestabi.HotplugDiskSerial(1, 2, false), ext4},
		}, []string{"vda", "vdb"}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			sysBlock, _ := fakeMachine(t, tc.disks...)
			bound(t, sysBlock, tc.bound...)
			if got := guest.HotplugDisksReady(sysBlock); got != tc.ready {
				t.Errorf("HotplugDisksReady = %v, want %v", got, tc.ready)
			}
		})
	}
}

func TestWaitHotplugDisks(t *testing.T) {
	sysBlock, _ := fakeMachine(t, fakeDisk{"vda", guestabi.HotplugDiskSerial(0, 1, false), map[int]blkid.Type{0: blkid.Ext4}})
	start := time.Now()
	if err := guest.WaitHotplugDisks(sysBlock, 50*time.Millisecond); err == nil {
		t.Fatal("a disk whose driver is not bound was taken as ready")
	}
	if d := time.Since(start); d > 3*time.Second {
		t.Errorf("a 50ms wait took %v", d)
	}
	go func() {
		time.Sleep(20 * time.Millisecond)
		os.MkdirAll(filepath.Join(sysBlock, "vda", "device", "driver"), 0o755)
	}()
	if err := guest.WaitHotplugDisks(sysBlock, 10*time.Second); err != nil {
		t.Fatal(err)
	}
}
