package guest

import (
	"context"
	"errors"
	"fmt"
	"path"
	"strings"
	"testing"

	"github.com/guestinject/guestinject/internal/blkid"
	"github.com/guestinject/guestinject/internal/guestabi"
)

// pvVolumes are the disks of the LVM tests: two PVs on writable disks
// 0 and 1, one on read-only disk 2, and an ext4 partition.
var pvVolumes = []Volume{
	{Device: "/dev/vda1", Disk: 0, Partition: 1, Info: blkid.Info{Type: blkid.Ext4}},
	{Device: "/dev/vda2", Disk: 0, Partition: 2, Info: blkid.Info{Type: blkid.LVM2}},
	{Device: "/dev/vdb", Disk: 1, Info: blkid.Info{Type: blkid.LVM2}},
	{Device: "/dev/vdc", Disk: 2, ReadOnly: true, Info: blkid.Info{Type: blkid.LVM2}},
}

// An lvs report as lvm 2.03 writes it, with a RAID1 volume whose hidden
// images sit on two disks, a two-segment volume and a thin volume.
const lvsReport = `  {
      "report": [
          {
              "lv": [
                  {"vg_name":"data", "lv_name":"mirror", "devices":"mirror_rimage_0(0),mirror_rimage_1(0)"},
                  {"vg_name":"data", "lv_name":"[mirror_rimage_0]", "devices":"/dev/vdb(1)"},
                  {"vg_name":"data", "lv_name":"[mirror_rimage_1]", "devices":"/dev/vdc(1)"},
                  {"vg_name":"data", "lv_name":"[mirror_rmeta_0]", "devices":"/dev/vdb(0)"},
                  {"vg_name":"data", "lv_name":"thin", "devices":""},
                  {"vg_name":"ubuntu-vg", "lv_name":"ubuntu-lv", "devices":"/dev/vda2(0)"},
                  {"vg_name":"ubuntu-vg", "lv_name":"home", "devices":"/dev/vda2(2560)"},
                  {"vg_name":"ubuntu-vg", "lv_name":"home", "devices":"/dev/vdb(100)"}
              ]
          }
      ]
  }
`

func TestLVVolumes(t *testing.T) {
	rows, err := parseLVReport([]byte(lvsReport))
	if err != nil {
		t.Fatal(err)
	}
	got, problems := lvVolumes(rows, pvVolumes)
	if len(problems) != 0 {
		t.Errorf("problems: %v", problems)
	}
	// By disk, then name.
	want := []Volume{
		// A thin volume names no devices: any LVM disk may hold it.
		{Device: "/dev/mapper/data-thin", LV: "data/thin", Disk: 0, ReadOnly: true},
		{Device: "/dev/mapper/ubuntu--vg-home", LV: "ubuntu-vg/home", Disk: 0},
		{Device: "/dev/mapper/ubuntu--vg-ubuntu--lv", LV: "ubuntu-vg/ubuntu-lv", Disk: 0},
		{Device: "/dev/mapper/data-mirror", LV: "data/mirror", Disk: 1, ReadOnly: true},
	}
	if len(got) != len(want) {
		t.Fatalf("volumes:\n%+v\nwant:\n%+v", got, want)
	}
	for i := range want {
		g := got[i]
		if g.Device != want[i].Device || g.LV != want[i].LV || g.Disk != want[i].Disk || g.ReadOnly != want[i].ReadOnly {
			t.Errorf("volume %d = %+v, want %+v", i, g, want[i])
		}
	}
}

