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

// Interface configures one network interface: an Ethernet interface found
// by Name or by MAC, or, with Bond or VLAN set, a virtual interface the
// guest creates under Name.
type Interface struct {
	// Name is the interface name in the guest ("eth0", "ens3", "bond0").
	Name string
	// MAC matches an Ethernet interface by hardware address
	// ("fa:16:3e:00:00:01"). Renderers that can match by address do;
	// ifupdown pins a name to it (see PinnedNamePrefix).
	MAC string
	// Bond, when not nil, makes this a bond of other interfaces.
	Bond *Bond
	// VLAN, when not nil, makes this a VLAN on another interface.
	VLAN *VLAN
	// DHCPv4 and DHCPv6 request addresses by DHCP; DHCPv6 is
	// IPv6DHCPv6Stateful.
	DHCPv4, DHCPv6 bool
	// IPv6 says how IPv6 is configured beyond the static addresses.
	IPv6 IPv6Mode
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

// Bond is the configuration of a bonding interface.
type Bond struct {
	// Members name the bonded Ethernet interfaces of the Network: an
	// interface's Name, or its MAC when it has no Name.
	Members []string
	// Mode is the kernel bonding mode: balance-rr, active-backup,
	// balance-xor, broadcast, 802.3ad, balance-tlb or balance-alb.
	Mode string
	// MIIMon is the link monitoring interval in milliseconds; 0 leaves
	// the default.
	MIIMon int
	// XmitHashPolicy is layer2, layer2+3, layer3+4, encap2+3 or
	// encap3+4; empty leaves the default.
	XmitHashPolicy string
	// LACPRate is slow or fast (802.3ad only); empty leaves the default.
	LACPRate string
}

// VLAN is the configuration of an 802.1Q VLAN interface.
type VLAN struct {
	// Link names the parent interface of the Network: its Name, or its
	// MAC when it has no Name.
	Link string
	// ID is the VLAN tag, 1 to 4094.
	ID int
}

// IPv6Mode says how an interface configures IPv6 beyond its static
// addresses, after OpenStack's IPv6 network types.
type IPv6Mode string

// IPv6 modes.
const (
	// IPv6Default leaves router advertisements to the guest's default;
	// DHCPv6 requests addresses by DHCPv6.
	IPv6Default IPv6Mode = ""
	// IPv6Static uses only the static addresses: router advertisements
	// are ignored (OpenStack "ipv6").
	IPv6Static IPv6Mode = "static"
	// IPv6SLAAC takes addresses from router advertisements, without
	// DHCPv6 (OpenStack "ipv6_slaac").
	IPv6SLAAC IPv6Mode = "slaac"
	// IPv6DHCPv6Stateless takes addresses from router advertisements and
	// other configuration from DHCPv6 (OpenStack "ipv6_dhcpv6-stateless").
	IPv6DHCPv6Stateless IPv6Mode = "dhcpv6-stateless"
	// IPv6DHCPv6Stateful takes addresses from DHCPv6 (OpenStack
	// "ipv6_dhcpv6-stateful" and "ipv6_dhcp"); the same as DHCPv6.
	IPv6DHCPv6Stateful IPv6Mode = "dhcpv6-stateful"
)

// Bonding modes and transmit hash policies the kernel knows.
var (
	bondModes        = map[string]bool{"balance-rr": true, "active-backup": true, "balance-xor": true, "broadcast": true, "802.3ad": true, "balance-tlb": true, "balance-alb": true}
	bondHashPolicies = map[string]bool{"layer2": true, "layer2+3": true, "layer3+4": true, "encap2+3": true, "encap3+4": true}
)

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

// ethernet reports whether the interface is a physical one, not a bond
// or a VLAN.
func (i Interface) ethernet() bool { return i.Bond == nil && i.VLAN == nil }

// ipv6Mode is the interface's IPv6 mode, DHCPv6 counted as stateful.
func (i Interface) ipv6Mode() IPv6Mode {
	if i.DHCPv6 {
		return IPv6DHCPv6Stateful
	}
	return i.IPv6
}

// hasIP reports whether the interface carries any address configuration.
func (i Interface) hasIP() bool {
	m := i.ipv6Mode()
	return i.DHCPv4 || len(i.Addresses) > 0 || (m != IPv6Default && m != IPv6Static)
}

// topology is what bonds and VLANs make of a network's interfaces,
// computed once so that every question about it is a map or slice read.
type topology struct {
	refs  map[string]int
	bond  []int   // bond[k] is the index of the bond k belongs to, or -1
	vlans [][]int // vlans[k] are the VLANs whose parent is k
}

func (n *Network) topology() *topology {
	t := &topology{refs: map[string]int{}, bond: make([]int, len(n.Interfaces)), vlans: make([][]int, len(n.Interfaces))}
	for k, i := range n.Interfaces {
		t.bond[k] = -1
		if _, dup := t.refs[i.Name]; i.Name != "" && !dup {
			t.refs[i.Name] = k
		}
	}
	for k, i := range n.Interfaces {
		if _, dup := t.refs["mac "+i.mac()]; i.Name == "" && i.ethernet() && !dup {
			t.refs["mac "+i.mac()] = k
		}
	}
	for k, i := range n.Interfaces {
		if i.Bond != nil {
			for _, m := range i.Bond.Members {
				if j := t.lookup(m); j >= 0 && t.bond[j] < 0 {
					t.bond[j] = k
				}
			}
		}
		if i.VLAN != nil {
			if j := t.lookup(i.VLAN.Link); j >= 0 {
				t.vlans[j] = append(t.vlans[j], k)
			}
		}
	}
	return t
}

// lookup resolves a reference of a Bond or VLAN to an interface index: an
// interface's Name, or the MAC of an Ethernet interface without one.
// It returns -1 when nothing matches.
func (t *topology) lookup(ref string) int {
	if k, ok := t.refs[ref]; ok {
		return k
	}
	if hw, err := net.ParseMAC(ref); err == nil {
		if k, ok := t.refs["mac "+hw.String()]; ok {
			return k
		}
	}
	return -1
}

// hasKind reports whether any interface is a bond (bond true) or a VLAN.
func (n *Network) hasKind(bond bool) bool {
	for _, i := range n.Interfaces {
		if (bond && i.Bond != nil) || (!bond && i.VLAN != nil) {
			return true
		}
	}
	return false
}

// MaxInterfaces bounds the interfaces of a Network.
const MaxInterfaces = 1024

// validate checks the network model; renderers rely on what it checks.
func (n *Network) validate() error {
	if len(n.Interfaces) == 0 {
		return fmt.Errorf("%w: no interfaces", ErrInvalidSpec)
	}
	if len(n.Interfaces) > MaxInterfaces {
		return fmt.Errorf("%w: %d interfaces, limit %d", ErrInvalidSpec, len(n.Interfaces), MaxInterfaces)
	}
	names := map[string]bool{}
	macs := map[string]bool{}
	t := n.topology()
	// How bonds and VLANs use each interface.
	bondMember := map[int]int{}
	vlanParent := map[int]bool{}
	for k, i := range n.Interfaces {
		bad := func(format string, args ...any) error {
			return fmt.Errorf("%w: interface %d (%s%s): %s", ErrInvalidSpec, k, i.Name, i.MAC, fmt.Sprintf(format, args...))
		}
		if i.Name == "" && i.MAC == "" {
			return bad("needs a name or a MAC address")
		}
		if i.Name != "" {
			if len(i.Name) > 15 || strings.ContainsAny(i.Name, "/: \t\n\"'\\$#=*[]%,;") || i.Name == "." || i.Name == ".." {
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
			if macs[i.mac()] {
				return bad("MAC address configured twice")
			}
			macs[i.mac()] = true
		}
		if !i.ethernet() {
			if i.Bond != nil && i.VLAN != nil {
				return bad("both a bond and a VLAN")
			}
			if i.Name == "" || i.MAC != "" {
				return bad("a bond or VLAN needs a Name and matches no MAC address")
			}
		}
		if b := i.Bond; b != nil {
			if len(b.Members) == 0 || len(b.Members) > MaxInterfaces {
				return bad("a bond needs members")
			}
			for _, m := range b.Members {
				j := t.lookup(m)
				if j < 0 || !n.Interfaces[j].ethernet() {
					return bad("bond member %q is not an Ethernet interface of the network", m)
				}
				bondMember[j]++
			}
			if b.Mode != "" && !bondModes[b.Mode] {
				return bad("unknown bond mode %q", b.Mode)
			}
			if b.XmitHashPolicy != "" && !bondHashPolicies[b.XmitHashPolicy] {
				return bad("unknown bond transmit hash policy %q", b.XmitHashPolicy)
			}
			if b.LACPRate != "" && b.LACPRate != "slow" && b.LACPRate != "fast" {
				return bad("unknown LACP rate %q", b.LACPRate)
			}
			if b.MIIMon < 0 || b.MIIMon > 1000000 {
				return bad("bond MII monitoring interval %d out of range", b.MIIMon)
			}
		}
		if v := i.VLAN; v != nil {
			if v.ID < 1 || v.ID > 4094 {
				return bad("VLAN ID %d out of range", v.ID)
			}
			j := t.lookup(v.Link)
			if j < 0 || n.Interfaces[j].VLAN != nil {
				return bad("VLAN link %q is not an Ethernet or bond interface of the network", v.Link)
			}
			vlanParent[j] = true
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
		switch i.IPv6 {
		case IPv6Default, IPv6DHCPv6Stateful:
		case IPv6Static, IPv6SLAAC, IPv6DHCPv6Stateless:
			if i.DHCPv6 {
				return bad("DHCPv6 and IPv6 mode %q", i.IPv6)
			}
		default:
			return bad("unknown IPv6 mode %q", i.IPv6)
		}
	}
	for k, i := range n.Interfaces {
		bad := func(format string, args ...any) error {
			return fmt.Errorf("%w: interface %d (%s%s): %s", ErrInvalidSpec, k, i.Name, i.MAC, fmt.Sprintf(format, args...))
		}
		if i.Name == "" && names[i.id(k)] {
			// Its configuration files and netplan ID would be another's.
			return bad("another interface is named %q, the configuration name of this one", i.id(k))
		}
		switch {
		case bondMember[k] > 1:
			return bad("member of %d bonds", bondMember[k])
		case bondMember[k] == 1 && (i.hasIP() || i.Gateway4.IsValid() || i.Gateway6.IsValid() || len(i.Routes) > 0 || vlanParent[k]):
			return bad("a bond member carries no addresses, routes or VLANs of its own")
		case bondMember[k] == 0 && !vlanParent[k] && !i.hasIP():
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

// RendererError reports a feature of a Network that a renderer's format
// cannot express, or that the guest lacks the software for. It wraps
// ErrUnsupported.
type RendererError struct {
	Renderer Renderer
	// Feature says what cannot be rendered ("a VLAN on an interface
	// known only by MAC address").
	Feature string
}

func (e *RendererError) Error() string {
	return fmt.Sprintf("%s configuration cannot express %s", e.Renderer, e.Feature)
}

func (e *RendererError) Unwrap() error { return ErrUnsupported }

// PinnedNamePrefix starts the names the ifupdown renderer pins to
// interfaces known only by MAC address ("lan0", "lan1"...). systemd.link(5)
// warns against names the kernel itself hands out (eth0): udev's rename
// would race with the kernel's naming.
const PinnedNamePrefix = "lan"

// deviceNames returns the guest name of every interface: its Name, or for
// an interface known only by MAC address a pinned name that no other
// interface of the network uses.
func (n *Network) deviceNames() []string {
	used := map[string]bool{}
	for _, i := range n.Interfaces {
		used[i.Name] = true
	}
	out := make([]string, len(n.Interfaces))
	next := 0
	for k, i := range n.Interfaces {
		if i.Name != "" {
			out[k] = i.Name
			continue
		}
		for used[fmt.Sprintf("%s%d", PinnedNamePrefix, next)] {
			next++
		}
		out[k] = fmt.Sprintf("%s%d", PinnedNamePrefix, next)
		used[out[k]] = true
	}
	return out
}
