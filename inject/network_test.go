package inject

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io/fs"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/guestinject/guestinject/internal/testsupport/testimage"
)

var update = flag.Bool("update", false, "rewrite the golden files under testdata")

// testNetwork uses every feature of the model.
func testNetwork() *Network {
	return &Network{
		Interfaces: []Interface{
			{
				Name: "eth0", MAC: "fa:16:3e:00:00:01", MTU: 1450,
				Addresses: []netip.Prefix{netip.MustParsePrefix("192.0.2.10/24"), netip.MustParsePrefix("192.0.2.11/24"), netip.MustParsePrefix("2001:db8::10/64")},
				Gateway4:  netip.MustParseAddr("192.0.2.1"), Gateway6: netip.MustParseAddr("2001:db8::1"),
				Routes: []Route{
					{To: netip.MustParsePrefix("10.20.0.0/16"), Via: netip.MustParseAddr("192.0.2.254"), Metric: 100},
					{To: netip.MustParsePrefix("2001:db8:1::/48"), Via: netip.MustParseAddr("2001:db8::fe")},
				},
				DNS: DNS{Servers: []netip.Addr{netip.MustParseAddr("192.0.2.53")}},
			},
			{Name: "eth1", DHCPv4: true, DHCPv6: true},
		},
		DNS: DNS{Servers: []netip.Addr{netip.MustParseAddr("2001:db8::53")}, Search: []string{"example.org", "corp.example.org"}},
	}
}

// renderedTree plans n on a guest and returns the network files it writes.
func renderedTree(t *testing.T, layout string, n *Network) (map[string]node, *Report) {
	t.Helper()
	got, rep := applyDiff(t, openMemGuest(t, layout), Spec{Network: n})
	files := map[string]node{}
	for p, nd := range got {
		if nd.Mode.IsRegular() {
			files[p] = nd
		}
	}
	return files, rep
}

