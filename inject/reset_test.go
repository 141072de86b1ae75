package inject

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/guestinject/guestinject/vfs"
	"github.com/guestinject/guestinject/vfs/memfs"
)

// debianTemplateLayout is debianLayout after some use: every kind of
// state a reset removes, and neighbours it must keep.
const debianTemplateLayout = debianLayout + `
f /etc/machine-id mode=0444 owner=0:0 data="0123456789abcdef0123456789abcdef\n"
l /var/lib/dbus/machine-id target=/etc/machine-id
f /etc/ssh/sshd_config data="PermitRootLogin no\n"
f /etc/ssh/ssh_host_ed25519_key mode=0600 data="PRIVATE\n"
f /etc/ssh/ssh_host_ed25519_key.pub data="ssh-ed25519 AAAA host\n"
f /etc/ssh/ssh_host_rsa_key mode=0600 data="PRIVATE\n"
f /etc/ssh/ssh_host_rsa_key.pub data="ssh-rsa AAAA host\n"
f /var/lib/cloud/instances/i-123/obj.pkl data="x"
l /var/lib/cloud/instance target=/var/lib/cloud/instances/i-123
f /var/lib/cloud/data/instance-id data="i-123\n"
f /var/lib/cloud/sem/config_scripts_per_once.once data="1"
f /var/lib/cloud/seed/nocloud/meta-data data="instance-id: i-1\n"
f /var/log/cloud-init.log data="log\n"
f /var/log/cloud-init-output.log data="out\n"
f /var/lib/dhcp/dhclient.eth0.leases data="lease {}\n"
f /var/lib/dhcp/dhcpd.leases data="lease 10.0.0.5 {}\n"
f /var/lib/dhcp/dhcpd.leases~ data="old\n"
f /var/lib/NetworkManager/internal-abc-eth0.lease data="ADDRESS=10.0.0.9\n"
f /var/lib/NetworkManager/NetworkManager.state data="[main]\n"
f /etc/udev/rules.d/70-persistent-net.rules data="SUBSYSTEM==\"net\"\n"
f /etc/udev/rules.d/99-local.rules data="# keep\n"
f /var/log/syslog mode=0640 owner=0:4 data="boot\n"
f /var/log/syslog.1 data="old\n"
f /var/log/syslog.2.gz data="gz"
f /var/log/wtmp mode=0664 owner=0:43 data="wtmp-records"
f /var/log/btmp mode=0660 owner=0:43 data="btmp"
f /var/log/lastlog mode=0664 owner=0:43 data="ll"
f /var/log/apt/history.log data="Start-Date\n"
f /var/log/apt/eipp.log.xz data="xz"
f /var/log/empty.log data=""
l /var/log/README target=../../usr/share/doc/systemd/README.logs
p /var/log/xconsole mode=0640
f /var/log/journal/0123456789abcdef0123456789abcdef/system.journal data="LPKSHHRH"
f /root/.bash_history data="ls\n"
f /root/.zsh_history data=": 1:0;ls\n"
f /home/alice/.bash_history owner=1000:1000 data="sudo -i\n"
f /home/alice/.profile data="# profile\n"
f /tmp/build/obj/a.o data="x"
l /tmp/escape target=/etc
p /tmp/fifo
c /tmp/null mode=0666 dev=1:3
f /var/tmp/systemd-private-x/tmp/f data="y"
f /var/cache/apt/archives/vim_9.0_amd64.deb data="deb"
d /var/cache/apt/archives/partial
f /var/cache/apt/archives/lock mode=0640
f /var/cache/apt/pkgcache.bin data="cache"
f /var/cache/debconf/config.dat data="keep\n"
f /var/lib/systemd/random-seed mode=0600 data="seed"
`

