package inject

import (
	"fmt"
	"net"
	"net/netip"
	"strings"
)

// Network is a guest network configuration, rendered into the format of
// the guest's network manager.
type Network struct {
	// Renderer forces a format; empty picks one from the guest.
	Renderer Renderer
	// Interfaces are configured in order.
	Interfaces []Interface
	// DNS applies to the whole guest.
	DNS DNS
}

// Renderer names a guest network configuration format.
type Renderer string

// Renderers.
const (
	RendererAuto           Renderer = ""
	RendererIfupdown       Renderer = "ifupdown"       // Debian /etc/network/interfaces
	RendererNetplan        Renderer = "netplan"        // Ubuntu /etc/netplan
	RendererNetworkManager Renderer = "networkmanager" // NetworkManager keyfiles
	RendererIfcfg          Renderer = "ifcfg"          // RHEL /etc/sysconfig/network-scripts
	RendererNetworkd       Renderer = "networkd"       // systemd-networkd
)

// Interface configures one network interface, found by Name or by MAC.
type Interface struct {
	// Name is the interface name in the guest ("eth0", "ens3").
	Name string
	// MAC matches the interface by hardware address ("fa:16:3e:00:00:01").
	MAC string
	// DHCPv4 and DHCPv6 request addresses by DHCP.
	DHCPv4, DHCPv6 bool
	// Addresses are static addresses with their prefix lengths.
	Addresses []netip.Prefix
	// Gateway4 and Gateway6 are default gateways.
	Gateway4, Gateway6 netip.Addr
	// Routes are static routes.
	Routes []Route
	// MTU, when not zero, sets the interface MTU.
	MTU int
	// DNS applies to this interface.
	DNS DNS
}

// Route is a static route.
type Route struct {
	To     netip.Prefix
	Via    netip.Addr
	Metric int
}

// DNS is name server configuration.
type DNS struct {
	Servers []netip.Addr
	Search  []string
}

func (d DNS) empty() bool { return len(d.Servers) == 0 && len(d.Search) == 0 }

// id is a stable name for an interface's configuration files.
func (i Interface) id(n int) string {
	if i.Name != "" {
		return i.Name
	}
	return fmt.Sprintf("if%d", n)
}

func (i Interface) mac() string {
	hw, _ := net.ParseMAC(i.MAC)
	return hw.String()
}

// validate checks the network model; renderers rely on what it checks.
func (n *Network) validate() error {
	if len(n.Interfaces) == 0 {
		return fmt.Errorf("%w: no interfaces", ErrInvalidSpec)
	}
	names := map[string]bool{}
	for k, i := range n.Interfaces {
		bad := func(format string, args ...any) error {
			return fmt.Errorf("%w: interface %d (%s%s): %s", ErrInvalidSpec, k, i.Name, i.MAC, fmt.Sprintf(format, args...))
		}
		if i.Name == "" && i.MAC == "" {
			return bad("needs a name or a MAC address")
		}
		if i.Name != "" {
			if len(i.Name) > 15 || strings.ContainsAny(i.Name, "/: \t\n\"'\\$#=*[]") || i.Name == "." || i.Name == ".." {
				return bad("invalid interface name")
			}
			if names[i.Name] {
				return bad("configured twice")
			}
			names[i.Name] = true
		}
		if i.MAC != "" {
			if hw, err := net.ParseMAC(i.MAC); err != nil || len(hw) != 6 {
				return bad("invalid MAC address %q", i.MAC)
			}
		}
		if i.MTU != 0 && (i.MTU < 68 || i.MTU > 65535) {
			return bad("MTU %d out of range", i.MTU)
		}
		for _, a := range i.Addresses {
			if !a.IsValid() {
				return bad("invalid address")
			}
		}
		if i.Gateway4.IsValid() && !i.Gateway4.Is4() {
			return bad("Gateway4 %v is not IPv4", i.Gateway4)
		}
		if i.Gateway6.IsValid() && !i.Gateway6.Is6() {
			return bad("Gateway6 %v is not IPv6", i.Gateway6)
		}
		for _, r := range i.Routes {
			if !r.To.IsValid() || !r.Via.IsValid() || r.To.Addr().Is4() != r.Via.Is4() || r.Metric < 0 {
				return bad("invalid route %v via %v", r.To, r.Via)
			}
		}
		if err := i.DNS.validate(); err != nil {
			return bad("%v", err)
		}
		if !i.DHCPv4 && !i.DHCPv6 && len(i.Addresses) == 0 {
			return bad("neither DHCP nor an address")
		}
	}
	if err := n.DNS.validate(); err != nil {
		return fmt.Errorf("%w: %v", ErrInvalidSpec, err)
	}
	return nil
}

func (d DNS) validate() error {
	for _, s := range d.Servers {
		if !s.IsValid() {
			return fmt.Errorf("invalid DNS server")
		}
	}
	for _, s := range d.Search {
		if !validHostname(s) {
			return fmt.Errorf("invalid search domain %q", s)
		}
	}
	return nil
}

func (i Interface) v4() []netip.Prefix { return filterPrefixes(i.Addresses, true) }
func (i Interface) v6() []netip.Prefix { return filterPrefixes(i.Addresses, false) }

func filterPrefixes(ps []netip.Prefix, v4 bool) []netip.Prefix {
	var out []netip.Prefix
	for _, p := range ps {
		if p.Addr().Is4() == v4 {
			out = append(out, p)
		}
	}
	return out
}

// mergedDNS is the interface's DNS followed by the global DNS.
func (n *Network) mergedDNS(i Interface) DNS {
	return DNS{Servers: append(append([]netip.Addr{}, i.DNS.Servers...), n.DNS.Servers...), Search: append(append([]string{}, i.DNS.Search...), n.DNS.Search...)}
}
