package inject

import (
	"encoding/json"
	"fmt"
	"net"
	"net/netip"
	"strings"
)

// MaxNetworkDataSize bounds the network_data.json ParseNetworkData takes.
const MaxNetworkDataSize = 1 << 20

// ErrNetworkData: network_data.json is malformed or uses something the
// model cannot express (bonds, VLANs).
var ErrNetworkData = fmt.Errorf("%w: network_data.json", ErrInvalidSpec)

type networkData struct {
	Links []struct {
		ID   string `json:"id"`
		Type string `json:"type"`
		MAC  string `json:"ethernet_mac_address"`
		MTU  *int   `json:"mtu"`
		Name string `json:"name"`
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

type ndService struct {
	Type    string `json:"type"`
	Address string `json:"address"`
}

// ParseNetworkData converts OpenStack's network_data.json (the format of
// Nova's config drive and metadata service) into a Network. Interfaces are
// matched by MAC address, as the guest's names are unknown to OpenStack;
// a link's "name", when present, is used too.
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
	n := &Network{}
	byLink := map[string]int{}
	for _, l := range nd.Links {
		switch strings.ToLower(l.Type) {
		case "vlan", "bond":
			return nil, bad("link %q: %s links are not supported", l.ID, l.Type)
		}
		if _, dup := byLink[l.ID]; dup || l.ID == "" {
			return nil, bad("link id %q missing or repeated", l.ID)
		}
		i := Interface{Name: l.Name, MAC: l.MAC}
		if l.MTU != nil {
			i.MTU = *l.MTU
		}
		byLink[l.ID] = len(n.Interfaces)
		n.Interfaces = append(n.Interfaces, i)
	}
	for _, nw := range nd.Networks {
		k, ok := byLink[nw.Link]
		if !ok {
			return nil, bad("network %q: unknown link %q", nw.ID, nw.Link)
		}
		i := &n.Interfaces[k]
		switch nw.Type {
		case "ipv4_dhcp":
			i.DHCPv4 = true
		case "ipv6_dhcp", "ipv6_dhcpv6-stateful", "ipv6_dhcpv6-stateless", "ipv6_slaac":
			i.DHCPv6 = true
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
	// Links without networks stay unconfigured rather than half-configured.
	configured := n.Interfaces[:0]
	for _, i := range n.Interfaces {
		if i.DHCPv4 || i.DHCPv6 || len(i.Addresses) > 0 {
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
