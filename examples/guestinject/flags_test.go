package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"io/fs"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/guestinject/guestinject/inject"
	"github.com/guestinject/guestinject/vfs"
)

// --max-size reads sizes with bytesize.Parse, exactly, and refuses zero.
func TestSizeFlag(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want int64
	}{
		{"1073741824", 1 << 30},
		{"512", 512},
		{"512B", 512},
		{"4k", 4 << 10},
		{"64M", 64 << 20},
		{"64MiB", 64 << 20},
		{"50G", 50 << 30},
		{"50GB", 50_000_000_000},
		{"1.5G", 3 << 29},
		{"1T", 1 << 40},
		{"2P", 2 << 50},
		{"9223372036854775807", 1<<63 - 1},
	} {
		var f sizeFlag
		if err := f.Set(tc.in); err != nil || f.bytes != tc.want {
			t.Errorf("--max-size %s = %d, %v; want %d", tc.in, f.bytes, err, tc.want)
		}
	}
	for _, bad := range []string{"", "G", "-1", "0", "0K", "1.5", "0.1K", "12X", "1e3", "5GG", "9999999P", "8E"} {
		var f sizeFlag
		if err := f.Set(bad); err == nil {
			t.Errorf("--max-size %q = %d, want an error", bad, f.bytes)
		}
	}
}

func TestParseArgsInterspersed(t *testing.T) {
	var a checkArgs
	fs := newCheckFlags(&a)
	pos, err := parseArgs(fs, []string{"guest.img", "--format", "qcow2", "--max-size=50G", "--json"}, &bytes.Buffer{})
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{"guest.img"}, pos); diff != "" {
		t.Errorf("positional (-want +got):\n%s", diff)
	}
	if a.format != "qcow2" || a.maxSize.bytes != 50<<30 || !a.json {
		t.Errorf("parsed %+v", a.imageArgs)
	}
}

func TestParseArgsDoubleDashEndsFlags(t *testing.T) {
	var a lsArgs
	pos, err := parseArgs(newLsFlags(&a), []string{"-l", "img", "--format", "raw", "--", "-odd-name", "--json"}, &bytes.Buffer{})
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{"img", "-odd-name", "--json"}, pos); diff != "" || a.json || !a.long {
		t.Errorf("positional (-want +got):\n%s json=%v long=%v", diff, a.json, a.long)
	}
}

func TestParseArgsErrors(t *testing.T) {
	var a checkArgs
	_, err := parseArgs(newCheckFlags(&a), []string{"img", "--max-size", "lots"}, &bytes.Buffer{})
	var u *usageError
	if !errors.As(err, &u) || !strings.Contains(err.Error(), "lots") {
		t.Errorf("bad size: %v, want a usage error naming the value", err)
	}
	var help bytes.Buffer
	_, err = parseArgs(newCheckFlags(&a), []string{"--help"}, &help)
	if !errors.Is(err, flag.ErrHelp) || !strings.Contains(help.String(), "-max-size") {
		t.Errorf("--help: %v, printed %q", err, help.String())
	}
}

func TestParseFileFlag(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want fileSpec
	}{
		{"motd:/etc/motd", fileSpec{src: "motd", dst: "/etc/motd"}},
		{"a:/b:0600", fileSpec{src: "a", dst: "/b", mode: 0o600}},
		{"a:/b::alice", fileSpec{src: "a", dst: "/b", user: "alice"}},
		{"a:/b:4755:root:root", fileSpec{src: "a", dst: "/b", mode: fs.ModeSetuid | 0o755, user: "root", group: "root"}},
		{"a:/b:1777:1000:100", fileSpec{src: "a", dst: "/b", mode: fs.ModeSticky | 0o777, uid: 1000, gid: 100}},
		{"a:/b:2750:0:adm", fileSpec{src: "a", dst: "/b", mode: fs.ModeSetgid | 0o750, group: "adm"}},
	} {
		got, err := parseFileFlag(tc.in)
		if err != nil {
			t.Errorf("parseFileFlag(%q): %v", tc.in, err)
			continue
		}
		if diff := cmp.Diff(tc.want, got, cmp.AllowUnexported(fileSpec{})); diff != "" {
			t.Errorf("parseFileFlag(%q) (-want +got):\n%s", tc.in, diff)
		}
	}
	for _, bad := range []string{"", "a", "a:", ":/b", "a:b", "a:/b/../c", "a:/b:999", "a:/b:rw", "a:/b:0644:bad user", "a:/b:0644:-1"} {
		if got, err := parseFileFlag(bad); err == nil {
			t.Errorf("parseFileFlag(%q) = %+v, want an error", bad, got)
		}
	}
}