// fedoraTemplateLayout is rhelLayout after some use.
const fedoraTemplateLayout = rhelLayout + `
f /etc/machine-id mode=0444 data="fedcba9876543210fedcba9876543210\n"
f /var/lib/dbus/machine-id data="fedcba9876543210fedcba9876543210\n"
f /etc/ssh/ssh_host_ecdsa_key mode=0640 data="PRIVATE\n"
f /etc/ssh/ssh_host_ecdsa_key.pub data="ecdsa AAAA\n"
f /etc/sysconfig/network-scripts/ifcfg-eth0 mode=0644 data="DEVICE=eth0\nHWADDR=52:54:00:12:34:56\nBOOTPROTO=dhcp\n  HWADDR=52:54:00:12:34:57\nONBOOT=yes\n" xattr.user.label="net_conf_t"
f /etc/sysconfig/network-scripts/ifcfg-lo data="DEVICE=lo\n"
l /etc/sysconfig/network-scripts/ifcfg-eth1 target=/etc/shadow
f /var/lib/dhclient/dhclient--eth0.lease data="lease {}\n"
f /var/lib/dhcpd/dhcpd.leases data="lease {}\n"
f /var/lib/dhcpd/dhcpd6.leases data=""
f /var/log/messages mode=0600 data="boot\n"
f /var/log/messages-20240101 mode=0600 data="old\n"
f /var/log/audit/audit.log mode=0600 data="type=DAEMON_START\n"
f /var/log/dnf.log data="dnf\n"
f /var/cache/dnf/fedora-1234/repodata/repomd.xml data="<repomd/>"
f /var/cache/dnf/fedora-1234/packages/bash.rpm data="rpm"
f /var/cache/dnf/expired_repos.json data="[]"
f /var/cache/zypp/packages/x.rpm data="rpm"
f /var/lib/systemd/random-seed mode=0600 data="seed"
f /root/.bash_history data="dnf update\n"
`

// resetDiff is the expected change of a reset: removed paths, and
// truncated files (their mode and owner as before).
func resetDiff(before map[string]node, removed, truncated []string) map[string]node {
	want := map[string]node{}
	for _, p := range removed {
		want[p] = node{}
	}
	for _, p := range truncated {
		n := before[p]
		n.Data = ""
		want[p] = n
	}
	return want
}

