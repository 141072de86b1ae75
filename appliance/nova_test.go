package appliance_test

import (
	"context"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/guestinject/guestinject/appliance"
	"github.com/guestinject/guestinject/inject"
)

// The Debian-like guest of the end-to-end tests and the benchmark: the
// /etc files a Debian 12 cloud image has, root and a "debian" user.
var debianFiles = map[string]string{
	"etc/passwd": "root:x:0:0:root:/root:/bin/bash\n" +
		"daemon:x:1:1:daemon:/usr/sbin:/usr/sbin/nologin\n" +
		"sshd:x:100:65534::/run/sshd:/usr/sbin/nologin\n" +
		"debian:x:1000:1000:Debian:/home/debian:/bin/bash\n",
	"etc/shadow": "root:*:19700:0:99999:7:::\n" +
		"daemon:*:19700:0:99999:7:::\n" +
		"sshd:*:19700:0:99999:7:::\n" +
		"debian:!:19700:0:99999:7:::\n",
	"etc/group": "root:x:0:\ndaemon:x:1:\nshadow:x:42:\nsudo:x:27:debian\ndebian:x:1000:\n",
	"etc/os-release": "PRETTY_NAME=\"Debian GNU/Linux 12 (bookworm)\"\nNAME=\"Debian GNU/Linux\"\n" +
		"VERSION_ID=\"12\"\nVERSION=\"12 (bookworm)\"\nID=debian\n",
	"etc/hostname":              "localhost\n",
	"etc/hosts":                 "127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n",
	"etc/network/interfaces":    "source /etc/network/interfaces.d/*\n\nauto lo\niface lo inet loopback\n",
	"etc/network/interfaces.d/": "",
	"etc/ssh/sshd_config":       "PermitRootLogin prohibit-password\n",
	"usr/sbin/ifup":             "#!/bin/sh\n",
	"usr/share/doc/README":      "Debian\n",
	"root/.bashrc":              "# root\n",
	"home/debian/.bashrc":       "# debian\n",
}

// debianOwners sets modes and owners in the built image with debugfs, so
// the image is the same whoever builds it (mkfs.ext4 -d copies the
// builder's own ids).
const debianOwners = `sif /etc/shadow mode 0100640
sif /etc/shadow gid 42
sif /root mode 040700
sif /home/debian mode 040755
sif /home/debian uid 1000
sif /home/debian gid 1000
sif /home/debian/.bashrc uid 1000
sif /home/debian/.bashrc gid 1000
sif /usr/sbin/ifup mode 0100755
`

// debianImage builds a raw whole-disk ext4 Debian-like image of sizeMiB
// (sparse) at img.
func debianImage(t testing.TB, img string, sizeMiB int) {
	t.Helper()
	tree := filepath.Join(filepath.Dir(img), "debian-tree")
	writeTree(t, tree, debianFiles)
	ext4Image(t, img, tree, sizeMiB)
	script := filepath.Join(filepath.Dir(img), "owners.debugfs")
	if err := os.WriteFile(script, []byte(debianOwners), 0o644); err != nil {
		t.Fatal(err)
	}
	run(t, "debugfs", "-w", "-f", script, img)
}

// Test data of the Nova-style injection.
const (
	novaRootKey   = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl nova-root\n"
	novaUserKey   = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIBdrTz0ACC3iTBIEwgmD8YSzArd1q0fiHJ3y98KRUMVX nova-debian\n"
	novaPassHash  = "$6$saltsaltsalt$PMWE8DTlam1JU37Piyk43bHcMxTJq6sgu5DKB0/tGPjanN35jcY68QkpDfPFUGPWX5uCxIQkSPzMmqEiVNgts." // "secret"
	novaHostname  = "nova-vm-1"
	novaFileA     = "/etc/nova/vendor.conf"
	novaFileB     = "/opt/app/start.sh"
	novaFileAData = "[vendor]\nregion = one\n"
	novaFileBData = "#!/bin/sh\nexec /opt/app/run\n"
)

