package inject

import (
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/guestinject/guestinject/internal/testsupport/testimage"
	"github.com/guestinject/guestinject/vfs"
)

// netLayout is debianLayout with systemd-udevd and Debian's ifenslave, so
// every network of the matrix renders for ifupdown.
const netLayout = debianLayout + `d /lib
d /lib/systemd
f /lib/systemd/systemd-udevd mode=0755
d /etc/network/if-pre-up.d
f /etc/network/if-pre-up.d/ifenslave mode=0755
`

// matrixNetworks are the networks every renderer is held to: names,
// MAC addresses only, a bond with a VLAN on it, VLANs on MAC-only and
// named parents, and each IPv6 mode.
func matrixNetworks() map[string]*Network {
	p := netip.MustParsePrefix
	a := netip.MustParseAddr
	macOnly := testNetwork()
	macOnly.Interfaces[0].Name = ""
	macOnly.Interfaces[1].Name, macOnly.Interfaces[1].MAC = "", "fa:16:3e:00:00:02"
	return map[string]*Network{
		"named":   testNetwork(),
		"maconly": macOnly,
		"bond": {Interfaces: []Interface{
			{MAC: "fa:16:3e:00:00:11"},
			{MAC: "fa:16:3e:00:00:12"},
			{Name: "bond0", Bond: &Bond{Members: []string{"fa:16:3e:00:00:11", "FA:16:3E:00:00:12"}, Mode: "802.3ad", MIIMon: 100, XmitHashPolicy: "layer3+4", LACPRate: "fast"},
				MTU: 9000, Addresses: []netip.Prefix{p("192.0.2.20/24")}, Gateway4: a("192.0.2.1")},
			{Name: "bond0.10", VLAN: &VLAN{Link: "bond0", ID: 10}, DHCPv4: true},
		}},
		"vlan": {Interfaces: []Interface{
			{MAC: "fa:16:3e:00:00:21"},
			{Name: "vlan100", VLAN: &VLAN{Link: "fa:16:3e:00:00:21", ID: 100}, Addresses: []netip.Prefix{p("198.51.100.2/24")}},
			{Name: "eth2", DHCPv4: true},
			{Name: "eth2.200", VLAN: &VLAN{Link: "eth2", ID: 200}, IPv6: IPv6Static, Addresses: []netip.Prefix{p("2001:db8:200::2/64")}, Gateway6: a("2001:db8:200::1")},
		}},
		"ipv6": {Interfaces: []Interface{
			{MAC: "fa:16:3e:00:00:31", IPv6: IPv6Static, Addresses: []netip.Prefix{p("2001:db8:31::2/64")}, Gateway6: a("2001:db8:31::1")},
			{MAC: "fa:16:3e:00:00:32", IPv6: IPv6SLAAC},
			{MAC: "fa:16:3e:00:00:33", IPv6: IPv6DHCPv6Stateless, DHCPv4: true},
			{MAC: "fa:16:3e:00:00:34", IPv6: IPv6DHCPv6Stateful},
		}},
	}
}

var allRenderers = []Renderer{RendererNetplan, RendererNetworkManager, RendererIfcfg, RendererNetworkd, RendererIfupdown}

// refusedInMatrix lists what a renderer's format cannot express.
var refusedInMatrix = map[string]Renderer{"vlan": RendererIfcfg}

func TestNetworkRendererMatrix(t *testing.T) {
	for name, n := range matrixNetworks() {
		for _, r := range allRenderers {
			t.Run(name+"/"+string(r), func(t *testing.T) {
				n.Renderer = r
				if refusedInMatrix[name] == r {
					ie := wantPlanErr(t, openMemGuest(t, netLayout), Spec{Network: n}, ErrUnsupported)
					var re *RendererError
					if !errors.As(ie, &re) || re.Renderer != r || !strings.Contains(re.Error(), "MAC address") {
						t.Errorf("error %v, want a *RendererError for %s naming the feature", ie, r)
					}
					return
				}
				files, rep := renderedTree(t, netLayout, n)
				reported := map[string]bool{}
				for _, c := range rep.Changes {
					reported[c.Path] = true
				}
				for p := range files {
					if !reported[p] {
						t.Errorf("%s written but not reported", p)
					}
				}
				if name == "named" {
					// TestNetworkRenderersGolden's files.
					golden(t, string(r), files)
				} else {
					golden(t, name+"-"+string(r), files)
				}
			})
		}
	}
}

