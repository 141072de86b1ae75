package inject

import (
	"encoding/json"
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"strings"
)

// MaxNetworkDataSize bounds the network_data.json ParseNetworkData takes.
const MaxNetworkDataSize = 1 << 20

// ErrNetworkData: network_data.json is malformed or uses something the
// model cannot express.
var ErrNetworkData = fmt.Errorf("%w: network_data.json", ErrInvalidSpec)

type networkData struct {
	Links []struct {
		ID   string `json:"id"`
		Type string `json:"type"`
		MAC  string `json:"ethernet_mac_address"`
		MTU  *int   `json:"mtu"`
		Name string `json:"name"`
		// Bonds.
		BondLinks          []string `json:"bond_links"`
		BondMode           string   `json:"bond_mode"`
		BondMIIMon         flexInt  `json:"bond_miimon"`
		BondXmitHashPolicy string   `json:"bond_xmit_hash_policy"`
		BondLACPRate       string   `json:"bond_lacp_rate"`
		// VLANs.
		VLANLink string  `json:"vlan_link"`
		VLANID   flexInt `json:"vlan_id"`
	} `json:"links"`
	Networks []struct {
		ID        string `json:"id"`
		Type      string `json:"type"`
		Link      string `json:"link"`
		IPAddress string `json:"ip_address"`
		Netmask   string `json:"netmask"`
		Routes    []struct {
			Network string `json:"network"`
			Netmask string `json:"netmask"`
			Gateway string `json:"gateway"`
		} `json:"routes"`
		Services []ndService `json:"services"`
	} `json:"networks"`
	Services []ndService `json:"services"`
}

// flexInt is a number that some OpenStack services send as a string
// ("bond_miimon": "100").
type flexInt int

func (f *flexInt) UnmarshalJSON(b []byte) error {
	var s string
	if json.Unmarshal(b, &s) == nil {
		b = []byte(s)
	}
	var v int
	if err := json.Unmarshal(b, &v); err != nil {
		return fmt.Errorf("not an integer: %s", b)
	}
	*f = flexInt(v)
	return nil
}

type ndService struct {
	Type    string `json:"type"`
	Address string `json:"address"`
}

