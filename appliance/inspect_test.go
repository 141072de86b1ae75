package appliance_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/guestinject/guestinject/appliance"
	"github.com/guestinject/guestinject/inject"
	"github.com/guestinject/guestinject/internal/testsupport/testimage"
	"github.com/guestinject/guestinject/vfs"
)

const (
	aliceKey    = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl alice@laptop"
	rootUUID    = "0c0ffee0-0000-4000-8000-000000000002"
	homeUUID    = "0c0ffee0-0000-4000-8000-000000000003"
	varUUID     = "0c0ffee0-0000-4000-8000-000000000004"
	srvUUID     = "0c0ffee0-0000-4000-8000-0000000000b1"
	varPartUUID = "5ca1ab1e-0000-4000-8000-000000000004"
)

// A guest split the usual way: root on partition 2, /home on partition 3
// by UUID, /var/lib/app on partition 4 by PARTUUID, /srv on a second
// disk by device name. The key lands on the /home filesystem.
func TestFstabMountsAcrossPartitionsAndDisks(t *testing.T) {
	needE2E(t)
	testimage.NeedTools(t, "sfdisk")
	dir := t.TempDir()
	rootTree, homeTree, varTree, srvTree := filepath.Join(dir, "root"), filepath.Join(dir, "home"), filepath.Join(dir, "var"), filepath.Join(dir, "srv")
	writeTree(t, rootTree, map[string]string{
		"etc/os-release": "PRETTY_NAME=\"Debian GNU/Linux 12 (bookworm)\"\nNAME=\"Debian GNU/Linux\"\nVERSION_ID=\"12\"\nID=debian\n",
		"etc/passwd":     "root:x:0:0:root:/root:/bin/bash\nalice:x:1000:1000:Alice:/home/alice:/bin/bash\n",
		"etc/group":      "root:x:0:\nalice:x:1000:\n",
		"etc/fstab": "# <file system> <mount point> <type> <options> <dump> <pass>\n" +
			"UUID=" + rootUUID + " / ext4 errors=remount-ro 0 1\n" +
			"UUID=" + homeUUID + " /home ext4 defaults 0 2\n" +
			"PARTUUID=" + varPartUUID + " /var/lib/app auto defaults 0 2\n" +
			"/dev/vdb1 /srv ext4 defaults 0 2\n" +
			"/dev/vda1 none swap sw 0 0\n",
		"home/": "", "var/lib/app/": "", "srv/": "", "root/": "",
	})
	writeTree(t, homeTree, map[string]string{"alice/.bashrc": "# alice\n"})
	writeTree(t, varTree, map[string]string{"state": "var\n"})
	writeTree(t, srvTree, map[string]string{"www/index.html": "srv\n"})
	disk0, disk1 := filepath.Join(dir, "disk0.raw"), filepath.Join(dir, "disk1.raw")
	offsets := testimage.GPTDisk(t, disk0,
		testimage.Part{SizeMiB: 1, Name: "bios"},
		testimage.Part{SizeMiB: 24, Name: "root", Tree: rootTree, Label: "root", UUID: rootUUID},
		testimage.Part{SizeMiB: 16, Name: "home", Tree: homeTree, Label: "home", UUID: homeUUID},
		testimage.Part{SizeMiB: 8, Name: "app", GUID: varPartUUID, Tree: varTree, UUID: varUUID},
	)
	testimage.GPTDisk(t, disk1, testimage.Part{SizeMiB: 8, Tree: srvTree, UUID: srvUUID})

	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	s, err := appliance.Open(ctx, []vfs.Disk{{Path: disk0, Format: "raw"}, {Path: disk1, Format: "raw"}})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()

	got := s.Inspection()
	want := appliance.Inspection{
		OS: appliance.OS{ID: "debian", VersionID: "12", Name: "Debian GNU/Linux", PrettyName: "Debian GNU/Linux 12 (bookworm)"},
		Root: appliance.Filesystem{Device: "/dev/vda2", Disk: 0, Partition: 2, Type: "ext4", UUID: rootUUID, Label: "root",
			PartLabel: "root", MountPoint: "/", Candidate: true, OSName: "Debian GNU/Linux 12 (bookworm)"},
		Filesystems: []appliance.Filesystem{
			{Device: "/dev/vda1", Disk: 0, Partition: 1, PartLabel: "bios", Note: "/dev/vda1 (unknown content)"},
			{Device: "/dev/vda2", Disk: 0, Partition: 2, Type: "ext4", UUID: rootUUID, Label: "root",
				PartLabel: "root", MountPoint: "/", Candidate: true, OSName: "Debian GNU/Linux 12 (bookworm)"},
			{Device: "/dev/vda3", Disk: 0, Partition: 3, Type: "ext4", UUID: homeUUID, Label: "home", PartLabel: "home", MountPoint: "/home"},
			{Device: "/dev/vda4", Disk: 0, Partition: 4, Type: "ext4", UUID: varUUID, PartUUID: varPartUUID, PartLabel: "app", MountPoint: "/var/lib/app"},
			{Device: "/dev/vdb1", Disk: 1, Partition: 1, Type: "ext4", UUID: srvUUID, MountPoint: "/srv"},
		},
		Fstab: []appliance.FstabEntry{
			{Line: 2, Source: "UUID=" + rootUUID, MountPoint: "/", Type: "ext4", Note: "the root filesystem"},
			{Line: 3, Source: "UUID=" + homeUUID, MountPoint: "/home", Type: "ext4", Device: "/dev/vda3", Mounted: true},
			{Line: 4, Source: "PARTUUID=" + varPartUUID, MountPoint: "/var/lib/app", Type: "auto", Device: "/dev/vda4", Mounted: true},
			{Line: 5, Source: "/dev/vdb1", MountPoint: "/srv", Type: "ext4", Device: "/dev/vdb1", Mounted: true},
			{Line: 6, Source: "/dev/vda1", MountPoint: "none", Type: "swap", Note: "swap is not mounted"},
		},
	}
	// PARTUUIDs sfdisk chose at random are not checked.
	ignoreRandom := cmpopts.IgnoreFields(appliance.Filesystem{}, "PartUUID")
	if diff := cmp.Diff(want, got, ignoreRandom); diff != "" {
		t.Errorf("Inspection (-want +got):\n%s", diff)
	}
	if got.Filesystems[3].PartUUID != varPartUUID {
		t.Errorf("PARTUUID of partition 4 = %q", got.Filesystems[3].PartUUID)
	}

	for name, content := range map[string]string{"/srv/www/index.html": "srv\n", "/var/lib/app/state": "var\n", "/home/alice/.bashrc": "# alice\n"} {
		if b, err := vfs.ReadFile(ctx, s, name, 1<<10); err != nil || string(b) != content {
			t.Errorf("ReadFile(%s) = %q, %v", name, b, err)
		}
	}
	if _, err := inject.Apply(ctx, s, inject.Spec{SSHKeys: []inject.SSHKeys{{User: "alice", Keys: []string{aliceKey}}}}); err != nil {
		t.Fatal(err)
	}
	if err := s.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	home := fmt.Sprintf("%s?offset=%d", disk0, offsets[2])
	if got := debugfs(t, home, "cat /alice/.ssh/authorized_keys"); !strings.Contains(got, aliceKey) {
		t.Errorf("authorized_keys on the /home filesystem = %q", got)
	}
	root := fmt.Sprintf("%s?offset=%d", disk0, offsets[1])
	if got := debugfs(t, root, "ls /home"); strings.Contains(got, "alice") {
		t.Errorf("the key went to the root filesystem: ls /home = %q", got)
	}
}

