package inject

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/guestinject/guestinject/internal/testsupport/testimage"
)

// writeRendered writes rendered guest files under a host directory.
func writeRendered(t *testing.T, files map[string]node) string {
	t.Helper()
	root := t.TempDir()
	for p, n := range files {
		host := filepath.Join(root, filepath.FromSlash(p))
		if err := os.MkdirAll(filepath.Dir(host), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(host, []byte(n.Data), n.Mode.Perm()); err != nil {
			t.Fatal(err)
		}
	}
	return root
}

// TestNetplanGenerateAccepts runs netplan's own generator on the rendered
// YAML and checks what it makes of it.
func TestNetplanGenerateAccepts(t *testing.T) {
	netplan := testimage.NeedTool(t, "netplan")
	n := testNetwork()
	n.Renderer = RendererNetplan
	files, _ := renderedTree(t, debianLayout, n)
	root := writeRendered(t, files)
	if out, err := exec.Command(netplan, "generate", "--root-dir", root).CombinedOutput(); err != nil {
		t.Fatalf("netplan generate: %v\n%s", err, out)
	}
	eth0, err := os.ReadFile(filepath.Join(root, "run/systemd/network/10-netplan-eth0.network"))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"Address=192.0.2.11/24", "Address=2001:db8::10/64", "Gateway=192.0.2.1", "Destination=10.20.0.0/16", "Metric=100", "DNS=2001:db8::53", "Domains=example.org corp.example.org", "MACAddress=fa:16:3e:00:00:01"} {
		if !strings.Contains(string(eth0), want) {
			t.Errorf("netplan's networkd output lacks %q:\n%s", want, eth0)
		}
	}
	eth1, err := os.ReadFile(filepath.Join(root, "run/systemd/network/10-netplan-eth1.network"))
	if err != nil || !strings.Contains(string(eth1), "DHCP=yes") {
		t.Errorf("eth1: %v\n%s", err, eth1)
	}
}

// TestIfqueryAccepts parses the rendered ifupdown stanzas with ifquery.
func TestIfqueryAccepts(t *testing.T) {
	ifquery := testimage.NeedTool(t, "ifquery")
	n := testNetwork()
	n.Renderer = RendererIfupdown
	files, _ := renderedTree(t, debianLayout, n)
	root := writeRendered(t, files)
	file := filepath.Join(root, "etc/network/interfaces.d/50-guestinject")
	state := t.TempDir()
	out, err := exec.Command(ifquery, "-i", file, "--state-dir", state, "--list", "-a").CombinedOutput()
	// ifquery lists the loopback it always knows about, then ours in order.
	if err != nil || strings.Join(strings.Fields(strings.TrimPrefix(string(out), "lo\n")), " ") != "eth0 eth1" {
		t.Fatalf("ifquery --list: %v\n%s", err, out)
	}
	out, err = exec.Command(ifquery, "-i", file, "--state-dir", state, "eth0").CombinedOutput()
	if err != nil {
		t.Fatalf("ifquery eth0: %v\n%s", err, out)
	}
	for _, want := range []string{"address: 192.0.2.10", "netmask: 255.255.255.0", "gateway: 192.0.2.1", "up: ip addr add 192.0.2.11/24 dev eth0", "address: 2001:db8::10", "netmask: 64", "gateway: 2001:db8::1", "mtu: 1450", "dns-search: example.org corp.example.org"} {
		if !strings.Contains(string(out), want) {
			t.Errorf("ifquery eth0 lacks %q:\n%s", want, out)
		}
	}
}