// renderedRoot renders n for r on netLayout into a host directory.
func renderedRoot(t *testing.T, n *Network, r Renderer) string {
	t.Helper()
	n.Renderer = r
	files, _ := renderedTree(t, netLayout, n)
	return writeRendered(t, files)
}

// TestNetplanGenerateMatrix runs netplan's generator on every network of
// the matrix and checks the systemd-networkd files it makes of them.
func TestNetplanGenerateMatrix(t *testing.T) {
	netplan := testimage.NeedTool(t, "netplan")
	want := map[string]map[string][]string{
		"maconly": {
			"10-netplan-if0.network": {"PermanentMACAddress=fa:16:3e:00:00:01", "Address=192.0.2.11/24"},
			"10-netplan-if1.network": {"PermanentMACAddress=fa:16:3e:00:00:02", "DHCP=yes"},
		},
		"bond": {
			"10-netplan-bond0.netdev":    {"Kind=bond", "Mode=802.3ad", "TransmitHashPolicy=layer3+4", "MIIMonitorSec=100ms", "LACPTransmitRate=fast", "MTUBytes=9000"},
			"10-netplan-bond0.network":   {"Address=192.0.2.20/24", "VLAN=bond0.10"},
			"10-netplan-if0.network":     {"PermanentMACAddress=fa:16:3e:00:00:11", "Bond=bond0"},
			"10-netplan-if1.network":     {"PermanentMACAddress=fa:16:3e:00:00:12", "Bond=bond0"},
			"10-netplan-bond0.10.netdev": {"Kind=vlan", "Id=10"},
		},
		"vlan": {
			"10-netplan-if0.network":      {"PermanentMACAddress=fa:16:3e:00:00:21", "VLAN=vlan100"},
			"10-netplan-vlan100.netdev":   {"Kind=vlan", "Id=100"},
			"10-netplan-eth2.network":     {"VLAN=eth2.200"},
			"10-netplan-eth2.200.network": {"Address=2001:db8:200::2/64", "IPv6AcceptRA=no"},
		},
		"ipv6": {
			"10-netplan-if0.network": {"IPv6AcceptRA=no", "Address=2001:db8:31::2/64", "Gateway=2001:db8:31::1"},
			"10-netplan-if1.network": {"IPv6AcceptRA=yes"},
			"10-netplan-if2.network": {"DHCP=yes", "IPv6AcceptRA=yes"},
			"10-netplan-if3.network": {"DHCP=ipv6"},
		},
	}
	for name, n := range matrixNetworks() {
		if want[name] == nil {
			continue
		}
		t.Run(name, func(t *testing.T) {
			root := renderedRoot(t, n, RendererNetplan)
			if out, err := exec.Command(netplan, "generate", "--root-dir", root).CombinedOutput(); err != nil {
				t.Fatalf("netplan generate: %v\n%s", err, out)
			}
			for file, lines := range want[name] {
				data, err := os.ReadFile(filepath.Join(root, "run/systemd/network", file))
				if err != nil {
					t.Errorf("netplan made no %s: %v", file, err)
					continue
				}
				for _, l := range lines {
					if !strings.Contains(string(data), l+"\n") {
						t.Errorf("netplan's %s lacks %q:\n%s", file, l, data)
					}
				}
			}
		})
	}
}