func golden(t *testing.T, name string, files map[string]node) {
	t.Helper()
	var paths []string
	for p := range files {
		paths = append(paths, p)
	}
	sort.Strings(paths)
	var b strings.Builder
	for _, p := range paths {
		fmt.Fprintf(&b, "=== %s %s\n%s", p, OctalMode(files[p].Mode), files[p].Data)
	}
	file := filepath.Join("testdata", "network", name+".golden")
	if *update {
		if err := os.MkdirAll(filepath.Dir(file), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(file, []byte(b.String()), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(file)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if d := cmp.Diff(string(want), b.String()); d != "" {
		t.Errorf("%s differs from %s (-want +got):\n%s", name, file, d)
	}
}

func TestNetworkRenderersGolden(t *testing.T) {
	for _, r := range []Renderer{RendererNetplan, RendererNetworkManager, RendererIfcfg, RendererNetworkd, RendererIfupdown} {
		t.Run(string(r), func(t *testing.T) {
			n := testNetwork()
			n.Renderer = r
			files, _ := renderedTree(t, debianLayout, n)
			for p, f := range files {
				want := fs.FileMode(0o644)
				if r == RendererNetplan || r == RendererNetworkManager {
					want = 0o600
				}
				if f.Mode != want {
					t.Errorf("%s has mode %v, want %v", p, f.Mode, want)
				}
			}
			golden(t, string(r), files)
		})
	}
}

func TestIfupdownReplacesMainFileOnClash(t *testing.T) {
	layout := strings.Replace(debianLayout, `iface lo inet loopback\n`, `iface lo inet loopback\nauto eth1\niface eth1 inet dhcp\n`, 1)
	n := testNetwork()
	n.Renderer = RendererIfupdown
	files, _ := renderedTree(t, layout, n)
	if _, ok := files["/etc/network/interfaces"]; !ok || len(files) != 1 {
		t.Fatalf("wrote %v, want only /etc/network/interfaces", cmp.Diff(nil, files))
	}
	if got := files["/etc/network/interfaces"].Data; strings.Count(got, "iface eth1 inet dhcp") != 1 || !strings.Contains(got, "iface lo inet loopback") {
		t.Errorf("interfaces:\n%s", got)
	}
}

// TestNetplanParsesAsYAML checks the netplan output with an independent
// YAML parser and the structure netplan expects.
func TestNetplanParsesAsYAML(t *testing.T) {
	// The distribution's python3 has python3-yaml; a python3 earlier on
	// PATH may not.
	python := ""
	for _, candidate := range []string{"/usr/bin/python3", "python3"} {
		if p, err := exec.LookPath(candidate); err == nil && exec.Command(p, "-c", "import yaml").Run() == nil {
			python = p
			break
		}
	}
	if python == "" {
		testimage.Need(t, "a python3 with the yaml module (python3-yaml)")
	}
	n := testNetwork()
	n.Renderer = RendererNetplan
	files, _ := renderedTree(t, debianLayout, n)
	const check = `
import json, sys, yaml
doc = yaml.safe_load(sys.stdin)
eth = doc["network"]["ethernets"]
assert doc["network"]["version"] == 2
e0 = eth["eth0"]
assert e0["match"]["macaddress"] == "fa:16:3e:00:00:01" and e0["set-name"] == "eth0"
assert e0["addresses"] == ["192.0.2.10/24", "192.0.2.11/24", "2001:db8::10/64"], e0["addresses"]
assert e0["mtu"] == 1450 and e0["dhcp4"] is False
assert {"to": "default", "via": "192.0.2.1"} in e0["routes"]
assert {"to": "10.20.0.0/16", "via": "192.0.2.254", "metric": 100} in e0["routes"]
assert e0["nameservers"]["addresses"] == ["192.0.2.53", "2001:db8::53"]
assert e0["nameservers"]["search"] == ["example.org", "corp.example.org"]
assert eth["eth1"]["dhcp4"] is True and eth["eth1"]["dhcp6"] is True
print("ok")
`
	cmd := exec.Command(python, "-c", check)
	cmd.Stdin = strings.NewReader(files["/etc/netplan/50-guestinject.yaml"].Data)
	out, err := cmd.CombinedOutput()
	if err != nil || strings.TrimSpace(string(out)) != "ok" {
		t.Fatalf("netplan YAML check failed: %v\n%s", err, out)
	}
}

func TestNetworkRendererDetection(t *testing.T) {
	base := `f /etc/passwd data="root:x:0:0::/root:/bin/sh\n"` + "\n"
	cases := []struct {
		name, layout string
		want         Renderer
	}{
		{"debian", debianLayout, RendererIfupdown},
		{"ubuntu", base + `f /etc/os-release data="ID=ubuntu\nID_LIKE=debian\nVERSION_ID=\"24.04\"\n"` + "\nd /etc/netplan\nf /usr/sbin/netplan mode=0755\nf /usr/sbin/NetworkManager mode=0755\n", RendererNetplan},
		{"rhel8", base + `f /usr/lib/os-release data="ID=\"rocky\"\nID_LIKE=\"rhel centos fedora\"\nVERSION_ID=\"8.9\"\n"` + "\nd /etc/sysconfig/network-scripts\nf /usr/sbin/NetworkManager mode=0755\n", RendererIfcfg},
		{"rhel9", base + `f /etc/os-release data="ID=\"almalinux\"\nID_LIKE=\"rhel centos fedora\"\nVERSION_ID=\"9.4\"\n"` + "\nd /etc/sysconfig/network-scripts\nf /usr/sbin/NetworkManager mode=0755\n", RendererNetworkManager},
		{"arch", base + `f /etc/os-release data="ID=arch\n"` + "\nd /usr/lib/systemd\nf /usr/lib/systemd/systemd-networkd mode=0755\n", RendererNetworkd},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			view := newOverlay(openMemGuest(t, c.layout))
			p := &planner{fsys: view, view: view, written: map[string]Item{}}
			got, err := p.detectRenderer(context.Background(), singleItem(FieldNetwork))
			if err != nil || got != c.want {
				t.Errorf("detectRenderer = %q, %v; want %q", got, err, c.want)
			}
		})
	}
	t.Run("nothing known", func(t *testing.T) {
		wantPlanErr(t, openMemGuest(t, base), Spec{Network: testNetwork()}, ErrUnsupported)
	})
}

func TestNetworkValidation(t *testing.T) {
	fsys := openMemGuest(t, debianLayout)
	bad := []Interface{
		{},
		{Name: "eth0"},
		{Name: "a/b", DHCPv4: true},
		{Name: "this-name-is-too-long", DHCPv4: true},
		{MAC: "nonsense", DHCPv4: true},
		{Name: "eth0", DHCPv4: true, MTU: 10},
		{Name: "eth0", DHCPv4: true, Gateway4: netip.MustParseAddr("2001:db8::1")},
		{Name: "eth0", DHCPv4: true, Routes: []Route{{To: netip.MustParsePrefix("10.0.0.0/8"), Via: netip.MustParseAddr("2001:db8::1")}}},
		{Name: "eth0", DHCPv4: true, DNS: DNS{Search: []string{"bad domain"}}},
	}
	for _, i := range bad {
		wantPlanErr(t, fsys, Spec{Network: &Network{Interfaces: []Interface{i}}}, ErrInvalidSpec)
	}
	wantPlanErr(t, fsys, Spec{Network: &Network{Interfaces: []Interface{{Name: "eth0", DHCPv4: true}, {Name: "eth0", DHCPv6: true}}}}, ErrInvalidSpec)

}

func TestParseNetworkData(t *testing.T) {
	data, err := os.ReadFile("testdata/network_data.json")
	if err != nil {
		t.Fatal(err)
	}
	n, err := ParseNetworkData(data)
	if err != nil {
		t.Fatal(err)
	}
	want := &Network{
		Interfaces: []Interface{
			{
				MAC: "FA:16:3E:00:00:01", MTU: 1450,
				IPv6: IPv6Static, Addresses: []netip.Prefix{netip.MustParsePrefix("192.0.2.10/24"), netip.MustParsePrefix("2001:db8::10/64")},
				Gateway4: netip.MustParseAddr("192.0.2.1"), Gateway6: netip.MustParseAddr("2001:db8::1"),
				Routes: []Route{{To: netip.MustParsePrefix("10.20.0.0/16"), Via: netip.MustParseAddr("192.0.2.254")}},
				DNS:    DNS{Servers: []netip.Addr{netip.MustParseAddr("192.0.2.53")}},
			},
			{MAC: "fa:16:3e:00:00:02", DHCPv4: true},
		},
		DNS: DNS{Servers: []netip.Addr{netip.MustParseAddr("2001:db8::53")}},
	}
	if d := cmp.Diff(want, n, cmp.Comparer(func(a, b netip.Addr) bool { return a == b }), cmp.Comparer(func(a, b netip.Prefix) bool { return a == b })); d != "" {
		t.Errorf("ParseNetworkData (-want +got):\n%s", d)
	}
	n.Renderer = RendererNetworkd
	files, _ := renderedTree(t, debianLayout, n)
	golden(t, "network_data-networkd", files)

	for name, bad := range map[string]string{
		"not json":     "{",
		"vlan no link": `{"links":[{"id":"v","type":"vlan","vlan_id":5}]}`,
		"unknown link": `{"links":[],"networks":[{"id":"n","type":"ipv4_dhcp","link":"x"}]}`,
		"bad netmask":  `{"links":[{"id":"l","ethernet_mac_address":"fa:16:3e:00:00:01"}],"networks":[{"id":"n","type":"ipv4","link":"l","ip_address":"10.0.0.1","netmask":"255.0.255.0"}]}`,
		"v6 as v4":     `{"links":[{"id":"l","ethernet_mac_address":"fa:16:3e:00:00:01"}],"networks":[{"id":"n","type":"ipv4","link":"l","ip_address":"2001:db8::1","netmask":"64"}]}`,
		"nothing":      `{}`,
	} {
		if _, err := ParseNetworkData([]byte(bad)); !errors.Is(err, ErrNetworkData) || !errors.Is(err, ErrInvalidSpec) {
			t.Errorf("%s: error %v, want ErrNetworkData", name, err)
		}
	}
	if _, err := ParseNetworkData(make([]byte, MaxNetworkDataSize+1)); !errors.Is(err, ErrNetworkData) {
		t.Errorf("oversized input: %v", err)
	}
}

func FuzzParseNetworkData(f *testing.F) {
	seed, err := os.ReadFile("testdata/network_data.json")
	if err != nil {
		f.Fatal(err)
	}
	f.Add(seed)
	f.Add([]byte(`{"links":[{"id":"a","ethernet_mac_address":"fa:16:3e:00:00:01","name":"eth0"}],"networks":[{"id":"n","type":"ipv6","link":"a","ip_address":"2001:db8::1/64"}]}`))
	bonds, err := os.ReadFile("testdata/network_data_bond.json")
	if err != nil {
		f.Fatal(err)
	}
	f.Add(bonds)
	f.Add([]byte(`{"links":[{"id":"e","ethernet_mac_address":"fa:16:3e:00:00:01"},{"id":"v","type":"vlan","vlan_link":"e","vlan_id":"7"}],"networks":[{"id":"n","type":"ipv6_dhcpv6-stateful","link":"v"},{"id":"m","type":"ipv6","link":"v","ip_address":"2001:db8::2","netmask":"64"}]}`))
	f.Add([]byte(`{"links":[{"id":"e","ethernet_mac_address":"fa:16:3e:00:00:01","name":"lan0"},{"id":"f","ethernet_mac_address":"fa:16:3e:00:00:02"},{"id":"b","type":"bond","name":"bond0","bond_links":["e","f"],"bond_miimon":"100"}],"networks":[{"id":"n","type":"ipv6_slaac","link":"b"}]}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		n, err := ParseNetworkData(data)
		if err != nil {
			if !errors.Is(err, ErrNetworkData) {
				t.Fatalf("error %v does not wrap ErrNetworkData", err)
			}
			return
		}
		if err := n.validate(); err != nil {
			t.Fatalf("accepted a network that does not validate: %v", err)
		}
		// Every renderer takes it; ifcfg may refuse a VLAN on a MAC-only
		// parent, and only that way.
		renderNetplan(n)
		renderNetworkManager(n)
		renderNetworkd(n)
		renderIfupdown(n)
		if _, err := renderIfcfg(n); err != nil {
			var re *RendererError
			if !errors.As(err, &re) || re.Renderer != RendererIfcfg {
				t.Fatalf("ifcfg: %v", err)
			}
		}
	})
}