func TestAmbiguousRootAndWithRoot(t *testing.T) {
	needE2E(t)
	testimage.NeedTools(t, "sfdisk")
	img := filepath.Join(t.TempDir(), "two.raw")
	testimage.TwoRoots(t, img)
	disks := []vfs.Disk{{Path: img, Format: "raw"}}
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()

	_, err := appliance.Open(ctx, disks)
	var re *appliance.RootError
	if !errors.Is(err, vfs.ErrAmbiguousRoot) || !errors.As(err, &re) {
		t.Fatalf("Open = %v, want ErrAmbiguousRoot", err)
	}
	var listed []string
	for _, c := range re.Candidates {
		listed = append(listed, c.Device+" "+c.Label+" "+c.OSName)
	}
	if diff := cmp.Diff([]string{"/dev/vda1 root-a System A", "/dev/vda2 root-b System B"}, listed); diff != "" {
		t.Errorf("candidates (-want +got):\n%s", diff)
	}
	for _, words := range []string{"/dev/vda1", "root-b", "System B", "WithRoot"} {
		if !strings.Contains(err.Error(), words) {
			t.Errorf("error does not say %q: %v", words, err)
		}
	}

	for _, tc := range []struct {
		root vfs.Root
		want string
	}{
		{vfs.Root{Label: "root-b"}, "b"},
		{vfs.Root{Volume: &vfs.VolumeRef{Disk: 0, Partition: 1}}, "a"},
	} {
		s, err := appliance.Open(ctx, disks, appliance.WithRoot(tc.root))
		if err != nil {
			t.Fatalf("WithRoot(%+v): %v", tc.root, err)
		}
		got, err := vfs.ReadFile(ctx, s, "/which", 16)
		if err != nil || string(got) != tc.want+"\n" || s.Inspection().OS.ID != tc.want {
			t.Errorf("WithRoot(%+v): /which = %q, %v; OS %+v", tc.root, got, err, s.Inspection().OS)
		}
		s.Close()
	}

	_, err = appliance.Open(ctx, disks, appliance.WithRoot(vfs.Root{UUID: "12345678-0000-0000-0000-000000000000"}))
	if !errors.Is(err, vfs.ErrRootNotFound) || !strings.Contains(err.Error(), "root-a") {
		t.Errorf("Open with a missing UUID = %v, want ErrRootNotFound listing what was found", err)
	}
}