func TestResetDebian(t *testing.T) {
	forEachBackend(t, func(t *testing.T, open func(*testing.T, string) vfs.FS) {
		fsys := open(t, debianTemplateLayout)
		before := snapshot(t, fsys)
		got, rep := applyDiff(t, fsys, Spec{Reset: &Reset{}})
		want := resetDiff(before, []string{
			"/var/lib/dbus/machine-id",
			"/etc/ssh/ssh_host_ed25519_key", "/etc/ssh/ssh_host_ed25519_key.pub",
			"/etc/ssh/ssh_host_rsa_key", "/etc/ssh/ssh_host_rsa_key.pub",
			"/var/lib/cloud/instances", "/var/lib/cloud/instances/i-123", "/var/lib/cloud/instances/i-123/obj.pkl",
			"/var/lib/cloud/instance", "/var/lib/cloud/data", "/var/lib/cloud/data/instance-id",
			"/var/lib/cloud/sem", "/var/lib/cloud/sem/config_scripts_per_once.once",
			"/var/log/cloud-init.log", "/var/log/cloud-init-output.log",
			"/var/lib/dhcp/dhclient.eth0.leases", "/var/lib/dhcp/dhcpd.leases~",
			"/var/lib/NetworkManager/internal-abc-eth0.lease",
			"/etc/udev/rules.d/70-persistent-net.rules",
			"/var/log/syslog.1", "/var/log/syslog.2.gz", "/var/log/apt/eipp.log.xz",
			"/var/log/journal/0123456789abcdef0123456789abcdef",
			"/var/log/journal/0123456789abcdef0123456789abcdef/system.journal",
			"/root/.bash_history", "/root/.zsh_history", "/home/alice/.bash_history",
			"/tmp/build", "/tmp/build/obj", "/tmp/build/obj/a.o", "/tmp/escape", "/tmp/fifo", "/tmp/null",
			"/var/tmp/systemd-private-x", "/var/tmp/systemd-private-x/tmp", "/var/tmp/systemd-private-x/tmp/f",
			"/var/cache/apt/archives/vim_9.0_amd64.deb", "/var/cache/apt/archives/lock", "/var/cache/apt/pkgcache.bin",
			"/var/lib/systemd/random-seed",
		}, []string{
			"/etc/machine-id", "/var/lib/dhcp/dhcpd.leases",
			"/var/log/syslog", "/var/log/wtmp", "/var/log/btmp", "/var/log/lastlog", "/var/log/apt/history.log",
		})
		wantTreeDiff(t, want, got)

		// Every change names its operation; the link and the FIFO in
		// /var/log are reported as left alone.
		byPath := map[string]Change{}
		for _, c := range rep.Changes {
			if c.Item.Field != FieldReset || !slices.Contains(DefaultResetOperations(), c.Item.Name) {
				t.Errorf("change %+v names %v", c, c.Item)
			}
			byPath[c.Path] = c
		}
		for p, op := range map[string]string{
			"/etc/machine-id": "machine-id", "/etc/ssh/ssh_host_rsa_key": "ssh-hostkeys", "/var/log/cloud-init.log": "cloud-init",
			"/var/lib/dhcp/dhcpd.leases": "dhcp-server-state", "/var/log/syslog": "logfiles", "/tmp/fifo": "tmp-files",
			"/var/cache/apt/pkgcache.bin": "package-manager-cache", "/var/lib/systemd/random-seed": "random-seed",
		} {
			if byPath[p].Item.Name != op {
				t.Errorf("%s changed by %v, want reset (%s)", p, byPath[p].Item, op)
			}
		}
		if c := byPath["/var/log/README"]; c.Action != ActionKeep || !strings.Contains(c.Detail, "symlink") {
			t.Errorf("/var/log/README: %+v, want kept as a symlink", c)
		}
		if c := byPath["/var/log/xconsole"]; c.Action != ActionKeep || !strings.Contains(c.Detail, "only regular files") {
			t.Errorf("/var/log/xconsole: %+v, want kept as a FIFO", c)
		}
		if c := byPath["/var/log/syslog"]; c.Action != ActionReplace || c.Detail != "truncated from 5 bytes" || c.Mode != 0o640 || c.GID != 4 {
			t.Errorf("/var/log/syslog: %+v", c)
		}
	})
}

func TestResetFedora(t *testing.T) {
	forEachBackend(t, func(t *testing.T, open func(*testing.T, string) vfs.FS) {
		fsys := open(t, fedoraTemplateLayout)
		before := snapshot(t, fsys)
		got, rep := applyDiff(t, fsys, Spec{Reset: &Reset{}})
		want := resetDiff(before, []string{
			"/var/lib/dbus/machine-id",
			"/etc/ssh/ssh_host_ecdsa_key", "/etc/ssh/ssh_host_ecdsa_key.pub",
			"/var/lib/dhclient/dhclient--eth0.lease",
			"/var/log/messages-20240101",
			"/var/cache/dnf/fedora-1234/repodata/repomd.xml", "/var/cache/dnf/fedora-1234/packages/bash.rpm",
			"/var/cache/dnf/expired_repos.json", "/var/cache/zypp/packages/x.rpm",
			"/var/lib/systemd/random-seed", "/root/.bash_history",
		}, []string{
			"/etc/machine-id", "/var/lib/dhcpd/dhcpd.leases",
			"/var/log/messages", "/var/log/audit/audit.log", "/var/log/dnf.log",
		})
		ifcfg := before["/etc/sysconfig/network-scripts/ifcfg-eth0"]
		ifcfg.Data = "DEVICE=eth0\nBOOTPROTO=dhcp\nONBOOT=yes\n"
		want["/etc/sysconfig/network-scripts/ifcfg-eth0"] = ifcfg
		wantTreeDiff(t, want, got)
		if _, ok := fsys.(vfs.XattrFS); ok {
			if v, err := vfs.Lgetxattr(t.Context(), fsys, "/etc/sysconfig/network-scripts/ifcfg-eth0", "user.label"); err != nil || string(v) != "net_conf_t" {
				t.Errorf("ifcfg-eth0 label = %q, %v; want it kept", v, err)
			}
		}
		var hw Change
		for _, c := range rep.Changes {
			if c.Path == "/etc/sysconfig/network-scripts/ifcfg-eth0" {
				hw = c
			}
		}
		if hw.Item.Name != "net-hwaddr" || hw.Detail != "2 HWADDR lines removed" {
			t.Errorf("ifcfg-eth0 change: %+v", hw)
		}
	})
}