// TestIfupdownMatrix has ifquery parse the stanzas of every network of the
// matrix and ifup --no-act show the commands it would run.
func TestIfupdownMatrix(t *testing.T) {
	ifquery := testimage.NeedTool(t, "ifquery")
	ifup := testimage.NeedTool(t, "ifup")
	cases := map[string]struct {
		list  string
		query map[string][]string
		noAct map[string][]string
	}{
		"maconly": {list: "lan0 lan1", query: map[string][]string{"lan0": {"address: 192.0.2.10", "mtu: 1450", "address: 2001:db8::10"}, "lan1": {}}},
		"bond": {list: "bond0 bond0.10", query: map[string][]string{
			"bond0": {"bond-slaves: lan0 lan1", "bond-mode: 802.3ad", "bond-miimon: 100", "bond-xmit-hash-policy: layer3+4", "bond-lacp-rate: fast", "mtu: 9000", "address: 192.0.2.20"},
		}, noAct: map[string][]string{"bond0.10": {"ip link add link bond0 name bond0.10 type vlan id 10"}}},
		"vlan": {list: "lan0 eth2 vlan100 eth2.200", query: map[string][]string{
			"vlan100":  {"pre-up: ip link add link lan0 name vlan100 type vlan id 100", "address: 198.51.100.2"},
			"eth2.200": {"accept_ra: 0", "address: 2001:db8:200::2"},
		}, noAct: map[string][]string{"vlan100": {"ip link add link lan0 name vlan100 type vlan id 100"}, "eth2.200": {"ip link add link eth2 name eth2.200 type vlan id 200"}}},
		"ipv6": {list: "lan0 lan1 lan2 lan3", query: map[string][]string{"lan0": {"accept_ra: 0"}, "lan2": {"dhcp: 1"}}},
	}
	for name, n := range matrixNetworks() {
		c, ok := cases[name]
		if !ok {
			continue
		}
		t.Run(name, func(t *testing.T) {
			file := filepath.Join(renderedRoot(t, n, RendererIfupdown), "etc/network/interfaces.d/50-guestinject")
			state := t.TempDir()
			out, err := exec.Command(ifquery, "-i", file, "--state-dir", state, "--list", "-a").CombinedOutput()
			if got := strings.Join(strings.Fields(strings.TrimPrefix(string(out), "lo\n")), " "); err != nil || got != c.list {
				t.Errorf("ifquery --list: %v: %q, want %q\n%s", err, got, c.list, out)
			}
			for iface, wants := range c.query {
				out, err := exec.Command(ifquery, "-i", file, "--state-dir", state, iface).CombinedOutput()
				if err != nil {
					t.Errorf("ifquery %s: %v\n%s", iface, err, out)
				}
				for _, w := range wants {
					if !strings.Contains(string(out), w) {
						t.Errorf("ifquery %s lacks %q:\n%s", iface, w, out)
					}
				}
			}
			for iface, wants := range c.noAct {
				out, err := exec.Command(ifup, "--no-act", "-v", "-i", file, "--state-dir", state, iface).CombinedOutput()
				if err != nil {
					t.Errorf("ifup --no-act %s: %v\n%s", iface, err, out)
				}
				for _, w := range wants {
					if !strings.Contains(string(out), w) {
						t.Errorf("ifup --no-act %s would not run %q:\n%s", iface, w, out)
					}
				}
			}
		})
	}
}