// ParseNetworkData converts OpenStack's network_data.json (the format of
// Nova's config drive and metadata service) into a Network. Ethernet
// interfaces are matched by MAC address, as the guest's names are unknown
// to OpenStack; a link's "name", when present, is used too. Bond links
// become bonds named "bond0", "bond1"... (OpenStack's link ids name host
// devices, not guest ones); VLAN links become VLANs named
// "<parent>.<id>", or "vlan<id>" on a parent known only by MAC address,
// unless the link has a "name". Links that carry no network and no bond
// or VLAN are left out.
func ParseNetworkData(data []byte) (*Network, error) {
	if len(data) > MaxNetworkDataSize {
		return nil, fmt.Errorf("%w: %d bytes, limit %d", ErrNetworkData, len(data), MaxNetworkDataSize)
	}
	var nd networkData
	if err := json.Unmarshal(data, &nd); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrNetworkData, err)
	}
	bad := func(format string, args ...any) error {
		return fmt.Errorf("%w: %s", ErrNetworkData, fmt.Sprintf(format, args...))
	}
	if len(nd.Links) > MaxInterfaces {
		return nil, bad("%d links, limit %d", len(nd.Links), MaxInterfaces)
	}
	n := &Network{}
	byLink := map[string]int{}
	used := map[string]bool{}
	for _, l := range nd.Links {
		used[l.Name] = true
	}
	// free returns name, or name with a suffix when another interface
	// has it.
	free := func(name string) string {
		out := name
		for k := 1; used[out]; k++ {
			out = fmt.Sprintf("%s-%d", name, k)
		}
		used[out] = true
		return out
	}
	bonds := 0
	for _, l := range nd.Links {
		if _, dup := byLink[l.ID]; dup || l.ID == "" {
			return nil, bad("link id %q missing or repeated", l.ID)
		}
		i := Interface{Name: l.Name}
		switch strings.ToLower(l.Type) {
		case "bond":
			i.Bond = &Bond{Mode: l.BondMode, MIIMon: int(l.BondMIIMon), XmitHashPolicy: l.BondXmitHashPolicy, LACPRate: l.BondLACPRate}
			if i.Name == "" {
				i.Name = free(fmt.Sprintf("bond%d", bonds))
			}
			bonds++
		case "vlan":
			i.VLAN = &VLAN{ID: int(l.VLANID)}
		default:
			i.MAC = l.MAC
		}
		if l.MTU != nil {
			i.MTU = *l.MTU
		}
		byLink[l.ID] = len(n.Interfaces)
		n.Interfaces = append(n.Interfaces, i)
	}
	// Bonds and VLANs name their links by id: refer to them by the
	// guest's name, or MAC.
	ref := func(k int) string {
		if i := n.Interfaces[k]; i.Name != "" {
			return i.Name
		}
		return n.Interfaces[k].MAC
	}
	for _, l := range nd.Links {
		i := &n.Interfaces[byLink[l.ID]]
		if i.Bond != nil {
			for _, m := range l.BondLinks {
				k, ok := byLink[m]
				if !ok {
					return nil, bad("bond %q: unknown link %q", l.ID, m)
				}
				i.Bond.Members = append(i.Bond.Members, ref(k))
			}
		}
	}
	for _, l := range nd.Links {
		i := &n.Interfaces[byLink[l.ID]]
		if i.VLAN != nil {
			k, ok := byLink[l.VLANLink]
			if !ok {
				return nil, bad("VLAN %q: unknown link %q", l.ID, l.VLANLink)
			}
			i.VLAN.Link = ref(k)
			if i.Name == "" {
				if p := n.Interfaces[k].Name; p != "" && len(p)+len(strconv.Itoa(i.VLAN.ID)) < 15 {
					i.Name = free(p + "." + strconv.Itoa(i.VLAN.ID))
				} else {
					i.Name = free("vlan" + strconv.Itoa(i.VLAN.ID))
				}
			}
		}
	}
	t := n.topology()
	for _, nw := range nd.Networks {
		k, ok := byLink[nw.Link]
		if !ok {
			return nil, bad("network %q: unknown link %q", nw.ID, nw.Link)
		}
		i := &n.Interfaces[k]
		if t.bond[k] >= 0 {
			return nil, bad("network %q: link %q is a bond member", nw.ID, nw.Link)
		}
		v6 := func(m IPv6Mode) error {
			switch cur := i.ipv6Mode(); {
			case m == IPv6Static && cur != IPv6Default:
				// Static addresses go along with any dynamic mode.
			case cur == IPv6Default || cur == IPv6Static || cur == m:
				if m == IPv6DHCPv6Stateful {
					i.DHCPv6, i.IPv6 = true, IPv6Default
				} else {
					i.IPv6 = m
				}
			default:
				return bad("network %q: IPv6 type %q on a link already %q", nw.ID, nw.Type, cur)
			}
			return nil
		}
		var err error
		switch nw.Type {
		case "ipv4_dhcp":
			i.DHCPv4 = true
		case "ipv6_dhcp", "ipv6_dhcpv6-stateful":
			err = v6(IPv6DHCPv6Stateful)
		case "ipv6_dhcpv6-stateless":
			err = v6(IPv6DHCPv6Stateless)
		case "ipv6_slaac":
			err = v6(IPv6SLAAC)
		case "ipv6":
			err = v6(IPv6Static)
		}
		if err != nil {
			return nil, err
		}
		switch nw.Type {
		case "ipv4_dhcp", "ipv6_dhcp", "ipv6_dhcpv6-stateful", "ipv6_dhcpv6-stateless", "ipv6_slaac":
		case "ipv4", "ipv6":
			prefix, err := ndPrefix(nw.IPAddress, nw.Netmask)
			if err != nil || prefix.Addr().Is4() != (nw.Type == "ipv4") {
				return nil, bad("network %q: address %q netmask %q: not an %s address", nw.ID, nw.IPAddress, nw.Netmask, nw.Type)
			}
			i.Addresses = append(i.Addresses, prefix)
			for _, r := range nw.Routes {
				to, err := ndPrefix(r.Network, r.Netmask)
				via, err2 := netip.ParseAddr(r.Gateway)
				if err != nil || err2 != nil {
					return nil, bad("network %q: invalid route %q/%q via %q", nw.ID, r.Network, r.Netmask, r.Gateway)
				}
				switch {
				case to.Bits() == 0 && via.Is4() && !i.Gateway4.IsValid():
					i.Gateway4 = via
				case to.Bits() == 0 && via.Is6() && !i.Gateway6.IsValid():
					i.Gateway6 = via
				default:
					i.Routes = append(i.Routes, Route{To: to.Masked(), Via: via})
				}
			}
		default:
			return nil, bad("network %q: unsupported type %q", nw.ID, nw.Type)
		}
		for _, s := range nw.Services {
			if err := addDNS(&i.DNS, s); err != nil {
				return nil, bad("network %q: %v", nw.ID, err)
			}
		}
	}
	for _, s := range nd.Services {
		if err := addDNS(&n.DNS, s); err != nil {
			return nil, bad("%v", err)
		}
	}
	// Links without networks, bonds or VLANs stay unconfigured rather
	// than half-configured.
	needed := make([]bool, len(n.Interfaces))
	for k, i := range n.Interfaces {
		if i.hasIP() || i.Bond != nil || i.VLAN != nil {
			needed[k] = true
		}
		if i.Bond != nil {
			for _, m := range i.Bond.Members {
				if j := t.lookup(m); j >= 0 {
					needed[j] = true
				}
			}
		}
		if i.VLAN != nil {
			if j := t.lookup(i.VLAN.Link); j >= 0 {
				needed[j] = true
			}
		}
	}
	configured := n.Interfaces[:0]
	for k, i := range n.Interfaces {
		if needed[k] {
			configured = append(configured, i)
		}
	}
	n.Interfaces = configured
	if err := n.validate(); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrNetworkData, err)
	}
	return n, nil
}