// hostileResetLayout aims every operation at something outside its
// reach: links out of the root and across it, FIFOs and devices where
// files are expected, and a symlinked home.
const hostileResetLayout = `
f /etc/shadow mode=0640 data="root:*:19000::::::\n"
f /etc/passwd data="root:x:0:0::/root:/bin/sh\n"
f /etc/.bash_history data="not a history\n"
d /etc/ssh
d /etc/ssh/ssh_host_dir_key
l /etc/machine-id target={{canary}}/passwd
l /var/lib/dbus/machine-id target={{canary}}/passwd
l /var/log target=/etc
l /tmp target={{canary}}
f /var/tmp/keep/x data="x"
l /var/tmp/evil target=../../etc
l /var/tmp/dots target=/../../../../..
l /var/lib/cloud target=/etc
l /var/cache/apt/archives target=/etc
l /home/bob target=/etc
d /root
l /root/.bash_history target={{canary}}/passwd
p /var/lib/systemd/random-seed
c /var/lib/random-seed dev=1:3
l /var/lib/dhcp/dhcpd.leases target=/etc/shadow
`

func TestResetHostile(t *testing.T) {
	forEachBackend(t, func(t *testing.T, open func(*testing.T, string) vfs.FS) {
		fsys := open(t, hostileResetLayout)
		got, rep := applyDiff(t, fsys, Spec{Reset: &Reset{}})
		// Links are removed as links, never followed; FIFOs and devices
		// are unlinked, never opened; /etc, reached only through links,
		// is untouched.
		want := map[string]node{
			"/var/lib/dbus/machine-id": {}, "/var/tmp/keep": {}, "/var/tmp/keep/x": {}, "/var/tmp/evil": {}, "/var/tmp/dots": {},
			"/root/.bash_history": {}, "/var/lib/systemd/random-seed": {}, "/var/lib/random-seed": {},
		}
		wantTreeDiff(t, want, got)
		kept := map[string]string{}
		for _, c := range rep.Changes {
			if c.Action == ActionKeep {
				kept[c.Path] = c.Detail
			}
		}
		for _, p := range []string{"/etc/machine-id", "/var/log", "/tmp", "/var/lib/cloud", "/var/cache/apt/archives", "/var/lib/dhcp/dhcpd.leases"} {
			if !strings.Contains(kept[p], "symlink") {
				t.Errorf("%s reported as %q, want kept as a symlink", p, kept[p])
			}
		}
		if !strings.Contains(kept["/etc/ssh/ssh_host_dir_key"], "directory") {
			t.Errorf("the directory named like a host key is reported as %q", kept["/etc/ssh/ssh_host_dir_key"])
		}
	})
}

// A symlinked /var makes every path under it off limits.
func TestResetSymlinkedParent(t *testing.T) {
	forEachBackend(t, func(t *testing.T, open func(*testing.T, string) vfs.FS) {
		fsys := open(t, `
f /data/log/syslog data="keep\n"
f /data/tmp/x data="keep\n"
l /var target=/data
`)
		got, rep := applyDiff(t, fsys, Spec{Reset: &Reset{Operations: []string{"logfiles", "tmp-files"}}})
		wantTreeDiff(t, map[string]node{}, got)
		if len(rep.Changes) != 2 || rep.Changes[0].Path != "/var" || rep.Changes[1].Path != "/var" {
			t.Errorf("changes %+v, want /var kept once per operation", rep.Changes)
		}
	})
}