// TestNamePinning checks how names are pinned to MAC-only interfaces for
// ifupdown: .link files for systemd-udevd, in /lib or /usr/lib, a rules
// file for other udevs, a refusal without udev, and no escape through a
// linked directory.
func TestNamePinning(t *testing.T) {
	n := matrixNetworks()["maconly"]
	n.Renderer = RendererIfupdown
	link0 := "/etc/systemd/network/10-guestinject-lan0.link"
	link1 := "/etc/systemd/network/10-guestinject-lan1.link"
	rules := "/etc/udev/rules.d/70-guestinject-net.rules"
	for _, c := range []struct {
		name, layout string
		want         []string
	}{
		{"debian", debianLayout + "d /lib\nd /lib/systemd\nf /lib/systemd/systemd-udevd mode=0755\n", []string{link0, link1}},
		{"merged usr", debianLayout + "f /usr/lib/systemd/systemd-udevd mode=0755\nl /lib target=usr/lib\n", []string{link0, link1}},
		{"eudev", debianLayout + "d /sbin/udevd\nd /lib\nd /lib/udev\nd /lib/udev/rules.d\n", []string{rules}},
		{"old udev", debianLayout + "d /lib\nd /lib/udev\nd /lib/udev/rules.d\n", []string{rules}},
	} {
		t.Run(c.name, func(t *testing.T) {
			files, _ := renderedTree(t, c.layout, n)
			var got []string
			for p := range files {
				if p != "/etc/network/interfaces.d/50-guestinject" {
					got = append(got, p)
				}
			}
			if strings.Join(sortedCopy(got), " ") != strings.Join(c.want, " ") {
				t.Fatalf("pinned with %v, want %v", got, c.want)
			}
			switch c.want[0] {
			case link0:
				if d := files[link0].Data; d != generatedHeader+"[Match]\nMACAddress=fa:16:3e:00:00:01\nPermanentMACAddress=fa:16:3e:00:00:01\n\n[Link]\nName=lan0\n" {
					t.Errorf("%s:\n%s", link0, d)
				}
			case rules:
				d := files[rules].Data
				for _, w := range []string{`ATTR{address}=="fa:16:3e:00:00:01", ATTR{type}=="1", NAME="lan0"`, `ATTR{address}=="fa:16:3e:00:00:02", ATTR{type}=="1", NAME="lan1"`, `DRIVERS=="?*"`} {
					if !strings.Contains(d, w) {
						t.Errorf("%s lacks %s:\n%s", rules, w, d)
					}
				}
			}
			if s := files["/etc/network/interfaces.d/50-guestinject"].Data; !strings.Contains(s, "auto lan0\n") || !strings.Contains(s, "iface lan1 inet dhcp\n") {
				t.Errorf("stanzas are not for the pinned names:\n%s", s)
			}
		})
	}
	t.Run("no udev", func(t *testing.T) {
		ie := wantPlanErr(t, openMemGuest(t, debianLayout), Spec{Network: n}, ErrUnsupported)
		var re *RendererError
		if !errors.As(ie, &re) || re.Renderer != RendererIfupdown {
			t.Errorf("error %v, want a *RendererError for ifupdown", ie)
		}
	})
	t.Run("named interfaces need no pinning", func(t *testing.T) {
		named := testNetwork()
		named.Renderer = RendererIfupdown
		files, _ := renderedTree(t, debianLayout, named)
		if len(files) != 1 {
			t.Errorf("wrote %d files, want only the stanzas", len(files))
		}
	})
	t.Run("a pinned name avoids the network's names", func(t *testing.T) {
		clash := &Network{Renderer: RendererIfupdown, Interfaces: []Interface{{MAC: "fa:16:3e:00:00:01", DHCPv4: true}, {Name: "lan0", DHCPv4: true}}}
		files, _ := renderedTree(t, netLayout, clash)
		if _, ok := files["/etc/systemd/network/10-guestinject-lan1.link"]; !ok {
			t.Errorf("the MAC-only interface was not pinned to lan1: %v", sortedKeys(files))
		}
	})
}

// TestNamePinningHostileLayouts keeps the pinning files inside the guest
// when the directories they go to are links out of it, on every backend.
func TestNamePinningHostileLayouts(t *testing.T) {
	n := matrixNetworks()["maconly"]
	n.Renderer = RendererIfupdown
	t.Run("systemd network dir climbs out", func(t *testing.T) {
		// The climb ends at the guest's root, where the files go.
		forEachBackend(t, func(t *testing.T, open func(*testing.T, string) vfs.FS) {
			got, _ := applyDiff(t, open(t, netLayout+"l /etc/systemd/network target=../../../../..\n"), Spec{Network: n})
			if _, ok := got["/10-guestinject-lan0.link"]; !ok {
				t.Errorf("the .link file is not at the guest's root: %v", sortedKeys(got))
			}
		})
	})
	for _, c := range []struct{ name, layout string }{
		{"systemd network dir links to the host", netLayout + "l /etc/systemd/network target={{canary}}\n"},
		{"link file is a link to the host", netLayout + "d /etc/systemd/network\nl /etc/systemd/network/10-guestinject-lan0.link target={{canary}}/passwd\n"},
		{"udev rules dir links to the host", debianLayout + "d /lib\nd /lib/udev\nd /lib/udev/rules.d\nd /etc/udev\nl /etc/udev/rules.d target={{canary}}\n"},
	} {
		t.Run(c.name, func(t *testing.T) {
			forEachBackend(t, func(t *testing.T, open func(*testing.T, string) vfs.FS) {
				fsys := open(t, c.layout)
				before := snapshot(t, fsys)
				_, err := NewPlan(t.Context(), fsys, Spec{Network: n})
				if err == nil {
					t.Fatalf("planned writes through a link out of the guest")
				}
				if !errors.Is(err, ErrUnsafe) && !errors.Is(err, fs.ErrNotExist) && !errors.Is(err, vfs.ErrIsSymlink) && !errors.Is(err, ErrConflict) {
					t.Errorf("error %v", err)
				}
				if d := diffTrees(before, snapshot(t, fsys)); len(d) != 0 {
					t.Errorf("planning changed the guest: %v", d)
				}
			})
		})
	}
}

func sortedCopy(s []string) []string { return slices.Sorted(slices.Values(s)) }