func TestFileSpecOpenStreamsSource(t *testing.T) {
	src := filepath.Join(t.TempDir(), "payload")
	if err := os.WriteFile(src, []byte("hello\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	f, file, err := fileSpec{src: src, dst: "/opt/payload", mode: 0o640}.open()
	if err != nil {
		t.Fatal(err)
	}
	defer file.Close()
	if f.Path != "/opt/payload" || f.Mode != 0o640 || f.MaxSize != 6 || f.Source == nil {
		t.Errorf("file = %+v", f)
	}
	if _, _, err := (fileSpec{src: t.TempDir(), dst: "/x"}).open(); err == nil {
		t.Error("a directory as SRC was accepted")
	}
}

func TestPasswordFromFileOrStdin(t *testing.T) {
	dir := t.TempDir()
	pw := filepath.Join(dir, "pw")
	if err := os.WriteFile(pw, []byte("correct horse\r\nsecond line\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	got, err := parsePasswordFlag("root:"+pw, nil)
	if err != nil || got != (inject.Password{User: "root", Plaintext: "correct horse"}) {
		t.Errorf("from file: %+v, %v", got, err)
	}
	got, err = parsePasswordFlag("alice:-", strings.NewReader("from stdin\n"))
	if err != nil || got != (inject.Password{User: "alice", Plaintext: "from stdin"}) {
		t.Errorf("from stdin: %+v, %v", got, err)
	}
	for _, bad := range []string{"root", "root:", ":" + pw} {
		if _, err := parsePasswordFlag(bad, nil); err == nil {
			t.Errorf("parsePasswordFlag(%q) succeeded", bad)
		}
	}
	if _, err := parsePasswordFlag("root:-", strings.NewReader("\n")); err == nil {
		t.Error("an empty password was accepted")
	}
}

func TestSSHKeyFileSkipsCommentsAndBlanks(t *testing.T) {
	keys := filepath.Join(t.TempDir(), "keys")
	content := "# team keys\n\nssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl a\n  ssh-rsa AAAAB3 b  \n"
	if err := os.WriteFile(keys, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	got, err := parseSSHKeyFlag("deploy:"+keys, nil)
	if err != nil {
		t.Fatal(err)
	}
	want := inject.SSHKeys{User: "deploy", Keys: []string{
		"ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl a", "ssh-rsa AAAAB3 b"}}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
	if _, err := parseSSHKeyFlag("root:-", strings.NewReader("# nothing\n")); err == nil {
		t.Error("a file without keys was accepted")
	}
}

func TestParseMetaFlags(t *testing.T) {
	got, err := parseMetaFlags([]string{"role=web", "empty=", "eq=a=b"})
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(map[string]string{"role": "web", "empty": "", "eq": "a=b"}, got); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
	if _, err := parseMetaFlags([]string{"=v"}); err == nil {
		t.Error("an empty key was accepted")
	}
	if _, err := parseMetaFlags([]string{"novalue"}); err == nil {
		t.Error("a pair without = was accepted")
	}
}

func TestCommandName(t *testing.T) {
	for in, want := range map[string]string{
		"/tmp/setup.sh":   "01-setup.sh",
		"weird name!$.sh": "01-weird-name-.sh",
		"/tmp/...":        "01-script",
	} {
		if got := commandName(in, 0); got != want {
			t.Errorf("commandName(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestNetworkYAML(t *testing.T) {
	path := filepath.Join(t.TempDir(), "net.yaml")
	yaml := `renderer: netplan
interfaces:
  - mac: fa:16:3e:00:00:01
    addresses: [192.0.2.10/24, "2001:db8::10/64"]
    gateway4: 192.0.2.1
    mtu: 1450
    routes: [{to: 198.51.100.0/24, via: 192.0.2.254, metric: 50}]
  - name: eth1
    dhcp4: true
dns: {servers: [192.0.2.53], search: [example.com]}
`
	if err := os.WriteFile(path, []byte(yaml), 0o644); err != nil {
		t.Fatal(err)
	}
	got, err := readNetworkFile(path)
	if err != nil {
		t.Fatal(err)
	}
	want := &inject.Network{
		Renderer: inject.RendererNetplan,
		Interfaces: []inject.Interface{{
			MAC:       "fa:16:3e:00:00:01",
			Addresses: []netip.Prefix{netip.MustParsePrefix("192.0.2.10/24"), netip.MustParsePrefix("2001:db8::10/64")},
			Gateway4:  netip.MustParseAddr("192.0.2.1"),
			MTU:       1450,
			Routes:    []inject.Route{{To: netip.MustParsePrefix("198.51.100.0/24"), Via: netip.MustParseAddr("192.0.2.254"), Metric: 50}},
		}, {Name: "eth1", DHCPv4: true}},
		DNS: inject.DNS{Servers: []netip.Addr{netip.MustParseAddr("192.0.2.53")}, Search: []string{"example.com"}},
	}
	if diff := cmp.Diff(want, got, cmp.Comparer(func(a, b netip.Addr) bool { return a == b }),
		cmp.Comparer(func(a, b netip.Prefix) bool { return a == b })); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
}

func TestNetworkFileErrors(t *testing.T) {
	dir := t.TempDir()
	for name, content := range map[string]string{
		"typo.yaml":    "interfaces: [{name: eth0, adresses: [192.0.2.1/24]}]\n",
		"badaddr.yml":  "interfaces: [{name: eth0, addresses: [192.0.2.300/24]}]\n",
		"net.txt":      "x",
		"garbage.json": "{",
	} {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
		if n, err := readNetworkFile(p); err == nil {
			t.Errorf("%s: accepted as %+v", name, n)
		}
	}
}

func TestNetworkJSONIsNetworkData(t *testing.T) {
	got, err := readNetworkFile(filepath.Join("..", "..", "inject", "testdata", "network_data.json"))
	if err != nil {
		t.Fatal(err)
	}
	if len(got.Interfaces) == 0 || got.Interfaces[0].MAC == "" {
		t.Errorf("network_data.json gave %+v", got)
	}
}

func TestUsageExitCodes(t *testing.T) {
	dir := t.TempDir()
	img := filepath.Join(dir, "img")
	if err := os.WriteFile(img, make([]byte, 1<<20), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		args []string
		code int
		err  string
	}{
		{nil, exitUsage, "Usage"},
		{[]string{"frobnicate"}, exitUsage, "unknown command"},
		{[]string{"check", img}, exitUsage, "--format is required"},
		{[]string{"check", img, "--format", "auto"}, exitUsage, "--format"},
		{[]string{"check", "--format", "raw"}, exitUsage, "IMAGE"},
		{[]string{"inject", img, "--format", "raw"}, exitUsage, "nothing to inject"},
		{[]string{"inject", img, "--format", "raw", "--hostname", "h", "--backend", "mount"}, exitUsage, "--trusted"},
		{[]string{"inject", img, "--format", "raw", "--hostname", "h", "--domain", "d"}, exitUsage, "--backend libvirt"},
		{[]string{"inject", img, "--format", "raw", "--password", "root"}, exitUsage, "USER:FILE"},
		{[]string{"cat", img, "--format", "raw", "etc/passwd"}, exitUsage, "absolute"},
		{[]string{"ls", img, "--format", "raw"}, exitUsage, "PATH"},
		{[]string{"inspect", img, "--format", "raw", "--root", "sda2"}, exitUsage, "invalid root"},
		{[]string{"cat", img, "--format", "raw", "--root", "LABEL=", "/etc/passwd"}, exitUsage, "invalid root"},
		{[]string{"ls", img, "--format", "raw", "--root", "1:2", "/"}, exitUsage, "disk 0"},
		{[]string{"inject", img, "--format", "raw", "--hostname", "h", "--backend", "mount", "--trusted", "--root", "LV=vg/root"}, exitUsage, "LVM"},
		{[]string{"inject", img, "--format", "raw", "--hostname", "h", "--backend", "mount", "--trusted", "--root", "0:0"}, exitUsage, "whole disk"},
		{[]string{"inspect", img, "--format", "raw", "--accel", "hvf"}, exitUsage, "--accel"},
		{[]string{"inject", img, "--format", "raw", "--hostname", "h", "--backend", "mount", "--trusted", "--accel", "tcg"}, exitUsage, "boots no VM"},
		{[]string{"check", img, "--format", "raw"}, exitOK, ""},
		{[]string{"check", img, "--format", "raw", "--max-size", "512K"}, exitRejected, "too large"},
		{[]string{"check", img, "--format", "qcow2"}, exitRejected, "format mismatch"},
		{[]string{"check", filepath.Join(dir, "missing"), "--format", "raw"}, exitFailed, "no such file"},
	} {
		var out, errOut bytes.Buffer
		code := run(context.Background(), tc.args, stdio{in: strings.NewReader(""), out: &out, err: &errOut})
		if code != tc.code || !strings.Contains(out.String()+errOut.String(), tc.err) {
			t.Errorf("%q: exit %d, want %d with %q\nstdout: %s\nstderr: %s", tc.args, code, tc.code, tc.err, out.String(), errOut.String())
		}
	}
}

func TestParseRootSpec(t *testing.T) {
	vol := func(d, p int) vfs.Root {
		return vfs.Root{Volume: &vfs.VolumeRef{Disk: d, Partition: p}}
	}
	for spec, want := range map[string]vfs.Root{
		"0:2":           vol(0, 2),
		"0:0":           vol(0, 0),
		"3:17":          vol(3, 17),
		"LABEL=x":       {Label: "x"},
		"label=root fs": {Label: "root fs"},
		"LABEL=a=b":     {Label: "a=b"},
		"UUID=0c0ffee0-0000-4000-8000-000000000002": {UUID: "0c0ffee0-0000-4000-8000-000000000002"},
		"UUID=ABCD-1234":           {UUID: "ABCD-1234"},
		"LV=vg/root":               {LV: "vg/root"},
		"LV=/dev/my-vg/root_1":     {LV: "my-vg/root_1"},
		"/dev/ubuntu-vg/ubuntu-lv": {LV: "ubuntu-vg/ubuntu-lv"},
	} {
		got, err := parseRootSpec(spec)
		if err != nil {
			t.Errorf("parseRootSpec(%q): %v", spec, err)
			continue
		}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("parseRootSpec(%q) (-want +got):\n%s", spec, diff)
		}
	}
	for _, bad := range []string{
		"", "2", "0:", ":2", "0:-1", "-1:0", "00:1", "0:02", "0:+2", "0:2:3", "a:b", "2000:1",
		"LABEL=", "UUID=", "LV=", "NAME=x", "UUID=not-a-uuid!", "LABEL=a\nb", "LABEL=" + strings.Repeat("x", 300),
		"LV=vg", "LV=vg/", "LV=/dev/vg/lv/x", "LV=-vg/lv", "LV=vg/..", "/dev/sda2", "/dev/mapper/vg-lv/x", "/dev/mapper/vg-lv", "LV=vg/l v",
	} {
		if got, err := parseRootSpec(bad); err == nil {
			t.Errorf("parseRootSpec(%q) = %+v, want an error", bad, got)
		}
	}
}

// --root reaches every command that opens the guest, and each backend
// gets what it supports.
func TestRootFlagReachesTheBackends(t *testing.T) {
	for _, cmd := range []string{"inject", "inspect", "cat", "ls"} {
		var fs *flag.FlagSet
		for _, c := range commands() {
			if c.name == cmd {
				fs = c.flags()
			}
		}
		if fs.Lookup("root") == nil {
			t.Errorf("%s has no --root", cmd)
		}
	}
	var a inspectArgs
	if _, err := parseArgs(newInspectFlags(&a), []string{"img", "--root", "LABEL=root-b"}, &bytes.Buffer{}); err != nil {
		t.Fatal(err)
	}
	opts := a.backend.applianceOptions(target{}, nil)
	if a.backend.root.root == nil || a.backend.root.root.Label != "root-b" || len(opts) != 3 {
		t.Errorf("--root LABEL=root-b: root %+v, %d appliance options", a.backend.root.root, len(opts))
	}
	for spec, ok := range map[string]bool{"0:2": true, "LABEL=x": true, "UUID=ABCD-1234": true, "0:0": false, "LV=vg/lv": false} {
		b := backendArgs{name: backendMount, trusted: true}
		if err := b.root.Set(spec); err != nil {
			t.Fatal(err)
		}
		err := b.checkMountRoot()
		if ok != (err == nil) {
			t.Errorf("--backend mount --root %s: %v", spec, err)
		}
		var u *usageError
		if !ok && !errors.As(err, &u) {
			t.Errorf("--backend mount --root %s: %v, want a usage error", spec, err)
		}
	}
}

func TestHelpIsComplete(t *testing.T) {
	var out bytes.Buffer
	if code := run(context.Background(), []string{"help"}, stdio{out: &out, err: &out}); code != exitOK {
		t.Fatalf("help: exit %d", code)
	}
	for _, c := range commands() {
		if !strings.Contains(out.String(), c.name) {
			t.Errorf("help does not list %s", c.name)
		}
		var ch bytes.Buffer
		if code := run(context.Background(), []string{c.name, "--help"}, stdio{out: &ch, err: &ch}); code != exitOK {
			t.Errorf("%s --help: exit %d", c.name, code)
		}
		c.flags().VisitAll(func(f *flag.Flag) {
			if !strings.Contains(ch.String(), "-"+f.Name) {
				t.Errorf("%s --help does not describe -%s", c.name, f.Name)
			}
		})
		if !strings.Contains(ch.String(), "Exit status") {
			t.Errorf("%s --help does not document the exit status", c.name)
		}
	}
}
