package appliance_test

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/guestinject/guestinject/inject"
	"github.com/guestinject/guestinject/internal/testsupport/testimage/btrfsimage"
	"github.com/guestinject/guestinject/vfs"
)

const btrfsUUID = "0c0ffee0-0000-4000-8000-0000000000bf"

// A guest laid out as Ubuntu installs on btrfs: the top level holds only
// subvolumes, the root in "@" and /home in "@home", both named by
// subvol= in the root's fstab. The root is found in "@", /home mounted
// from "@home", and a key injected for alice is read back from "@home"
// with btrfs restore, which reads the image without mounting it.
func TestBtrfsSubvolumes(t *testing.T) {
	needE2E(t)
	btrfsimage.Need(t)
	dir := t.TempDir()
	root, home := filepath.Join(dir, "root"), filepath.Join(dir, "home")
	writeTree(t, root, map[string]string{
		"etc/os-release": "PRETTY_NAME=\"Ubuntu 24.04 LTS\"\nNAME=\"Ubuntu\"\nVERSION_ID=\"24.04\"\nID=ubuntu\n",
		"etc/fstab": "UUID=" + btrfsUUID + " / btrfs defaults,subvol=@ 0 1\n" +
			"UUID=" + btrfsUUID + " /home btrfs defaults,subvol=/@home 0 2\n",
		"etc/passwd": "root:x:0:0:root:/root:/bin/bash\nalice:x:1000:1000:Alice:/home/alice:/bin/bash\n",
		"etc/group":  "root:x:0:\nalice:x:1000:\n",
		"home/":      "", "root/": "",
	})
	writeTree(t, home, map[string]string{"alice/.profile": "# alice\n"})
	img := filepath.Join(dir, "btrfs.raw")
	btrfsimage.Build(t, img, btrfsUUID, 160,
		btrfsimage.Subvolume{Name: "@", Tree: root}, btrfsimage.Subvolume{Name: "@home", Tree: home})

	ctx, s := openRaw(t, img)
	in := s.Inspection()
	if in.OS.ID != "ubuntu" || in.Root.Type != "btrfs" || in.Root.Subvolume != "@" || in.Root.MountPoint != "/" {
		t.Fatalf("root %+v, OS %+v; want btrfs subvolume @\n%s", in.Root, in.OS, s.Console())
	}
	if len(in.Fstab) != 2 || !in.Fstab[1].Mounted || in.Fstab[1].MountPoint != "/home" {
		t.Fatalf("fstab %+v, want /home mounted", in.Fstab)
	}
	if got, err := vfs.ReadFile(ctx, s, "/home/alice/.profile", 1<<10); err != nil || string(got) != "# alice\n" {
		t.Fatalf("/home/alice/.profile = %q, %v", got, err)
	}
	if _, err := inject.Apply(ctx, s, inject.Spec{SSHKeys: []inject.SSHKeys{{User: "alice", Keys: []string{aliceKey}}}}); err != nil {
		t.Fatal(err)
	}
	if err := s.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	if got := btrfsimage.ReadFile(t, img, "/@home/alice/.ssh/authorized_keys"); !strings.Contains(got, aliceKey) {
		t.Errorf("authorized_keys in @home = %q", got)
	}
	if got := btrfsimage.ReadFile(t, img, "/@/etc/os-release"); !strings.Contains(got, "ID=ubuntu") {
		t.Errorf("os-release in @ = %q", got)
	}
}