// novaSpec is what Nova's file injection did for a Debian guest: keys for
// root and the image's user, a password, the host name, a static network
// configuration, metadata in /meta.js and two files.
func novaSpec() inject.Spec {
	return inject.Spec{
		Now: time.Date(2024, 10, 1, 0, 0, 0, 0, time.UTC),
		SSHKeys: []inject.SSHKeys{
			{User: "root", Keys: []string{strings.TrimSpace(novaRootKey)}},
			{User: "debian", Keys: []string{strings.TrimSpace(novaUserKey)}},
		},
		Passwords: []inject.Password{{User: "debian", Hash: novaPassHash, Lock: inject.Unlock}},
		Hostname:  novaHostname,
		Network: &inject.Network{
			Interfaces: []inject.Interface{{
				Name:      "eth0",
				Addresses: []netip.Prefix{netip.MustParsePrefix("10.0.0.5/24")},
				Gateway4:  netip.MustParseAddr("10.0.0.1"),
			}},
			DNS: inject.DNS{Servers: []netip.Addr{netip.MustParseAddr("10.0.0.2")}},
		},
		Metadata: map[string]string{"role": "web", "uuid": "2f0c8b1e-7c1a-4d8e-9f4e-5b2a6c3d9e10"},
		Files: []inject.File{
			{Path: novaFileA, Content: []byte(novaFileAData), Mode: 0o640, Group: "debian"},
			{Path: novaFileB, Content: []byte(novaFileBData), Mode: 0o755, User: "debian", Group: "debian"},
		},
	}
}

// injectNova opens the image through the appliance, applies novaSpec and
// commits.
func injectNova(ctx context.Context, img, format string, opts ...appliance.Option) (*inject.Report, error) {
	s, err := appliance.Open(ctx, []appliance.Disk{{Path: img, Format: format}}, opts...)
	if err != nil {
		return nil, err
	}
	defer s.Close()
	rep, err := inject.Apply(ctx, s, novaSpec())
	if err != nil {
		return nil, fmt.Errorf("%w\n%s", err, s.Console())
	}
	return rep, s.Commit(ctx)
}

// debugfsStat is what `debugfs -R 'stat path'` says of a file's mode and
// owner.
type debugfsStat struct {
	mode     string
	uid, gid string
}

var (
	statMode  = regexp.MustCompile(`Mode:\s+(\d+)`)
	statOwner = regexp.MustCompile(`User:\s+(\d+)\s+Group:\s+(\d+)`)
)

func statInImage(t testing.TB, img, path string) debugfsStat {
	t.Helper()
	out := debugfs(t, img, "stat "+path)
	m, o := statMode.FindStringSubmatch(out), statOwner.FindStringSubmatch(out)
	if m == nil || o == nil {
		t.Fatalf("debugfs stat %s: %s", path, out)
	}
	return debugfsStat{mode: m[1], uid: o[1], gid: o[2]}
}

