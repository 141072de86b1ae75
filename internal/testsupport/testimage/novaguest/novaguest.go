// Package novaguest is the Debian-like guest and the Nova-style injection
// that the end-to-end tests and the backend comparison benchmark share: the
// guest's files, the inject.Spec Nova's file injection amounted to, the
// same writes as a guestfish script, and a read-back of the result with
// debugfs alone.
package novaguest

import (
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/guestinject/guestinject/inject"
	"github.com/guestinject/guestinject/internal/accel"
	"github.com/guestinject/guestinject/internal/testsupport/testimage"
)

// Files are the /etc files a Debian 12 cloud image has, root and a
// "debian" user (path -> content; a path ending in "/" is a directory).
var Files = map[string]string{
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

// owners sets modes and owners in the built image with debugfs, so the
// image is the same whoever builds it (mkfs.ext4 -d copies the builder's
// own ids).
const owners = `sif /etc/shadow mode 0100640
sif /etc/shadow gid 42
sif /root mode 040700
sif /home/debian mode 040755
sif /home/debian uid 1000
sif /home/debian gid 1000
sif /home/debian/.bashrc uid 1000
sif /home/debian/.bashrc gid 1000
sif /usr/sbin/ifup mode 0100755
`

// Image builds a raw whole-disk ext4 Debian-like image of sizeMiB
// (sparse) at img.
func Image(t testing.TB, img string, sizeMiB int) {
	t.Helper()
	tree := filepath.Join(filepath.Dir(img), "debian-tree")
	testimage.WriteTree(t, tree, Files)
	testimage.Ext4(t, img, tree, int64(sizeMiB))
	script := filepath.Join(filepath.Dir(img), "owners.debugfs")
	if err := os.WriteFile(script, []byte(owners), 0o644); err != nil {
		t.Fatal(err)
	}
	testimage.Run(t, "debugfs", "-w", "-f", script, img)
}

// Qcow2Image builds the Debian-like image as a qcow2 of sizeMiB at img.
func Qcow2Image(t testing.TB, img string, sizeMiB int) {
	t.Helper()
	raw := img + ".raw"
	Image(t, raw, sizeMiB)
	testimage.Qcow2(t, raw, img)
	if err := os.Remove(raw); err != nil {
		t.Fatal(err)
	}
}

// Test data of the Nova-style injection.
const (
	RootKey   = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl nova-root\n"
	UserKey   = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIBdrTz0ACC3iTBIEwgmD8YSzArd1q0fiHJ3y98KRUMVX nova-debian\n"
	PassHash  = "$6$saltsaltsalt$PMWE8DTlam1JU37Piyk43bHcMxTJq6sgu5DKB0/tGPjanN35jcY68QkpDfPFUGPWX5uCxIQkSPzMmqEiVNgts." // "secret"
	Hostname  = "nova-vm-1"
	FileA     = "/etc/nova/vendor.conf"
	FileB     = "/opt/app/start.sh"
	FileAData = "[vendor]\nregion = one\n"
	FileBData = "#!/bin/sh\nexec /opt/app/run\n"
	metaJS    = `{"role":"web","uuid":"2f0c8b1e-7c1a-4d8e-9f4e-5b2a6c3d9e10"}`
)

// Spec is what Nova's file injection did for a Debian guest: keys for root
// and the image's user, a password, the host name, a static network
// configuration, metadata in /meta.js and two files.
func Spec() inject.Spec {
	return inject.Spec{
		Now: time.Date(2024, 10, 1, 0, 0, 0, 0, time.UTC),
		SSHKeys: []inject.SSHKeys{
			{User: "root", Keys: []string{strings.TrimSpace(RootKey)}},
			{User: "debian", Keys: []string{strings.TrimSpace(UserKey)}},
		},
		Passwords: []inject.Password{{User: "debian", Hash: PassHash, Lock: inject.Unlock}},
		Hostname:  Hostname,
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
			{Path: FileA, Content: []byte(FileAData), Mode: 0o640, Group: "debian"},
			{Path: FileB, Content: []byte(FileBData), Mode: 0o755, User: "debian", Group: "debian"},
		},
	}
}