func TestResetSelection(t *testing.T) {
	fsys := openMemGuest(t, debianTemplateLayout)
	got, rep := applyDiff(t, fsys, Spec{Reset: &Reset{Operations: []string{"ssh-hostkeys", "machine-id", "machine-id"}}})
	if len(got) != 6 {
		t.Errorf("changed %d paths, want 6: %v", len(got), got)
	}
	// Table order, not the order given: machine-id first.
	if rep.Changes[0].Path != "/etc/machine-id" || rep.Changes[len(rep.Changes)-1].Item.Name != "ssh-hostkeys" {
		t.Errorf("changes in order %+v", rep.Changes)
	}

	ie := wantPlanErr(t, fsys, Spec{Reset: &Reset{Operations: []string{"machine-id", "no-such-op"}}}, ErrInvalidSpec)
	if ie.Item != (Item{Field: FieldReset, Index: -1}) || !strings.Contains(ie.Error(), `"no-such-op"`) {
		t.Errorf("error %v names %v", ie, ie.Item)
	}
	wantPlanErr(t, fsys, Spec{Reset: &Reset{MaxEntries: -1}}, ErrInvalidSpec)
	wantPlanErr(t, fsys, Spec{Reset: &Reset{MaxEntries: MaxResetEntries + 1}}, ErrInvalidSpec)

	// An empty list is the default set.
	plan, err := NewPlan(t.Context(), openMemGuest(t, debianTemplateLayout), Spec{Reset: &Reset{Operations: []string{}}})
	if err != nil {
		t.Fatal(err)
	}
	var ops []string
	for _, c := range plan.Changes() {
		if !slices.Contains(ops, c.Item.Name) {
			ops = append(ops, c.Item.Name)
		}
	}
	wantOps := slices.DeleteFunc(DefaultResetOperations(), func(n string) bool { return n == "net-hwaddr" }) // no ifcfg files
	if d := cmp.Diff(wantOps, ops); d != "" {
		t.Errorf("operations of the default set on a Debian template (-want +got):\n%s", d)
	}
}

// The reset comes first: what the rest of the Spec writes is kept.
func TestResetBeforeTheRest(t *testing.T) {
	forEachBackend(t, func(t *testing.T, open func(*testing.T, string) vfs.FS) {
		fsys := open(t, debianTemplateLayout)
		if _, err := Apply(t.Context(), fsys, Spec{
			Reset: &Reset{Operations: []string{"ssh-hostkeys", "tmp-files"}},
			Files: []File{{Path: "/etc/ssh/ssh_host_ed25519_key", Content: []byte("NEW\n"), Mode: 0o600}, {Path: "/tmp/keep", Content: []byte("k")}},
		}); err != nil {
			t.Fatal(err)
		}
		for p, want := range map[string]string{"/etc/ssh/ssh_host_ed25519_key": "NEW\n", "/tmp/keep": "k"} {
			if data, err := vfs.ReadFile(t.Context(), fsys, p, 100); err != nil || string(data) != want {
				t.Errorf("%s = %q, %v; want %q", p, data, err, want)
			}
		}
	})
}

// A dry run is the plan: its changes are the ones Apply reports, and
// planning changes nothing.
func TestResetDryRunIsThePlan(t *testing.T) {
	forEachBackend(t, func(t *testing.T, open func(*testing.T, string) vfs.FS) {
		fsys := open(t, debianTemplateLayout)
		before := snapshot(t, fsys)
		plan, err := NewPlan(t.Context(), fsys, Spec{Reset: &Reset{}})
		if err != nil {
			t.Fatal(err)
		}
		if d := cmp.Diff(before, snapshot(t, fsys)); d != "" {
			t.Fatalf("planning changed the guest:\n%s", d)
		}
		planned := plan.Changes()
		rep, err := plan.Apply(t.Context(), fsys)
		if err != nil {
			t.Fatal(err)
		}
		if d := cmp.Diff(planned, rep.Changes); d != "" {
			t.Errorf("the report differs from the plan:\n%s", d)
		}
	})
}