func TestLVVolumesRefusesHostileNames(t *testing.T) {
	for _, row := range []lvRow{
		{VG: "..", LV: "root", Devices: "/dev/vda2(0)"},
		{VG: "vg", LV: "../../etc", Devices: "/dev/vda2(0)"},
		{VG: "vg/x", LV: "root", Devices: "/dev/vda2(0)"},
		{VG: "vg", LV: "-root", Devices: "/dev/vda2(0)"},
		{VG: "vg", LV: "ro\not", Devices: "/dev/vda2(0)"},
		{VG: "vg", LV: "[root", Devices: "/dev/vda2(0)"},
		{VG: "", LV: "root", Devices: "/dev/vda2(0)"},
		{VG: "vg", LV: strings.Repeat("a", 128), Devices: "/dev/vda2(0)"},
		{VG: "vg", LV: "räk", Devices: "/dev/vda2(0)"},
	} {
		got, problems := lvVolumes([]lvRow{row}, pvVolumes)
		if len(got) != 0 || len(problems) != 1 {
			t.Errorf("%+v: volumes %+v, problems %v; want it refused", row, got, problems)
		}
	}
	// A device that is no disk of the session, or a sub-volume loop,
	// leaves the placement unknown: read-only, since disk 2 is.
	got, _ := lvVolumes([]lvRow{
		{VG: "vg", LV: "a", Devices: "/etc/passwd(0)"},
		{VG: "vg", LV: "b", Devices: "b(0)"},
	}, pvVolumes)
	for _, v := range got {
		if !v.ReadOnly {
			t.Errorf("%+v: placement unknown, yet writable", v)
		}
	}
}

func TestParseLVReportRejects(t *testing.T) {
	for _, bad := range []string{
		``,
		`{"report":[{"lv":[{"vg_name":"vg","lv_name":"lv","devices":"","lv_path":"/etc"}]}]}`,
		`{"report":[{"lv":[{"vg_name":1}]}]}`,
		`{"report":[{"lv":[]}]} {"report":[]}`,
		`{"report":[{"lv":[` + strings.Repeat(`{},`, maxLVRows) + `{}]}]}`,
		`{"report":[{"lv":[{"vg_name":"` + strings.Repeat("a", lvmMaxOutput) + `"}]}]}`,
	} {
		if rows, err := parseLVReport([]byte(bad)); err == nil {
			t.Errorf("parseLVReport(%.60q) = %d rows, want an error", bad, len(rows))
		}
	}
}

func TestActivateLVMWithoutTools(t *testing.T) {
	vols, err := ActivateLVM(context.Background(), Modules{}, pvVolumes)
	if !errors.Is(err, guestabi.ErrNoLVMTools) || len(vols) != 0 {
		t.Fatalf("ActivateLVM = %v, %v; want ErrNoLVMTools (this test runs outside the appliance)", vols, err)
	}
	if !strings.Contains(err.Error(), "/dev/vda2") || !strings.Contains(err.Error(), "install lvm2") {
		t.Errorf("error does not name the PVs and the remedy: %v", err)
	}
	if vols, err := ActivateLVM(context.Background(), Modules{}, pvVolumes[:1]); vols != nil || err != nil {
		t.Errorf("without PVs: %v, %v; want nothing", vols, err)
	}
}

func TestBoundedBuffer(t *testing.T) {
	b := &boundedBuffer{max: 4}
	for _, s := range []string{"ab", "cde", "f"} {
		if n, err := b.Write([]byte(s)); n != len(s) || err != nil {
			t.Fatalf("Write(%q) = %d, %v", s, n, err)
		}
	}
	if b.String() != "abcd" || !b.overflow {
		t.Errorf("kept %q, overflow %v", b.String(), b.overflow)
	}
}