func addDNS(d *DNS, s ndService) error {
	if s.Type != "dns" {
		return nil
	}
	a, err := netip.ParseAddr(s.Address)
	if err != nil {
		return fmt.Errorf("invalid DNS server %q", s.Address)
	}
	d.Servers = append(d.Servers, a)
	return nil
}

// ndPrefix combines an address and a netmask ("255.255.255.0",
// "ffff:ffff::", or a prefix length) into a prefix; an address that
// already carries "/len" needs no netmask.
func ndPrefix(addr, mask string) (netip.Prefix, error) {
	if strings.Contains(addr, "/") && mask == "" {
		return netip.ParsePrefix(addr)
	}
	a, err := netip.ParseAddr(addr)
	if err != nil || a.Zone() != "" {
		return netip.Prefix{}, fmt.Errorf("invalid address %q", addr)
	}
	var bits int
	if m, err := netip.ParseAddr(mask); err == nil {
		if m.Is4() != a.Is4() {
			return netip.Prefix{}, fmt.Errorf("netmask %q does not match %q", mask, addr)
		}
		ones, size := net.IPMask(m.AsSlice()).Size()
		if size == 0 {
			return netip.Prefix{}, fmt.Errorf("netmask %q is not contiguous", mask)
		}
		bits = ones
	} else if _, err := fmt.Sscanf(mask, "%d", &bits); err != nil || fmt.Sprint(bits) != mask {
		return netip.Prefix{}, fmt.Errorf("invalid netmask %q", mask)
	}
	p := netip.PrefixFrom(a, bits)
	if !p.IsValid() {
		return netip.Prefix{}, fmt.Errorf("netmask %q too long for %q", mask, addr)
	}
	return p, nil
}