func TestResetOperationsList(t *testing.T) {
	ops := ResetOperations()
	seen := map[string]bool{}
	for _, op := range ops {
		if seen[op.Name] || op.Name == "" || op.Description == "" || strings.Contains(op.Description, "\n") {
			t.Errorf("operation %+v: names are unique and descriptions one line", op)
		}
		seen[op.Name] = true
	}
	// virt-sysprep's names, where it has the operation.
	for _, n := range []string{"machine-id", "ssh-hostkeys", "dhcp-client-state", "dhcp-server-state", "udev-persistent-net",
		"net-hwaddr", "logfiles", "bash-history", "zsh-history", "tmp-files", "package-manager-cache"} {
		if !seen[n] {
			t.Errorf("no operation %q", n)
		}
	}
	ops[0].Name = "changed"
	if ResetOperations()[0].Name == "changed" {
		t.Error("ResetOperations returns the table itself")
	}
}

func TestWithoutHWAddr(t *testing.T) {
	for _, c := range []struct {
		in, out string
		n       int
	}{
		{"", "", 0},
		{"HWADDR=x", "", 1},
		{"DEVICE=eth0\r\nHWADDR=aa\r\nONBOOT=yes", "DEVICE=eth0\r\nONBOOT=yes", 1},
		{"#HWADDR=aa\nXHWADDR=1\n\tHWADDR=2\n", "#HWADDR=aa\nXHWADDR=1\n", 1},
	} {
		out, n := withoutHWAddr([]byte(c.in))
		if string(out) != c.out || n != c.n {
			t.Errorf("withoutHWAddr(%q) = %q, %d; want %q, %d", c.in, out, n, c.out, c.n)
		}
	}
}

// lazyTree is a read-only guest holding a huge /tmp, generated on
// demand: dirs directories of files entries each. It counts the
// directory entries it hands out.
type lazyTree struct {
	dirs, files int
	handedOut   int
}

type lazyInfo struct {
	name string
	mode fs.FileMode
}

func (i lazyInfo) Name() string       { return i.name }
func (i lazyInfo) Size() int64        { return 1 }
func (i lazyInfo) Mode() fs.FileMode  { return i.mode }
func (i lazyInfo) ModTime() time.Time { return time.Time{} }
func (i lazyInfo) IsDir() bool        { return i.mode.IsDir() }
func (i lazyInfo) Sys() any           { return &vfs.Attr{} }

// lookup describes name: "/", "/tmp", "/tmp/dN" or "/tmp/dN/fM".
func (l *lazyTree) lookup(op, name string) (fs.FileInfo, error) {
	c := vfs.Components(name)
	index := func(s, prefix string, n int) bool {
		i, err := strconv.Atoi(strings.TrimPrefix(s, prefix))
		return strings.HasPrefix(s, prefix) && err == nil && i >= 0 && i < n
	}
	switch {
	case len(c) == 0:
		return lazyInfo{"/", fs.ModeDir | 0o755}, nil
	case len(c) == 1 && c[0] == "tmp":
		return lazyInfo{"tmp", fs.ModeDir | 0o1777}, nil
	case len(c) >= 2 && c[0] == "tmp" && index(c[1], "d", l.dirs):
		if len(c) == 2 {
			return lazyInfo{c[1], fs.ModeDir | 0o755}, nil
		}
		if len(c) == 3 && index(c[2], "f", l.files) {
			return lazyInfo{c[2], 0o644}, nil
		}
	}
	return nil, &fs.PathError{Op: op, Path: name, Err: fs.ErrNotExist}
}

func (l *lazyTree) Stat(_ context.Context, name string) (fs.FileInfo, error) {
	return l.lookup("stat", name)
}

func (l *lazyTree) Lstat(_ context.Context, name string) (fs.FileInfo, error) {
	return l.lookup("lstat", name)
}

func (l *lazyTree) Readlink(_ context.Context, name string) (string, error) {
	return "", &fs.PathError{Op: "readlink", Path: name, Err: fs.ErrInvalid}
}

