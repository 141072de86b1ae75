package inject

import (
	"encoding/json"
	"io/fs"
	"net/netip"
	"sort"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/guestinject/guestinject/vfs"
)

// rhelLayout is a small RHEL 9-like guest: SELinux enforcing,
// NetworkManager, labelled /etc files.
const rhelLayout = `
d /etc mode=0755
f /etc/os-release data="NAME=\"Rocky Linux\"\nID=\"rocky\"\nID_LIKE=\"rhel centos fedora\"\nVERSION_ID=\"9.4\"\n"
f /etc/passwd mode=0644 data="root:x:0:0:root:/root:/bin/bash\ncloud-user:x:1000:1000::/home/cloud-user:/bin/bash\n" xattr.user.label="passwd_file_t"
f /etc/group mode=0644 data="root:x:0:\nwheel:x:10:cloud-user\ncloud-user:x:1000:\n"
f /etc/shadow mode=0000 data="root:!!:19000:0:99999:7:::\ncloud-user:!!:19000:0:99999:7:::\n" xattr.user.label="shadow_t"
f /etc/hostname data="localhost.localdomain\n"
f /etc/hosts data="127.0.0.1   localhost localhost.localdomain\n::1         localhost localhost.localdomain\n"
d /etc/selinux
f /etc/selinux/config data="SELINUX=enforcing\nSELINUXTYPE=targeted\n"
d /etc/sysconfig/network-scripts
d /etc/NetworkManager/system-connections mode=0700
d /etc/systemd/system
d /usr/sbin
f /usr/sbin/NetworkManager mode=0755
d /usr/lib/systemd
f /usr/lib/systemd/systemd mode=0755
d /root mode=0550
d /home
d /home/cloud-user mode=0700 owner=1000:1000
`

func TestRHELFullSpec(t *testing.T) {
	forEachBackend(t, func(t *testing.T, open func(*testing.T, string) vfs.FS) {
		fsys := open(t, rhelLayout)
		got, rep := applyDiff(t, fsys, Spec{
			Now:       testNow,
			Hostname:  "db-1",
			SSHKeys:   []SSHKeys{{User: "cloud-user", Keys: []string{testKeyA, testKeyB}}},
			Passwords: []Password{{User: "cloud-user", Plaintext: "pw", Lock: LockKeep}},
			Network: &Network{Interfaces: []Interface{{MAC: "52:54:00:12:34:56", DHCPv4: true,
				Addresses: []netip.Prefix{netip.MustParsePrefix("2001:db8::5/64")}}}},
			FirstBoot: []Command{{Name: "motd", Script: "echo ready > /etc/motd"}},
		})
		var paths []string
		for p := range got {
			paths = append(paths, p)
		}
		sort.Strings(paths)
		want := []string{
			"/etc/NetworkManager/system-connections/guestinject-if0.nmconnection",
			"/etc/hostname", "/etc/hosts", "/etc/shadow",
			"/etc/systemd/system/guestinject-firstboot.service",
			"/etc/systemd/system/multi-user.target.wants",
			"/etc/systemd/system/multi-user.target.wants/guestinject-firstboot.service",
			"/home/cloud-user/.ssh", "/home/cloud-user/.ssh/authorized_keys",
			"/usr/local", "/usr/local/sbin", "/usr/local/sbin/guestinject-firstboot",
			"/var", "/var/lib", "/var/lib/guestinject", "/var/lib/guestinject/firstboot",
			"/var/lib/guestinject/firstboot/001-selinux-relabel",
			"/var/lib/guestinject/firstboot/002-motd",
		}
		if d := cmp.Diff(want, paths); d != "" {
			t.Errorf("changed paths (-want +got):\n%s", d)
		}
		if n := got["/etc/shadow"]; n.Mode != 0 || !strings.HasPrefix(n.Data, "root:!!:19000:0:99999:7:::\ncloud-user:$6$") {
			t.Errorf("shadow: %+v", n)
		}
		if n := got["/etc/NetworkManager/system-connections/guestinject-if0.nmconnection"]; n.Mode != 0o600 || !strings.Contains(n.Data, "mac-address=52:54:00:12:34:56") {
			t.Errorf("keyfile: %+v", n)
		}
		relabel := got["/var/lib/guestinject/firstboot/001-selinux-relabel"].Data
		for _, p := range []string{"'/home/cloud-user/.ssh/authorized_keys'", "'/etc/NetworkManager/system-connections/guestinject-if0.nmconnection'"} {
			if !strings.Contains(relabel, p) {
				t.Errorf("relabel script misses %s:\n%s", p, relabel)
			}
		}
		if strings.Contains(relabel, "/etc/shadow") || strings.Contains(relabel, "/etc/hostname") {
			t.Errorf("replaced files keep their labels and need no relabel:\n%s", relabel)
		}
		if _, ok := fsys.(vfs.XattrFS); ok {
			for p, want := range map[string]string{"/etc/shadow": "shadow_t"} {
				if v, err := vfs.Lgetxattr(t.Context(), fsys, p, "user.label"); err != nil || string(v) != want {
					t.Errorf("%s label = %q, %v; want %q", p, v, err, want)
				}
			}
		}
		out, err := json.Marshal(rep)
		if err != nil || !strings.Contains(string(out), `"path":"/etc/shadow","action":"replace","mode":"0000"`) {
			t.Errorf("report JSON: %s, %v", out, err)
		}
	})
}

func TestReportJSONModes(t *testing.T) {
	c := Change{Item: Item{Field: FieldFiles, Index: 0}, Path: "/usr/bin/x", Action: ActionChmod, Mode: fs.ModeSetuid | fs.ModeSticky | 0o750, UID: 1, GID: 2}
	out, err := json.Marshal(c)
	if err != nil {
		t.Fatal(err)
	}
	if want := `{"item":{"field":"files","index":0},"path":"/usr/bin/x","action":"chmod","mode":"5750","uid":1,"gid":2}`; string(out) != want {
		t.Errorf("got %s, want %s", out, want)
	}
}
