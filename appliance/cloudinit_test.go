package appliance_test

import (
	"context"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/guestinject/guestinject/appliance"
	"github.com/guestinject/guestinject/inject"
	"github.com/guestinject/guestinject/inject/cidata"
	"github.com/guestinject/guestinject/vfs"
)

// TestCloudInitSeedExt4 writes a NoCloud seed through the appliance over
// an earlier one and reads the committed image back with debugfs: every
// file given, root-owned 0600, and the stale vendor-data gone.
func TestCloudInitSeedExt4(t *testing.T) {
	needE2E(t)
	dir := t.TempDir()
	tree := filepath.Join(dir, "tree")
	writeTree(t, tree, map[string]string{
		"etc/hostname":                           "old\n",
		"var/lib/cloud/seed/nocloud/vendor-data": "#!/bin/sh\necho stale\n",
		"var/lib/cloud/seed/nocloud/user-data":   "#cloud-config\nold: true\n",
	})
	img := filepath.Join(dir, "disk.raw")
	ext4Image(t, img, tree, 64)

	seed := inject.CloudInitSeed{
		UserData:      []byte("#cloud-config\nhostname: seeded\nssh_pwauth: true\n"),
		MetaData:      []byte("instance-id: iid-e2e\nlocal-hostname: seeded\n"),
		NetworkConfig: []byte("version: 2\nethernets:\n  eth0:\n    dhcp4: true\n"),
	}
	ctx, s := openRaw(t, img)
	rep, err := inject.Apply(ctx, s, inject.Spec{CloudInit: &seed})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	var actions []string
	for _, c := range rep.Changes {
		actions = append(actions, string(c.Action)+" "+filepath.Base(c.Path))
	}
	if got, want := strings.Join(actions, ","), "replace user-data,chmod user-data,create meta-data,create network-config,delete vendor-data"; got != want {
		t.Errorf("report %s, want %s", got, want)
	}
	for name, want := range map[string][]byte{"user-data": seed.UserData, "meta-data": seed.MetaData, "network-config": seed.NetworkConfig} {
		p := inject.CloudInitSeedDir + "/" + name
		if got := debugfs(t, img, "cat "+p); got != string(want) {
			t.Errorf("debugfs cat %s = %q, want %q", p, got, want)
		}
		st := debugfs(t, img, "stat "+p)
		if !strings.Contains(st, "Mode:  0600") || !strings.Contains(st, "User:     0   Group:     0") {
			t.Errorf("%s is not root's 0600:\n%s", p, st)
		}
	}
	if got := debugfs(t, img, "ls -p "+inject.CloudInitSeedDir); strings.Contains(got, "vendor-data") {
		t.Errorf("stale vendor-data left: %q", got)
	}
}

// TestCidataVFATReadByLinux attaches a FAT32 seed volume written by
// inject/cidata as a second disk, mounted by the guest's fstab by its
// label, as cloud-init finds it: the appliance's Linux vfat driver, not
// go-diskfs, reads the long names and the contents back.
func TestCidataVFATReadByLinux(t *testing.T) {
	needE2E(t)
	dir := t.TempDir()
	tree := filepath.Join(dir, "tree")
	writeTree(t, tree, map[string]string{
		"etc/os-release": "ID=debian\n",
		"etc/fstab":      "LABEL=cidata /mnt/seed vfat ro 0 0\n",
		"mnt/seed/":      "",
	})
	root := filepath.Join(dir, "root.raw")
	ext4Image(t, root, tree, 32)
	seedImg := filepath.Join(dir, "seed.img")
	seed := inject.CloudInitSeed{
		UserData:   []byte("#cloud-config\nhostname: from-vfat\n"),
		MetaData:   []byte("instance-id: iid-vfat\n"),
		VendorData: []byte("#!/bin/sh\necho vendor\n"),
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	if err := cidata.Write(ctx, seedImg, seed, cidata.Options{Filesystem: cidata.VFAT}); err != nil {
		t.Fatal(err)
	}
	s, err := appliance.Open(ctx, []vfs.Disk{{Path: root, Format: "raw"}, {Path: seedImg, Format: "raw"}})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	entries, err := s.ReadDir(ctx, "/mnt/seed")
	if err != nil {
		t.Fatalf("ReadDir: %v\n%s", err, s.Console())
	}
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	slices.Sort(names)
	if got := strings.Join(names, ","); got != "meta-data,user-data,vendor-data" {
		t.Errorf("the guest's /mnt/seed holds %s", got)
	}
	for _, f := range seed.Files() {
		got, err := vfs.ReadFile(ctx, s, "/mnt/seed/"+f.Name, 1<<20)
		if err != nil || string(got) != string(f.Data) {
			t.Errorf("%s read by Linux: %q, %v; want %q", f.Name, got, err, f.Data)
		}
	}
}