func (l *lazyTree) ReadDir(_ context.Context, name string) ([]fs.DirEntry, error) {
	info, err := l.lookup("readdir", name)
	if err != nil {
		return nil, err
	}
	if !info.IsDir() {
		return nil, &fs.PathError{Op: "readdir", Path: name, Err: vfs.ErrNotDir}
	}
	var out []fs.DirEntry
	switch c := vfs.Components(name); len(c) {
	case 0:
		out = append(out, fs.FileInfoToDirEntry(lazyInfo{"tmp", fs.ModeDir | 0o1777}))
	case 1:
		for i := range l.dirs {
			out = append(out, fs.FileInfoToDirEntry(lazyInfo{"d" + strconv.Itoa(i), fs.ModeDir | 0o755}))
		}
	case 2:
		for i := range l.files {
			out = append(out, fs.FileInfoToDirEntry(lazyInfo{"f" + strconv.Itoa(i), 0o644}))
		}
	}
	l.handedOut += len(out)
	return out, nil
}

func (l *lazyTree) Open(_ context.Context, name string) (vfs.File, error) {
	return nil, &fs.PathError{Op: "open", Path: name, Err: vfs.ErrReadOnly}
}

func (l *lazyTree) MkdirAll(_ context.Context, name string, _ fs.FileMode) error {
	return &fs.PathError{Op: "mkdirall", Path: name, Err: vfs.ErrReadOnly}
}

func (l *lazyTree) WriteFile(_ context.Context, name string, _ io.Reader, _ vfs.WriteOptions) error {
	return &fs.PathError{Op: "writefile", Path: name, Err: vfs.ErrReadOnly}
}

func (l *lazyTree) Chmod(_ context.Context, name string, _ fs.FileMode) error {
	return &fs.PathError{Op: "chmod", Path: name, Err: vfs.ErrReadOnly}
}

func (l *lazyTree) Lchown(_ context.Context, name string, _, _ int) error {
	return &fs.PathError{Op: "lchown", Path: name, Err: vfs.ErrReadOnly}
}

func (l *lazyTree) Remove(_ context.Context, name string) error {
	return &fs.PathError{Op: "remove", Path: name, Err: vfs.ErrReadOnly}
}

func (l *lazyTree) Close() error { return nil }

// A guest with a million files in /tmp fails the plan with a typed error
// after reading about the bound's worth of entries, not the million.
func TestResetMillionFilesIsBounded(t *testing.T) {
	guest := &lazyTree{dirs: 1000, files: 1000}
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	_, err := NewPlan(t.Context(), guest, Spec{Reset: &Reset{}})
	runtime.ReadMemStats(&after)
	var ie *ItemError
	if !errors.As(err, &ie) || !errors.Is(err, vfs.ErrTooLarge) || ie.Item.Name != "tmp-files" {
		t.Fatalf("NewPlan error = %v, want ErrTooLarge for reset (tmp-files)", err)
	}
	// One directory's entries past the bound at most.
	if guest.handedOut > DefaultResetEntries+guest.files+1 {
		t.Errorf("the guest handed out %d directory entries for a bound of %d", guest.handedOut, DefaultResetEntries)
	}
	alloc := after.TotalAlloc - before.TotalAlloc
	t.Logf("%d entries read, %d MiB allocated", guest.handedOut, alloc>>20)
	if alloc > 256<<20 {
		t.Errorf("planning allocated %d MiB", alloc>>20)
	}

	// The same tree within a raised bound is planned in full.
	small := &lazyTree{dirs: 20, files: 100}
	plan, err := NewPlan(t.Context(), small, Spec{Reset: &Reset{Operations: []string{"tmp-files"}}})
	if err != nil {
		t.Fatal(err)
	}
	if n := len(plan.Changes()); n != 20*100+20 {
		t.Errorf("%d changes planned, want %d", n, 20*100+20)
	}
}