// checkNova reads the injection back from the raw ext4 image with debugfs
// alone.
func checkNova(t testing.TB, img string) {
	t.Helper()
	want := []struct {
		path, content, mode, uid, gid string
	}{
		{"/root/.ssh", "", "0700", "0", "0"},
		{"/root/.ssh/authorized_keys", novaRootKey, "0600", "0", "0"},
		{"/home/debian/.ssh", "", "0700", "1000", "1000"},
		{"/home/debian/.ssh/authorized_keys", novaUserKey, "0600", "1000", "1000"},
		{"/etc/hostname", novaHostname + "\n", "0644", "0", "0"},
		{"/etc/shadow", "", "0640", "0", "42"},
		{"/etc/network/interfaces.d/50-guestinject", "", "0644", "0", "0"},
		{"/meta.js", `{"role":"web","uuid":"2f0c8b1e-7c1a-4d8e-9f4e-5b2a6c3d9e10"}`, "0644", "0", "0"},
		{"/etc/nova", "", "0755", "0", "0"},
		{novaFileA, novaFileAData, "0640", "0", "1000"},
		{novaFileB, novaFileBData, "0755", "1000", "1000"},
	}
	for _, w := range want {
		st := statInImage(t, img, w.path)
		if st.mode != w.mode || st.uid != w.uid || st.gid != w.gid {
			t.Errorf("%s: mode %s owner %s:%s, want %s %s:%s", w.path, st.mode, st.uid, st.gid, w.mode, w.uid, w.gid)
		}
		if w.content != "" {
			if got := debugfs(t, img, "cat "+w.path); got != w.content {
				t.Errorf("%s = %q, want %q", w.path, got, w.content)
			}
		}
	}
	shadow := debugfs(t, img, "cat /etc/shadow")
	if !strings.Contains(shadow, "\ndebian:"+novaPassHash+":") {
		t.Errorf("/etc/shadow has no new hash for debian:\n%s", shadow)
	}
	if !strings.HasPrefix(shadow, "root:*:19700:0:99999:7:::\n") {
		t.Errorf("/etc/shadow: root's line changed:\n%s", shadow)
	}
	if hosts := debugfs(t, img, "cat /etc/hosts"); !strings.Contains(hosts, novaHostname) {
		t.Errorf("/etc/hosts has no %s:\n%s", novaHostname, hosts)
	}
	iface := debugfs(t, img, "cat /etc/network/interfaces.d/50-guestinject")
	for _, s := range []string{"iface eth0 inet static", "10.0.0.5", "10.0.0.1", "10.0.0.2"} {
		if !strings.Contains(iface, s) {
			t.Errorf("interfaces.d/50-guestinject lacks %q:\n%s", s, iface)
		}
	}
	// Untouched files stay as they were.
	if got := debugfs(t, img, "cat /etc/passwd"); got != debianFiles["etc/passwd"] {
		t.Errorf("/etc/passwd changed:\n%s", got)
	}
	if st := statInImage(t, img, "/home/debian"); st.mode != "0755" || st.uid != "1000" {
		t.Errorf("/home/debian: %+v", st)
	}
}

// TestNovaInjection runs a full Nova-style injection through the
// appliance on raw and qcow2 Debian-like images and reads every result
// back with debugfs.
func TestNovaInjection(t *testing.T) {
	needE2E(t)
	for _, format := range []string{"raw", "qcow2"} {
		t.Run(format, func(t *testing.T) {
			dir := t.TempDir()
			raw := filepath.Join(dir, "debian.raw")
			debianImage(t, raw, 128)
			img := raw
			if format == "qcow2" {
				img = filepath.Join(dir, "debian.qcow2")
				run(t, "qemu-img", "convert", "-f", "raw", "-O", "qcow2", raw, img)
			}
			ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
			defer cancel()
			rep, err := injectNova(ctx, img, format)
			if err != nil {
				t.Fatal(err)
			}
			if len(rep.Changes) < 10 {
				t.Errorf("report lists %d changes: %+v", len(rep.Changes), rep.Changes)
			}
			check := img
			if format == "qcow2" {
				check = filepath.Join(dir, "check.raw")
				run(t, "qemu-img", "convert", "-f", "qcow2", "-O", "raw", img, check)
			}
			checkNova(t, check)
		})
	}
}

// TestNovaInjectionKilledBeforeCommit applies the whole spec, kills QEMU
// before Commit, and checks the qcow2 image is byte-for-byte unchanged.
func TestNovaInjectionKilledBeforeCommit(t *testing.T) {
	needE2E(t)
	dir := t.TempDir()
	raw := filepath.Join(dir, "debian.raw")
	debianImage(t, raw, 128)
	img := filepath.Join(dir, "debian.qcow2")
	run(t, "qemu-img", "convert", "-f", "raw", "-O", "qcow2", raw, img)
	before := fileHash(t, img)
	tmp := privateTemp(t)

	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	s, err := appliance.Open(ctx, []appliance.Disk{{Path: img, Format: "qcow2"}})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if _, err := inject.Apply(ctx, s, novaSpec()); err != nil {
		t.Fatal(err)
	}
	if err := s.Sync(ctx); err != nil {
		t.Fatal(err)
	}
	pids := processesUsing(tmp)
	if len(pids) != 1 {
		t.Fatalf("QEMU processes: %v, want one", pids)
	}
	if err := syscall.Kill(pids[0], syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	if err := s.Commit(ctx); err == nil {
		t.Fatal("Commit succeeded after QEMU was killed")
	}
	if fileHash(t, img) != before {
		t.Error("image changed")
	}
	assertNothingLeft(t, tmp)
}