// Stat is what `debugfs -R 'stat path'` says of a file's mode and owner.
type Stat struct {
	Mode     string // octal, e.g. "0640"
	UID, GID string
}

var (
	statMode  = regexp.MustCompile(`Mode:\s+(\d+)`)
	statOwner = regexp.MustCompile(`User:\s+(\d+)\s+Group:\s+(\d+)`)
)

// StatIn stats path in the raw ext4 image img with debugfs.
func StatIn(t testing.TB, img, path string) Stat {
	t.Helper()
	out := testimage.Run(t, "debugfs", "-R", "stat "+path, img)
	m, o := statMode.FindStringSubmatch(out), statOwner.FindStringSubmatch(out)
	if m == nil || o == nil {
		t.Fatalf("debugfs stat %s: %s", path, out)
	}
	return Stat{Mode: m[1], UID: o[1], GID: o[2]}
}

// Check reads the injection back from the raw ext4 image img with debugfs
// alone.
func Check(t testing.TB, img string) {
	t.Helper()
	cat := func(path string) string { return testimage.Run(t, "debugfs", "-R", "cat "+path, img) }
	want := []struct {
		path, content, mode, uid, gid string
	}{
		{"/root/.ssh", "", "0700", "0", "0"},
		{"/root/.ssh/authorized_keys", RootKey, "0600", "0", "0"},
		{"/home/debian/.ssh", "", "0700", "1000", "1000"},
		{"/home/debian/.ssh/authorized_keys", UserKey, "0600", "1000", "1000"},
		{"/etc/hostname", Hostname + "\n", "0644", "0", "0"},
		{"/etc/shadow", "", "0640", "0", "42"},
		{"/etc/network/interfaces.d/50-guestinject", "", "0644", "0", "0"},
		{"/meta.js", metaJS, "0644", "0", "0"},
		{"/etc/nova", "", "0755", "0", "0"},
		{FileA, FileAData, "0640", "0", "1000"},
		{FileB, FileBData, "0755", "1000", "1000"},
	}
	for _, w := range want {
		st := StatIn(t, img, w.path)
		if st != (Stat{w.mode, w.uid, w.gid}) {
			t.Errorf("%s: mode %s owner %s:%s, want %s %s:%s", w.path, st.Mode, st.UID, st.GID, w.mode, w.uid, w.gid)
		}
		if w.content != "" {
			if got := cat(w.path); got != w.content {
				t.Errorf("%s = %q, want %q", w.path, got, w.content)
			}
		}
	}
	shadow := cat("/etc/shadow")
	if !strings.Contains(shadow, "\ndebian:"+PassHash+":") {
		t.Errorf("/etc/shadow has no new hash for debian:\n%s", shadow)
	}
	if !strings.HasPrefix(shadow, "root:*:19700:0:99999:7:::\n") {
		t.Errorf("/etc/shadow: root's line changed:\n%s", shadow)
	}
	if hosts := cat("/etc/hosts"); !strings.Contains(hosts, Hostname) {
		t.Errorf("/etc/hosts has no %s:\n%s", Hostname, hosts)
	}
	iface := cat("/etc/network/interfaces.d/50-guestinject")
	for _, s := range []string{"iface eth0 inet static", "10.0.0.5", "10.0.0.1", "10.0.0.2"} {
		if !strings.Contains(iface, s) {
			t.Errorf("interfaces.d/50-guestinject lacks %q:\n%s", s, iface)
		}
	}
	// Untouched files stay as they were.
	if got := cat("/etc/passwd"); got != Files["etc/passwd"] {
		t.Errorf("/etc/passwd changed:\n%s", got)
	}
	if st := StatIn(t, img, "/home/debian"); st.Mode != "0755" || st.UID != "1000" {
		t.Errorf("/home/debian: %+v", st)
	}
}

// CheckQcow2 converts the qcow2 image img to raw and checks it.
func CheckQcow2(t testing.TB, img string) {
	t.Helper()
	raw := filepath.Join(t.TempDir(), "check.raw")
	testimage.Run(t, "qemu-img", "convert", "-f", "qcow2", "-O", "raw", img, raw)
	Check(t, raw)
}