func sortedKeys[V any](m map[string]V) []string { return slices.Sorted(maps.Keys(m)) }

func TestParseNetworkDataBondsVLANs(t *testing.T) {
	data, err := os.ReadFile("testdata/network_data_bond.json")
	if err != nil {
		t.Fatal(err)
	}
	n, err := ParseNetworkData(data)
	if err != nil {
		t.Fatal(err)
	}
	want := &Network{
		Interfaces: []Interface{
			{MAC: "A0:36:9F:2C:E8:70", MTU: 9000},
			{MAC: "a0:36:9f:2c:e8:71", MTU: 9000},
			{Name: "bond0", MTU: 9000, Bond: &Bond{Members: []string{"A0:36:9F:2C:E8:70", "a0:36:9f:2c:e8:71"}, Mode: "802.3ad", MIIMon: 100, XmitHashPolicy: "layer3+4"}},
			{Name: "bond0.101", VLAN: &VLAN{Link: "bond0", ID: 101}, IPv6: IPv6SLAAC,
				Addresses: []netip.Prefix{netip.MustParsePrefix("10.184.0.244/20"), netip.MustParsePrefix("2001:db8:101::5/64")}, Gateway4: netip.MustParseAddr("10.184.0.1")},
			{MAC: "fa:16:3e:00:00:03"},
			{Name: "vlan202", VLAN: &VLAN{Link: "fa:16:3e:00:00:03", ID: 202}, DHCPv4: true, IPv6: IPv6DHCPv6Stateless},
		},
		DNS: DNS{Servers: []netip.Addr{netip.MustParseAddr("8.8.8.8")}},
	}
	if d := cmp.Diff(want, n, cmp.Comparer(func(a, b netip.Addr) bool { return a == b }), cmp.Comparer(func(a, b netip.Prefix) bool { return a == b })); d != "" {
		t.Errorf("ParseNetworkData (-want +got):\n%s", d)
	}
	// Every renderer takes it but ifcfg, which cannot name vlan202's
	// parent.
	for _, r := range allRenderers {
		n.Renderer = r
		_, err := NewPlan(t.Context(), openMemGuest(t, netLayout), Spec{Network: n})
		var re *RendererError
		if r == RendererIfcfg {
			if !errors.As(err, &re) {
				t.Errorf("%s: %v, want a *RendererError", r, err)
			}
		} else if err != nil {
			t.Errorf("%s: %v", r, err)
		}
	}

	for name, bad := range map[string]string{
		"bond of unknown link":     `{"links":[{"id":"b","type":"bond","bond_links":["x"]}]}`,
		"vlan id out of range":     `{"links":[{"id":"e","ethernet_mac_address":"fa:16:3e:00:00:01"},{"id":"v","type":"vlan","vlan_link":"e","vlan_id":4095}],"networks":[{"id":"n","type":"ipv4_dhcp","link":"v"}]}`,
		"vlan id not a number":     `{"links":[{"id":"e","ethernet_mac_address":"fa:16:3e:00:00:01"},{"id":"v","type":"vlan","vlan_link":"e","vlan_id":"x"}]}`,
		"unknown bond mode":        `{"links":[{"id":"e","ethernet_mac_address":"fa:16:3e:00:00:01"},{"id":"b","type":"bond","bond_links":["e"],"bond_mode":"chaos"}],"networks":[{"id":"n","type":"ipv4_dhcp","link":"b"}]}`,
		"network on a bond member": `{"links":[{"id":"e","ethernet_mac_address":"fa:16:3e:00:00:01"},{"id":"b","type":"bond","bond_links":["e"]}],"networks":[{"id":"n","type":"ipv4_dhcp","link":"e"}]}`,
		"member of two bonds":      `{"links":[{"id":"e","ethernet_mac_address":"fa:16:3e:00:00:01"},{"id":"b","type":"bond","bond_links":["e"]},{"id":"c","type":"bond","bond_links":["e"]}],"networks":[{"id":"n","type":"ipv4_dhcp","link":"b"}]}`,
		"vlan on a vlan":           `{"links":[{"id":"e","ethernet_mac_address":"fa:16:3e:00:00:01"},{"id":"v","type":"vlan","vlan_link":"e","vlan_id":5},{"id":"w","type":"vlan","vlan_link":"v","vlan_id":6}],"networks":[{"id":"n","type":"ipv4_dhcp","link":"w"}]}`,
		"slaac and stateful":       `{"links":[{"id":"e","ethernet_mac_address":"fa:16:3e:00:00:01"}],"networks":[{"id":"n","type":"ipv6_slaac","link":"e"},{"id":"m","type":"ipv6_dhcpv6-stateful","link":"e"}]}`,
		"two links with one MAC":   `{"links":[{"id":"e","ethernet_mac_address":"fa:16:3e:00:00:01"},{"id":"f","ethernet_mac_address":"FA:16:3E:00:00:01"}],"networks":[{"id":"n","type":"ipv4_dhcp","link":"e"},{"id":"m","type":"ipv4_dhcp","link":"f"}]}`,
		"unknown network type":     `{"links":[{"id":"e","ethernet_mac_address":"fa:16:3e:00:00:01"}],"networks":[{"id":"n","type":"ipv7","link":"e"}]}`,
	} {
		if _, err := ParseNetworkData([]byte(bad)); !errors.Is(err, ErrNetworkData) {
			t.Errorf("%s: error %v, want ErrNetworkData", name, err)
		}
	}
}