// A tree at the default bound is planned and applied in reasonable time
// on memfs: removing many directories stays linear in the planning
// overlay (a scan of every planned node per removal took 30 s here).
func TestResetLargeTreeApplies(t *testing.T) {
	fsys := memfs.New()
	ctx := t.Context()
	const dirs, files = 9000, 1 // 18000 entries, half of them directories
	for d := range dirs {
		dir := fmt.Sprintf("/tmp/d%04d", d)
		if err := fsys.MkdirAll(ctx, dir, 0o755); err != nil {
			t.Fatal(err)
		}
		for f := range files {
			if err := fsys.WriteFile(ctx, fmt.Sprintf("%s/f%d", dir, f), strings.NewReader("x"), vfs.WriteOptions{Perm: 0o644}); err != nil {
				t.Fatal(err)
			}
		}
	}
	start := time.Now()
	rep, err := Apply(ctx, fsys, Spec{Reset: &Reset{Operations: []string{"tmp-files"}}})
	if err != nil {
		t.Fatal(err)
	}
	took := time.Since(start)
	t.Logf("%d changes planned and applied in %v", len(rep.Changes), took)
	if took > 10*time.Second {
		t.Errorf("the reset took %v", took)
	}
	if len(rep.Changes) != dirs*(files+1) {
		t.Errorf("%d changes, want %d", len(rep.Changes), dirs*(files+1))
	}
	if entries, err := fsys.ReadDir(ctx, "/tmp"); err != nil || len(entries) != 0 {
		t.Errorf("/tmp after the reset: %d entries, %v", len(entries), err)
	}
}

// withoutHWAddr keeps every line but the HWADDR assignments, byte for
// byte and in order.
func FuzzWithoutHWAddr(f *testing.F) {
	for _, s := range []string{"", "HWADDR=x", "DEVICE=eth0\r\nHWADDR=aa\r\nONBOOT=yes", "\tHWADDR=1\n#HWADDR\nHWADDR=", "\n\n\x00HWADDR=\n"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		out, n := withoutHWAddr(data)
		var kept []byte
		lines := 0
		for l := range bytes.Lines(data) {
			lines++
			if !bytes.HasPrefix(bytes.TrimLeft(l, " \t"), []byte("HWADDR=")) {
				kept = append(kept, l...)
			}
		}
		if !bytes.Equal(out, kept) && !(len(out) == 0 && len(kept) == 0) {
			t.Fatalf("withoutHWAddr(%q) = %q, want %q", data, out, kept)
		}
		if n < 0 || n > lines || (n == 0 && !bytes.Equal(out, data)) {
			t.Fatalf("withoutHWAddr(%q) removed %d of %d lines, output %q", data, n, lines, out)
		}
		for l := range bytes.Lines(out) {
			if bytes.HasPrefix(bytes.TrimLeft(l, " \t"), []byte("HWADDR=")) {
				t.Fatalf("withoutHWAddr(%q) kept %q", data, l)
			}
		}
	})
}

// failingReadDir fails every ReadDir of one directory.
type failingReadDir struct {
	vfs.FS
	dir string
}

func (f failingReadDir) ReadDir(ctx context.Context, name string) ([]fs.DirEntry, error) {
	if name == f.dir {
		return nil, &fs.PathError{Op: "readdir", Path: name, Err: vfs.ErrIO}
	}
	return f.FS.ReadDir(ctx, name)
}

// A guest that fails a read fails the plan, naming the operation and the
// directory, and nothing is changed.
func TestResetReadErrorFailsThePlan(t *testing.T) {
	fsys := openMemGuest(t, debianTemplateLayout)
	before := snapshot(t, fsys)
	rep, err := Apply(t.Context(), failingReadDir{fsys, "/var/log/apt"}, Spec{Reset: &Reset{}})
	var ie *ItemError
	if rep != nil || !errors.As(err, &ie) || !errors.Is(err, vfs.ErrIO) ||
		ie.Item != (Item{Field: FieldReset, Index: -1, Name: "logfiles"}) || ie.Path != "/var/log/apt" {
		t.Fatalf("Apply = %v, %v; want an *ItemError for reset (logfiles) at /var/log/apt", rep, err)
	}
	if d := cmp.Diff(before, snapshot(t, fsys)); d != "" {
		t.Errorf("a failed plan changed the guest:\n%s", d)
	}
}