func FuzzLVReport(f *testing.F) {
	f.Add([]byte(lvsReport))
	f.Add([]byte(`{"report":[{"lv":[{"vg_name":"a-b","lv_name":"[c]","devices":"c(0),/dev/vdb(1)"}]}]}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		rows, err := parseLVReport(data)
		if err != nil {
			return
		}
		vols, _ := lvVolumes(rows, pvVolumes)
		if len(vols) > maxLVs {
			t.Fatalf("%d volumes", len(vols))
		}
		for _, v := range vols {
			vg, lv, ok := strings.Cut(v.LV, "/")
			if !ok || !guestabi.ValidLVMName(vg) || !guestabi.ValidLVMName(lv) {
				t.Fatalf("volume %+v has an invalid name", v)
			}
			if path.Dir(v.Device) != "/dev/mapper" || path.Clean(v.Device) != v.Device {
				t.Fatalf("device %q is not a node in /dev/mapper", v.Device)
			}
			if got, ok := mapperLV(path.Base(v.Device)); !ok || got != v.LV {
				t.Fatalf("device %s reads back as %q, want %s", v.Device, got, v.LV)
			}
			if v.Disk < 0 || v.Disk > 2 {
				t.Fatalf("volume %+v on no disk of the session", v)
			}
		}
	})
}

func TestJoinErrors(t *testing.T) {
	if err := joinErrors(nil, nil); err != nil {
		t.Errorf("joinErrors(nil, nil) = %v", err)
	}
	a, b := errors.New("a"), errors.New("b")
	err := joinErrors(a, nil, b)
	if err == nil || err.Error() != "a; b" || !errors.Is(err, a) || !errors.Is(err, b) {
		t.Errorf("joinErrors(a, nil, b) = %v", err)
	}
}

// An LVM failure reaches the host as an issue with its code and as the
// note of each physical volume; the missing tools have their own code.
func TestInspectionReportsLVMFailure(t *testing.T) {
	vols := []Volume{
		{Device: "/dev/vda1", Disk: 0, Partition: 1, Info: blkid.Info{Type: blkid.LVM2}},
		{Device: "/dev/vda2", Disk: 0, Partition: 2, Info: blkid.Info{Type: blkid.Ext4}},
	}
	for _, tc := range []struct {
		err  error
		code string
		note string
	}{
		{fmt.Errorf("LVM physical volumes /dev/vda1: %w", guestabi.ErrNoLVMTools), guestabi.IssueNoLVMTools, "no LVM tools"},
		{errors.New("LVM physical volumes /dev/vda1: lvm vgchange: exit status 5: bad metadata\x1b"), guestabi.IssueLVMFailed, "bad metadata?"},
	} {
		g := &Guest{Volumes: vols, LVMErr: tc.err, Err: fmt.Errorf("%w; %w", &RootError{Err: guestabi.ErrNoRoot, Volumes: vols}, tc.err)}
		in := g.Inspection()
		if err := in.Check(); err != nil {
			t.Fatalf("%v: inspection refused by the host's check: %v", tc.err, err)
		}
		if len(in.Issues) != 1 || in.Issues[0].Code != tc.code || !strings.Contains(in.Issues[0].Message, "/dev/vda1") {
			t.Errorf("%v: issues %+v, want one %s", tc.err, in.Issues, tc.code)
		}
		if in.Problem != guestabi.ProblemNoRoot || !strings.Contains(in.Message, tc.note) {
			t.Errorf("%v: problem %q message %q", tc.err, in.Problem, in.Message)
		}
		if note := in.Filesystems[0].Note; !strings.HasPrefix(note, "LVM physical volume; ") || !strings.Contains(note, tc.note) {
			t.Errorf("%v: PV note %q, want it to say %q", tc.err, note, tc.note)
		}
	}
}

// The LVM filter accepts exactly the guest devices it is given, so the
// payload disk, which ScanVolumes never lists, is never scanned.
func TestLVMConfigNamesOnlyGuestDevices(t *testing.T) {
	config := lvmConfig([]string{"/dev/vda2", "/dev/vdb"})
	want := `filter=["a|^/dev/vda2$|","a|^/dev/vdb$|","r|.*|"]`
	if !strings.Contains(config, want) || !strings.Contains(config, "global_"+want) {
		t.Errorf("config %s\nlacks %s", config, want)
	}
	if none := lvmConfig(nil); !strings.Contains(none, `filter=["r|.*|"]`) {
		t.Errorf("without devices: %s, want everything rejected", none)
	}
	for _, bad := range []string{"/dev/vda$|", "/dev/mapper/x", "/dev/vd", "/dev/sda1"} {
		if lvmDevice.MatchString(bad) {
			t.Errorf("lvmDevice accepts %q", bad)
		}
	}
}