func TestNetworkValidationTopology(t *testing.T) {
	fsys := openMemGuest(t, netLayout)
	mac := func(k int) string { return "fa:16:3e:00:01:0" + string(rune('0'+k)) }
	for name, n := range map[string]*Network{
		"config name taken":    {Interfaces: []Interface{{MAC: mac(0), DHCPv4: true}, {Name: "if0", DHCPv4: true}}},
		"bond without name":    {Interfaces: []Interface{{MAC: mac(0)}, {Bond: &Bond{Members: []string{mac(0)}}, DHCPv4: true}}},
		"bond with a MAC":      {Interfaces: []Interface{{MAC: mac(0)}, {Name: "bond0", MAC: mac(1), Bond: &Bond{Members: []string{mac(0)}}, DHCPv4: true}}},
		"bond and VLAN":        {Interfaces: []Interface{{MAC: mac(0)}, {Name: "x", Bond: &Bond{Members: []string{mac(0)}}, VLAN: &VLAN{Link: mac(0), ID: 1}, DHCPv4: true}}},
		"empty bond":           {Interfaces: []Interface{{Name: "bond0", Bond: &Bond{}, DHCPv4: true}}},
		"bond of a bond":       {Interfaces: []Interface{{MAC: mac(0)}, {Name: "bond0", Bond: &Bond{Members: []string{mac(0)}}}, {Name: "bond1", Bond: &Bond{Members: []string{"bond0"}}, DHCPv4: true}}},
		"member twice":         {Interfaces: []Interface{{MAC: mac(0)}, {Name: "bond0", Bond: &Bond{Members: []string{mac(0), mac(0)}}, DHCPv4: true}}},
		"member with address":  {Interfaces: []Interface{{MAC: mac(0), DHCPv4: true}, {Name: "bond0", Bond: &Bond{Members: []string{mac(0)}}, DHCPv4: true}}},
		"bad hash policy":      {Interfaces: []Interface{{MAC: mac(0)}, {Name: "bond0", Bond: &Bond{Members: []string{mac(0)}, XmitHashPolicy: "layer9"}, DHCPv4: true}}},
		"bad LACP rate":        {Interfaces: []Interface{{MAC: mac(0)}, {Name: "bond0", Bond: &Bond{Members: []string{mac(0)}, LACPRate: "warp"}, DHCPv4: true}}},
		"negative miimon":      {Interfaces: []Interface{{MAC: mac(0)}, {Name: "bond0", Bond: &Bond{Members: []string{mac(0)}, MIIMon: -1}, DHCPv4: true}}},
		"VLAN 0":               {Interfaces: []Interface{{MAC: mac(0)}, {Name: "v", VLAN: &VLAN{Link: mac(0), ID: 0}, DHCPv4: true}}},
		"VLAN on nothing":      {Interfaces: []Interface{{Name: "v", VLAN: &VLAN{Link: "eth9", ID: 5}, DHCPv4: true}}},
		"VLAN on a member":     {Interfaces: []Interface{{MAC: mac(0)}, {Name: "bond0", Bond: &Bond{Members: []string{mac(0)}}, DHCPv4: true}, {Name: "v", VLAN: &VLAN{Link: mac(0), ID: 5}, DHCPv4: true}}},
		"unused parent":        {Interfaces: []Interface{{MAC: mac(0)}}},
		"DHCPv6 and SLAAC":     {Interfaces: []Interface{{MAC: mac(0), DHCPv6: true, IPv6: IPv6SLAAC}}},
		"unknown IPv6 mode":    {Interfaces: []Interface{{MAC: mac(0), IPv6: "magic"}}},
		"static IPv6, no addr": {Interfaces: []Interface{{MAC: mac(0), IPv6: IPv6Static}}},
		"one MAC twice":        {Interfaces: []Interface{{MAC: mac(0), DHCPv4: true}, {Name: "eth1", MAC: strings.ToUpper(mac(0)), DHCPv4: true}}},
	} {
		t.Run(name, func(t *testing.T) {
			wantPlanErr(t, fsys, Spec{Network: n}, ErrInvalidSpec)
		})
	}
	tooMany := &Network{}
	for k := 0; k <= MaxInterfaces; k++ {
		tooMany.Interfaces = append(tooMany.Interfaces, Interface{Name: "e" + strconv.Itoa(k), DHCPv4: true})
	}
	wantPlanErr(t, fsys, Spec{Network: tooMany}, ErrInvalidSpec)
}

