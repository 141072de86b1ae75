package appliance_test

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/guestinject/guestinject/appliance"
	"github.com/guestinject/guestinject/inject"
	"github.com/guestinject/guestinject/internal/testsupport/testimage"
	"github.com/guestinject/guestinject/vfs"
)

const lvmAliceKey = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIHw5dJ0GJX3ak8Jm5n7dQm0JtVQ9rj0GZz0ZfZ9a5ZKq alice@lvm\n"

// lvmGuest builds the LVM guest at img: a GPT disk whose one partition
// is the physical volume of a volume group with a fresh name (a dash in
// it, so device-mapper names need escaping) holding logical volumes
// "root" (a Linux root whose fstab mounts the other one on /home, once
// by its /dev/mapper name and once by /dev/VG/LV) and "home" (alice's
// home directory). It returns the volume group's name.
func lvmGuest(t testing.TB, img string) string {
	t.Helper()
	testimage.NeedLVM(t)
	vg := testimage.UniqueVG("gi-vg")
	dir := filepath.Dir(img)
	root, home := filepath.Join(dir, "root-tree"), filepath.Join(dir, "home-tree")
	mapper := strings.ReplaceAll(vg, "-", "--")
	writeTree(t, root, map[string]string{
		"etc/os-release": "NAME=\"LVM Linux\"\nID=lvmlinux\nVERSION_ID=\"1\"\n",
		"etc/fstab":      fmt.Sprintf("/dev/mapper/%s-root / ext4 errors=remount-ro 0 1\n/dev/%s/home /home ext4 defaults 0 2\n", mapper, vg),
		"etc/passwd":     "root:x:0:0:root:/root:/bin/sh\nalice:x:1000:1000:Alice:/home/alice:/bin/sh\n",
		"etc/shadow":     "root:*:19700:0:99999:7:::\nalice:!:19700:0:99999:7:::\n",
		"etc/group":      "root:x:0:\nalice:x:1000:\n",
		"etc/hostname":   "lvm\n",
		"home/":          "",
		"root/":          "",
	})
	writeTree(t, home, map[string]string{"alice/.profile": "# alice\n"})
	testimage.LVM(t, img, vg,
		testimage.LogicalVolume{Name: "root", SizeMiB: 48, Tree: root},
		testimage.LogicalVolume{Name: "home", SizeMiB: 24, Tree: home, Debugfs: "sif /alice uid 1000\nsif /alice gid 1000\nsif /alice mode 040700\n" +
			"sif /alice/.profile uid 1000\nsif /alice/.profile gid 1000\n"},
	)
	return vg
}

// TestLVMGuest opens a guest whose root and /home are LVM logical
// volumes, injects an SSH key for a user whose home is on the second
// one, and reads it back from the image with the host's lvm tools and
// debugfs alone.
func TestLVMGuest(t *testing.T) {
	needE2E(t)
	img := filepath.Join(t.TempDir(), "lvm.raw")
	vg := lvmGuest(t, img)
	ctx, s := openRaw(t, img)
	in := s.Inspection()
	if in.Root.LV != vg+"/root" || in.OS.ID != "lvmlinux" {
		t.Errorf("root = %v, OS %+v; want LV %s/root", in.Root, in.OS, vg)
	}
	var homeMount string
	for _, f := range in.Filesystems {
		if f.LV == vg+"/home" {
			homeMount = f.MountPoint
		}
	}
	if homeMount != "/home" {
		t.Errorf("%s/home mounted on %q, want /home; filesystems: %v; fstab: %+v", vg, homeMount, in.Filesystems, in.Fstab)
	}
	if got, err := vfs.ReadFile(ctx, s, "/home/alice/.profile", 1<<10); err != nil || string(got) != "# alice\n" {
		t.Fatalf("/home/alice/.profile = %q, %v\n%s", got, err, s.Console())
	}

	spec := inject.Spec{SSHKeys: []inject.SSHKeys{{User: "alice", Keys: []string{strings.TrimSpace(lvmAliceKey)}}}}
	if _, err := inject.Apply(ctx, s, spec); err != nil {
		t.Fatalf("%v\n%s", err, s.Console())
	}
	if err := s.Commit(ctx); err != nil {
		t.Fatal(err)
	}

	if got := testimage.LVDebugfs(t, img, vg, "home", "cat /alice/.ssh/authorized_keys"); got != lvmAliceKey {
		t.Errorf("authorized_keys on %s/home = %q, want %q", vg, got, lvmAliceKey)
	}
	st := testimage.LVDebugfs(t, img, vg, "home", "stat /alice/.ssh/authorized_keys")
	if !strings.Contains(st, "User:  1000   Group:  1000") || !strings.Contains(st, "Mode:  0600") {
		t.Errorf("authorized_keys owner or mode:\n%s", st)
	}
	// Nothing went to the root volume's /home underneath the mount.
	if ls := testimage.LVDebugfs(t, img, vg, "root", "ls /home"); strings.Contains(ls, "alice") {
		t.Errorf("the root volume's /home has alice:\n%s", ls)
	}
}

// TestLVMGuestWithoutLVMTools opens the LVM guest with an appliance built
// without the LVM tools: the root is on a logical volume, so there is
// none, and the error, its issues and the physical volume's note say the
// tools are missing.
func TestLVMGuestWithoutLVMTools(t *testing.T) {
	needE2E(t)
	img := filepath.Join(t.TempDir(), "lvm.raw")
	lvmGuest(t, img)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()

	s, err := appliance.Open(ctx, []vfs.Disk{{Path: img, Format: "raw"}}, appliance.WithoutLVMTools())
	if err == nil {
		s.Close()
		t.Fatal("Open succeeded without the LVM tools on a guest whose root is on LVM")
	}
	var re *appliance.RootError
	if !errors.As(err, &re) || !errors.Is(err, vfs.ErrNoRoot) || !errors.Is(err, appliance.ErrNoLVMTools) {
		t.Fatalf("Open = %v, want a RootError matching ErrNoRoot and ErrNoLVMTools", err)
	}
	if !strings.Contains(err.Error(), "install lvm2") {
		t.Errorf("the error does not say what to install: %v", err)
	}
	if len(re.Issues) != 1 || re.Issues[0].Code != appliance.IssueNoLVMTools || !strings.Contains(re.Issues[0].Message, "/dev/vda1") {
		t.Errorf("issues %+v, want one %s naming /dev/vda1", re.Issues, appliance.IssueNoLVMTools)
	}
	if len(re.Filesystems) != 1 || re.Filesystems[0].Device != "/dev/vda1" ||
		!strings.Contains(re.Filesystems[0].Note, "LVM physical volume; not activated: the appliance has no LVM tools") {
		t.Errorf("filesystems %+v, want the physical volume noting the missing tools", re.Filesystems)
	}
}

// BenchmarkBootLVM is BenchmarkBoot on the LVM guest: the difference is
// what activating LVM costs (loading device-mapper, three lvm runs,
// probing and mounting two logical volumes instead of one filesystem).
func BenchmarkBootLVM(b *testing.B) {
	needE2E(b)
	img := filepath.Join(b.TempDir(), "lvm.raw")
	lvmGuest(b, img)
	benchmarkBoot(b, img)
}