// GuestfishScript writes the contents the Nova injection produces into
// files under a temporary directory and returns a guestfish script that
// reads what inject reads and writes the same files with the same modes
// and owners.
func GuestfishScript(t testing.TB) string {
	t.Helper()
	dir := t.TempDir()
	shadow := strings.Replace(Files["etc/shadow"], "debian:!:19700:", "debian:"+PassHash+":19997:", 1)
	files := []struct {
		path, content string
		mode          string
		uid, gid      int
	}{
		{"/root/.ssh/authorized_keys", RootKey, "0600", 0, 0},
		{"/home/debian/.ssh/authorized_keys", UserKey, "0600", 1000, 1000},
		{"/etc/shadow", shadow, "0640", 0, 42},
		{"/etc/hostname", Hostname + "\n", "0644", 0, 0},
		{"/etc/hosts", Files["etc/hosts"] + "127.0.1.1\t" + Hostname + "\n", "0644", 0, 0},
		{"/etc/network/interfaces.d/50-guestinject", "auto eth0\niface eth0 inet static\n    address 10.0.0.5/24\n    gateway 10.0.0.1\n    dns-nameservers 10.0.0.2\n", "0644", 0, 0},
		{"/meta.js", metaJS, "0644", 0, 0},
		{FileA, FileAData, "0640", 0, 1000},
		{FileB, FileBData, "0755", 1000, 1000},
	}
	var sc strings.Builder
	for _, f := range []string{"/etc/passwd", "/etc/group", "/etc/shadow", "/etc/os-release", "/etc/network/interfaces"} {
		sc.WriteString("cat " + f + "\n")
	}
	sc.WriteString("mkdir-p /root/.ssh\nchmod 0700 /root/.ssh\n")
	sc.WriteString("mkdir-p /home/debian/.ssh\nchown 1000 1000 /home/debian/.ssh\nchmod 0700 /home/debian/.ssh\n")
	sc.WriteString("mkdir-p /etc/nova\nmkdir-p /opt/app\n")
	for i, f := range files {
		src := filepath.Join(dir, "file"+strconv.Itoa(i))
		if err := os.WriteFile(src, []byte(f.content), 0o644); err != nil {
			t.Fatal(err)
		}
		sc.WriteString("upload " + src + " " + f.path + "\n")
		fmt.Fprintf(&sc, "chown %d %d %s\n", f.uid, f.gid, f.path)
		sc.WriteString("chmod " + f.mode + " " + f.path + "\n")
	}
	return sc.String()
}

// Guestfish runs script with guestfish (libguestfs's direct backend) on
// the qcow2 image img, format and filesystem named explicitly, as
// libguestfs's own tools do for untrusted images.
func Guestfish(t testing.TB, img, script string) {
	t.Helper()
	gf, err := exec.LookPath("guestfish")
	if err != nil {
		t.Skip("guestfish is not installed (apt-get install libguestfs-tools)")
	}
	cmd := exec.Command(gf, "--format=qcow2", "--rw", "-a", img, "-m", "/dev/sda")
	cmd.Env = append(os.Environ(), "LIBGUESTFS_BACKEND=direct")
	if (accel.Host{}).Check(nil) != nil {
		// libguestfs would try a /dev/kvm that cannot run its kernel
		// (kvm_pvm, say) and QEMU would abort: emulate, as the
		// appliance does on such a host.
		cmd.Env = append(cmd.Env, "LIBGUESTFS_BACKEND_SETTINGS=force_tcg")
	}
	cmd.Stdin = strings.NewReader(script)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("guestfish: %v\n%s", err, out)
	}
}

// FreshCopy copies the pristine image to a new file in a temporary
// directory, outside a benchmark's timer, so every iteration injects into
// an untouched guest.
func FreshCopy(b *testing.B, pristine string) string {
	b.Helper()
	b.StopTimer()
	defer b.StartTimer()
	data, err := os.ReadFile(pristine)
	if err != nil {
		b.Fatal(err)
	}
	work := filepath.Join(b.TempDir(), "work"+filepath.Ext(pristine))
	if err := os.WriteFile(work, data, 0o644); err != nil {
		b.Fatal(err)
	}
	return work
}