// TestParseNetworkDataLargeInputIsCheap feeds ParseNetworkData a
// megabyte of links, bond members and networks: it is answered in
// time linear in the input, not in links times networks.
func TestParseNetworkDataLargeInputIsCheap(t *testing.T) {
	var b strings.Builder
	b.WriteString(`{"links":[`)
	const links = MaxInterfaces - 1
	for k := 0; k < links; k++ {
		fmt.Fprintf(&b, `{"id":"l%d","ethernet_mac_address":"fa:16:3e:00:%02x:%02x"},`, k, k>>8, k&0xff)
	}
	b.WriteString(`{"id":"b","type":"bond","bond_links":[`)
	for k := 0; k < links; k++ {
		if k > 0 {
			b.WriteString(",")
		}
		fmt.Fprintf(&b, `"l%d"`, k)
	}
	b.WriteString(`]}],"networks":[`)
	for k := 0; b.Len() < MaxNetworkDataSize-100; k++ {
		fmt.Fprintf(&b, `{"id":"n%d","type":"ipv4","link":"b","ip_address":"10.%d.%d.1","netmask":"32"},`, k, k>>8&0xff, k&0xff)
	}
	b.WriteString(`{"id":"last","type":"ipv4_dhcp","link":"b"}]}`)
	start := time.Now()
	n, err := ParseNetworkData([]byte(b.String()))
	if err != nil {
		t.Fatal(err)
	}
	if len(n.Interfaces) != MaxInterfaces || n.Interfaces[links].Bond == nil || len(n.Interfaces[links].Bond.Members) != links {
		t.Fatalf("parsed %d interfaces", len(n.Interfaces))
	}
	for _, r := range allRenderers {
		n.Renderer = r
		if _, err := NewPlan(t.Context(), openMemGuest(t, netLayout), Spec{Network: n}); err != nil {
			t.Fatalf("%s: %v", r, err)
		}
	}
	if d := time.Since(start); d > 20*time.Second {
		t.Errorf("parsing and planning took %v", d)
	}
	t.Logf("%d bytes parsed and planned for every renderer in %v", b.Len(), time.Since(start))
}

// TestIfupdownRaisesParentsFirst lists a VLAN before its bond and the
// bond before its members: the stanzas still come parents first, the
// order ifup -a raises them in.
func TestIfupdownRaisesParentsFirst(t *testing.T) {
	n := &Network{Renderer: RendererIfupdown, Interfaces: []Interface{
		{Name: "bond0.7", VLAN: &VLAN{Link: "bond0", ID: 7}, DHCPv4: true},
		{Name: "bond0", Bond: &Bond{Members: []string{"eth0"}}},
		{Name: "eth0"},
		{Name: "eth1", DHCPv4: true},
	}}
	files, _ := renderedTree(t, netLayout, n)
	s := files["/etc/network/interfaces.d/50-guestinject"].Data
	if a, b, c := strings.Index(s, "auto eth1\n"), strings.Index(s, "auto bond0\n"), strings.Index(s, "auto bond0.7\n"); a < 0 || b < a || c < b {
		t.Errorf("stanzas out of order:\n%s", s)
	}
}