func TestWithRootValidation(t *testing.T) {
	disks := []vfs.Disk{{Path: "/nonexistent.raw", Format: "raw"}}
	for _, r := range []vfs.Root{
		{},
		{Label: "a", UUID: "0c0ffee0-0000-4000-8000-000000000002"},
		{Volume: &vfs.VolumeRef{Disk: 1}},
		{Volume: &vfs.VolumeRef{Disk: 0, Partition: -1}},
		{UUID: "not a uuid"},
		{LV: "novg"},
		{LV: "/dev/vg/lv/extra"},
		{Label: "bad\nlabel"},
		{Label: strings.Repeat("x", 300)},
	} {
		_, err := appliance.Open(context.Background(), disks, appliance.WithRoot(r))
		if err == nil || !strings.Contains(err.Error(), "WithRoot") {
			t.Errorf("WithRoot(%+v): %v, want a WithRoot error before anything starts", r, err)
		}
	}
}

// A hostile fstab: a mount point that is a symlink climbing out of the
// root, one that points at /proc, the root's own device again, a UUID
// that exists nowhere, and a line that is not one. Every mount stays in
// the guest tree and the report says why each line was skipped.
func TestHostileFstab(t *testing.T) {
	needE2E(t)
	testimage.NeedTools(t, "sfdisk")
	dir := t.TempDir()
	rootTree, dataTree, data2Tree := filepath.Join(dir, "root"), filepath.Join(dir, "data"), filepath.Join(dir, "data2")
	writeTree(t, rootTree, map[string]string{
		"etc/os-release": "ID=evil\n",
		"etc/fstab": "LABEL=data /mnt/escape ext4 defaults\n" +
			"LABEL=data2 /mnt/proc ext4 defaults\n" +
			"/dev/vda1 /again ext4 defaults\n" +
			"UUID=99999999-9999-4999-8999-999999999999 /gone ext4 defaults\n" +
			"/dev/vda2\n" +
			"LABEL=data /mnt/twice ext4 defaults\n",
		"tmp/": "", "proc/": "", "again/": "", "gone/": "", "mnt/twice/": "",
	})
	if err := os.Symlink("/../../../tmp", filepath.Join(rootTree, "mnt/escape")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("/proc", filepath.Join(rootTree, "mnt/proc")); err != nil {
		t.Fatal(err)
	}
	writeTree(t, dataTree, map[string]string{"data-marker": "data\n"})
	writeTree(t, data2Tree, map[string]string{"data2-marker": "data2\n"})
	img := filepath.Join(dir, "hostile.raw")
	testimage.GPTDisk(t, img,
		testimage.Part{SizeMiB: 12, Tree: rootTree, Label: "root"},
		testimage.Part{SizeMiB: 8, Tree: dataTree, Label: "data"},
		testimage.Part{SizeMiB: 8, Tree: data2Tree, Label: "data2"},
	)
	ctx, s := openRaw(t, img)
	got := s.Inspection()
	if got.Root.Device != "/dev/vda1" || got.OS.ID != "evil" {
		t.Fatalf("root %+v, OS %+v", got.Root, got.OS)
	}
	want := []appliance.FstabEntry{
		{Line: 5, Note: "not an fstab entry: 1 fields, want 3 to 6"},
		{Line: 1, Source: "LABEL=data", MountPoint: "/mnt/escape", Type: "ext4", Device: "/dev/vda2", Mounted: true, Note: "mount point resolves to /tmp in the guest"},
		{Line: 2, Source: "LABEL=data2", MountPoint: "/mnt/proc", Type: "ext4", Device: "/dev/vda3", Mounted: true, Note: "mount point resolves to /proc in the guest"},
		{Line: 3, Source: "/dev/vda1", MountPoint: "/again", Type: "ext4", Device: "/dev/vda1", Note: "names the root filesystem, which is mounted once, at /"},
		{Line: 4, Source: "UUID=99999999-9999-4999-8999-999999999999", MountPoint: "/gone", Type: "ext4", Note: "no such volume: UUID=99999999-9999-4999-8999-999999999999"},
		{Line: 6, Source: "LABEL=data", MountPoint: "/mnt/twice", Type: "ext4", Device: "/dev/vda2", Note: "/dev/vda2 is already mounted by line 1"},
	}
	if diff := cmp.Diff(want, got.Fstab); diff != "" {
		t.Errorf("fstab report (-want +got):\n%s", diff)
	}
	mounts := map[string]string{}
	for _, f := range got.Filesystems {
		mounts[f.Device] = f.MountPoint
	}
	if diff := cmp.Diff(map[string]string{"/dev/vda1": "/", "/dev/vda2": "/tmp", "/dev/vda3": "/proc"}, mounts); diff != "" {
		t.Errorf("mount points (-want +got):\n%s", diff)
	}
	// The mounts are where the report says, inside the guest tree.
	for name, content := range map[string]string{"/tmp/data-marker": "data\n", "/proc/data2-marker": "data2\n", "/etc/os-release": "ID=evil\n"} {
		if b, err := vfs.ReadFile(ctx, s, name, 1<<10); err != nil || string(b) != content {
			t.Errorf("ReadFile(%s) = %q, %v", name, b, err)
		}
	}
	if err := s.WriteFile(ctx, "/tmp/written", strings.NewReader("x"), vfs.WriteOptions{Perm: 0o644}); err != nil {
		t.Fatal(err)
	}
	if err := s.Commit(ctx); err != nil {
		t.Fatal(err)
	}
}
