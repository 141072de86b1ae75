package main

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/guestinject/guestinject/inject"
	"github.com/guestinject/guestinject/internal/testsupport/guestimage"
	"github.com/guestinject/guestinject/internal/testsupport/memlayout"
	"github.com/guestinject/guestinject/internal/testsupport/testimage"
	"github.com/guestinject/guestinject/vfs"
	"github.com/guestinject/guestinject/vfs/vfstest"
)

// macOnlyGuest is a Debian-like guest with systemd-udevd and ifenslave,
// so every renderer can configure bonds and MAC-only interfaces.
const macOnlyGuest = `
d /etc
f /etc/passwd data="root:x:0:0:root:/root:/bin/sh\n"
f /etc/group data="root:x:0:\n"
f /etc/os-release data="ID=debian\nVERSION_ID=\"12\"\n"
d /etc/network
f /etc/network/interfaces data="source /etc/network/interfaces.d/*\nauto lo\niface lo inet loopback\n"
d /etc/network/if-pre-up.d
f /etc/network/if-pre-up.d/ifenslave mode=0755
d /lib
d /lib/systemd
f /lib/systemd/systemd-udevd mode=0755
d /sbin
f /sbin/ifup mode=0755
`

// TestNetworkDataEveryRenderer plans the MAC-only network_data.json files
// --network reads for every --network-renderer: each renderer matches
// the interfaces by MAC address (ifupdown pins names), and ifcfg alone
// refuses a VLAN on an interface it cannot name.
func TestNetworkDataEveryRenderer(t *testing.T) {
	layout, err := vfstest.ParseLayout(macOnlyGuest)
	if err != nil {
		t.Fatal(err)
	}
	want := map[inject.Renderer]string{
		inject.RendererNetplan:        "macaddress: \"fa:16:3e:00:00:01\"",
		inject.RendererNetworkManager: "mac-address=FA:16:3E:00:00:01",
		inject.RendererNetworkd:       "PermanentMACAddress=fa:16:3e:00:00:01",
		inject.RendererIfcfg:          "HWADDR=fa:16:3e:00:00:01",
		inject.RendererIfupdown:       "PermanentMACAddress=fa:16:3e:00:00:01",
	}
	for _, file := range []string{"network_data.json", "network_data_bond.json"} {
		for r, mac := range want {
			t.Run(file+"/"+string(r), func(t *testing.T) {
				n, err := readNetworkFile(filepath.Join("..", "..", "inject", "testdata", file))
				if err != nil {
					t.Fatal(err)
				}
				n.Renderer = r
				fsys, err := memlayout.Build(layout)
				if err != nil {
					t.Fatal(err)
				}
				report, err := inject.Apply(context.Background(), fsys, inject.Spec{Network: n})
				if file == "network_data_bond.json" {
					if r == inject.RendererIfcfg {
						var re *inject.RendererError
						if !errors.As(err, &re) || re.Renderer != r {
							t.Fatalf("ifcfg planned a VLAN on a MAC-only parent: %v", err)
						}
						return
					}
					mac = strings.NewReplacer("fa:16:3e:00:00:01", "a0:36:9f:2c:e8:71", "FA:16:3E:00:00:01", "A0:36:9F:2C:E8:71").Replace(mac)
				}
				if err != nil {
					t.Fatal(err)
				}
				found := false
				for _, c := range report.Changes {
					if data, err := vfs.ReadFile(context.Background(), fsys, c.Path, 1<<20); err == nil && strings.Contains(string(data), mac) {
						found = true
					}
				}
				if !found {
					t.Errorf("no file written for %s matches %s", r, mac)
				}
			})
		}
	}
}

func TestNetworkYAMLBondVLAN(t *testing.T) {
	path := filepath.Join(t.TempDir(), "net.yaml")
	yaml := `interfaces:
  - mac: fa:16:3e:00:00:02
  - mac: fa:16:3e:00:00:03
  - name: bond0
    bond: {members: ["fa:16:3e:00:00:02", "fa:16:3e:00:00:03"], mode: 802.3ad, miimon: 100, xmit-hash-policy: layer3+4, lacp-rate: fast}
    ipv6: slaac
  - name: bond0.10
    vlan: {link: bond0, id: 10}
    addresses: [198.51.100.2/24]
`
	if err := os.WriteFile(path, []byte(yaml), 0o644); err != nil {
		t.Fatal(err)
	}
	n, err := readNetworkFile(path)
	if err != nil {
		t.Fatal(err)
	}
	b, v := n.Interfaces[2], n.Interfaces[3]
	if b.Bond == nil || b.Bond.Mode != "802.3ad" || b.Bond.MIIMon != 100 || b.Bond.XmitHashPolicy != "layer3+4" || b.Bond.LACPRate != "fast" || len(b.Bond.Members) != 2 || b.IPv6 != inject.IPv6SLAAC {
		t.Errorf("bond0 = %+v %+v", b, b.Bond)
	}
	if v.VLAN == nil || *v.VLAN != (inject.VLAN{Link: "bond0", ID: 10}) {
		t.Errorf("bond0.10 = %+v", v)
	}
}

// TestE2ENetworkDataIfupdown injects a MAC-only network_data.json with
// --network into an image through the appliance and reads back the
// pinned name and its stanzas.
func TestE2ENetworkDataIfupdown(t *testing.T) {
	guestimage.NeedAppliance(t)
	dir := t.TempDir()
	tree := filepath.Join(dir, "tree")
	guestimage.WriteTree(t, tree)
	for _, d := range []string{"lib/systemd", "etc/network/interfaces.d", "sbin"} {
		if err := os.MkdirAll(filepath.Join(tree, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	for _, f := range []string{"lib/systemd/systemd-udevd", "sbin/ifup"} {
		if err := os.WriteFile(filepath.Join(tree, f), nil, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	img := filepath.Join(dir, "guest.img")
	testimage.Run(t, "mkfs.ext4", "-q", "-F", "-d", tree, img, "64M")
	r := cli(t, "", "inject", img, "--format", "raw", "--network", filepath.Join("..", "..", "inject", "testdata", "network_data.json"), "--network-renderer", "ifupdown")
	if r.code != exitOK {
		t.Fatalf("inject: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	link := guestimage.Cat(t, img, "/etc/systemd/network/10-guestinject-lan0.link")
	if !strings.Contains(link, "PermanentMACAddress=fa:16:3e:00:00:01") || !strings.Contains(link, "Name=lan0") {
		t.Errorf(".link file:\n%s", link)
	}
	stanzas := guestimage.Cat(t, img, "/etc/network/interfaces.d/50-guestinject")
	for _, want := range []string{"auto lan0\n", "iface lan0 inet static\n    address 192.0.2.10/24\n", "iface lan1 inet dhcp\n"} {
		if !strings.Contains(stanzas, want) {
			t.Errorf("stanzas lack %q:\n%s", want, stanzas)
		}
	}
	for _, want := range []string{"10-guestinject-lan0.link", "10-guestinject-lan1.link", "50-guestinject"} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("the report does not list %s:\n%s", want, r.stdout)
		}
	}
}
