package inject

import (
	"crypto/sha1"
	"fmt"
	"io/fs"
	"net/netip"
	"strconv"
	"strings"
)

// renderedFile is one configuration file a renderer produces.
type renderedFile struct {
	path    string
	content string
	mode    fs.FileMode
}

const generatedHeader = "# Written by guestinject.\n"

func joinAddrs(as []netip.Addr, sep string) string {
	s := make([]string, len(as))
	for i, a := range as {
		s[i] = a.String()
	}
	return strings.Join(s, sep)
}

func needNames(n *Network, r Renderer) error {
	for k, i := range n.Interfaces {
		if i.Name == "" {
			return fmt.Errorf("%w: %s configuration needs interface names; interface %d has only a MAC address", ErrUnsupported, r, k)
		}
	}
	return nil
}

// renderIfupdown renders Debian ifupdown stanzas (without the loopback).
func renderIfupdown(n *Network) (string, error) {
	if err := needNames(n, RendererIfupdown); err != nil {
		return "", err
	}
	var b strings.Builder
	for _, i := range n.Interfaces {
		fmt.Fprintf(&b, "\nauto %s\n", i.Name)
		if i.MAC != "" {
			fmt.Fprintf(&b, "# expected hardware address %s\n", i.mac())
		}
		dns := n.mergedDNS(i)
		first := true
		family := func(fam string, dhcp bool, addrs []netip.Prefix, gw netip.Addr, v4 bool) {
			switch {
			case dhcp:
				fmt.Fprintf(&b, "iface %s %s dhcp\n", i.Name, fam)
			case len(addrs) > 0:
				fmt.Fprintf(&b, "iface %s %s static\n", i.Name, fam)
				fmt.Fprintf(&b, "    address %s\n", addrs[0])
				if gw.IsValid() {
					fmt.Fprintf(&b, "    gateway %s\n", gw)
				}
				// ifupdown takes one address option per stanza.
				for _, a := range addrs[1:] {
					fmt.Fprintf(&b, "    up ip addr add %s dev %s\n", a, i.Name)
				}
			default:
				return
			}
			if first {
				if i.MTU != 0 {
					fmt.Fprintf(&b, "    mtu %d\n", i.MTU)
				}
				if len(dns.Servers) > 0 {
					fmt.Fprintf(&b, "    dns-nameservers %s\n", joinAddrs(dns.Servers, " "))
				}
				if len(dns.Search) > 0 {
					fmt.Fprintf(&b, "    dns-search %s\n", strings.Join(dns.Search, " "))
				}
				first = false
			}
			for _, r := range i.Routes {
				if r.To.Addr().Is4() != v4 {
					continue
				}
				metric := ""
				if r.Metric != 0 {
					metric = " metric " + strconv.Itoa(r.Metric)
				}
				fmt.Fprintf(&b, "    up ip route add %s via %s%s dev %s\n", r.To, r.Via, metric, i.Name)
			}
		}
		family("inet", i.DHCPv4, i.v4(), i.Gateway4, true)
		family("inet6", i.DHCPv6, i.v6(), i.Gateway6, false)
	}
	return b.String(), nil
}

// renderNetplan renders one netplan YAML file. Every string is quoted, so
// YAML never reads an address or name as another type.
func renderNetplan(n *Network) renderedFile {
	var b strings.Builder
	b.WriteString(generatedHeader + "network:\n  version: 2\n  ethernets:\n")
	for k, i := range n.Interfaces {
		fmt.Fprintf(&b, "    %q:\n", i.id(k))
		if i.MAC != "" {
			fmt.Fprintf(&b, "      match:\n        macaddress: %q\n", i.mac())
			if i.Name != "" {
				fmt.Fprintf(&b, "      set-name: %q\n", i.Name)
			}
		}
		fmt.Fprintf(&b, "      dhcp4: %t\n      dhcp6: %t\n", i.DHCPv4, i.DHCPv6)
		if len(i.Addresses) > 0 {
			b.WriteString("      addresses:\n")
			for _, a := range i.Addresses {
				fmt.Fprintf(&b, "        - %q\n", a.String())
			}
		}
		var routes []Route
		if i.Gateway4.IsValid() {
			routes = append(routes, Route{Via: i.Gateway4})
		}
		if i.Gateway6.IsValid() {
			routes = append(routes, Route{Via: i.Gateway6})
		}
		routes = append(routes, i.Routes...)
		if len(routes) > 0 {
			b.WriteString("      routes:\n")
			for _, r := range routes {
				to := "default"
				if r.To.IsValid() {
					to = r.To.String()
				}
				fmt.Fprintf(&b, "        - to: %q\n          via: %q\n", to, r.Via.String())
				if r.Metric != 0 {
					fmt.Fprintf(&b, "          metric: %d\n", r.Metric)
				}
			}
		}
		if i.MTU != 0 {
			fmt.Fprintf(&b, "      mtu: %d\n", i.MTU)
		}
		if dns := n.mergedDNS(i); !dns.empty() {
			b.WriteString("      nameservers:\n")
			if len(dns.Servers) > 0 {
				b.WriteString("        addresses:\n")
				for _, s := range dns.Servers {
					fmt.Fprintf(&b, "          - %q\n", s.String())
				}
			}
			if len(dns.Search) > 0 {
				b.WriteString("        search:\n")
				for _, s := range dns.Search {
					fmt.Fprintf(&b, "          - %q\n", s)
				}
			}
		}
	}
	return renderedFile{path: "/etc/netplan/50-guestinject.yaml", content: b.String(), mode: 0o600}
}

// stableUUID derives a UUID (version 5 layout) from s, so rendering the
// same network twice gives the same files.
func stableUUID(s string) string {
	h := sha1.Sum([]byte("guestinject:" + s))
	h[6] = h[6]&0x0f | 0x50
	h[8] = h[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", h[0:4], h[4:6], h[6:8], h[8:10], h[10:16])
}

// renderNetworkManager renders one NetworkManager keyfile per interface.
func renderNetworkManager(n *Network) []renderedFile {
	var out []renderedFile
	for k, i := range n.Interfaces {
		id := "guestinject-" + i.id(k)
		var b strings.Builder
		b.WriteString(generatedHeader)
		fmt.Fprintf(&b, "[connection]\nid=%s\nuuid=%s\ntype=ethernet\nautoconnect=true\n", id, stableUUID(id))
		if i.Name != "" {
			fmt.Fprintf(&b, "interface-name=%s\n", i.Name)
		}
		b.WriteString("\n[ethernet]\n")
		if i.MAC != "" {
			fmt.Fprintf(&b, "mac-address=%s\n", strings.ToUpper(i.mac()))
		}
		if i.MTU != 0 {
			fmt.Fprintf(&b, "mtu=%d\n", i.MTU)
		}
		dns := n.mergedDNS(i)
		family := func(section string, dhcp bool, addrs []netip.Prefix, gw netip.Addr, v4 bool, off string) {
			fmt.Fprintf(&b, "\n[%s]\n", section)
			method := off
			switch {
			case len(addrs) > 0:
				method = "manual"
			case dhcp && v4:
				method = "auto"
			case dhcp:
				method = "dhcp"
			}
			fmt.Fprintf(&b, "method=%s\n", method)
			for j, a := range addrs {
				fmt.Fprintf(&b, "address%d=%s\n", j+1, a)
			}
			if gw.IsValid() {
				fmt.Fprintf(&b, "gateway=%s\n", gw)
			}
			var servers []netip.Addr
			for _, s := range dns.Servers {
				if s.Is4() == v4 {
					servers = append(servers, s)
				}
			}
			if len(servers) > 0 {
				fmt.Fprintf(&b, "dns=%s;\n", joinAddrs(servers, ";"))
			}
			if len(dns.Search) > 0 && v4 {
				fmt.Fprintf(&b, "dns-search=%s;\n", strings.Join(dns.Search, ";"))
			}
			j := 0
			for _, r := range i.Routes {
				if r.To.Addr().Is4() != v4 {
					continue
				}
				j++
				fmt.Fprintf(&b, "route%d=%s,%s", j, r.To, r.Via)
				if r.Metric != 0 {
					fmt.Fprintf(&b, ",%d", r.Metric)
				}
				b.WriteString("\n")
			}
		}
		family("ipv4", i.DHCPv4, i.v4(), i.Gateway4, true, "disabled")
		family("ipv6", i.DHCPv6, i.v6(), i.Gateway6, false, "ignore")
		out = append(out, renderedFile{path: "/etc/NetworkManager/system-connections/" + id + ".nmconnection", content: b.String(), mode: 0o600})
	}
	return out
}

// renderIfcfg renders RHEL ifcfg, route and route6 files.
func renderIfcfg(n *Network) ([]renderedFile, error) {
	if err := needNames(n, RendererIfcfg); err != nil {
		return nil, err
	}
	const dir = "/etc/sysconfig/network-scripts/"
	var out []renderedFile
	for _, i := range n.Interfaces {
		var b strings.Builder
		b.WriteString(generatedHeader)
		fmt.Fprintf(&b, "DEVICE=%s\nTYPE=Ethernet\nONBOOT=yes\n", i.Name)
		if i.MAC != "" {
			fmt.Fprintf(&b, "HWADDR=%s\n", i.mac())
		}
		v4, v6 := i.v4(), i.v6()
		if i.DHCPv4 && len(v4) == 0 {
			b.WriteString("BOOTPROTO=dhcp\n")
		} else {
			b.WriteString("BOOTPROTO=none\n")
		}
		for j, a := range v4 {
			fmt.Fprintf(&b, "IPADDR%d=%s\nPREFIX%d=%d\n", j, a.Addr(), j, a.Bits())
		}
		if i.Gateway4.IsValid() {
			fmt.Fprintf(&b, "GATEWAY=%s\n", i.Gateway4)
		}
		if i.DHCPv6 || len(v6) > 0 {
			b.WriteString("IPV6INIT=yes\n")
		}
		if i.DHCPv6 {
			b.WriteString("DHCPV6C=yes\n")
		}
		if len(v6) > 0 {
			fmt.Fprintf(&b, "IPV6ADDR=%s\n", v6[0])
			if len(v6) > 1 {
				s := make([]string, len(v6)-1)
				for j, a := range v6[1:] {
					s[j] = a.String()
				}
				fmt.Fprintf(&b, "IPV6ADDR_SECONDARIES=\"%s\"\n", strings.Join(s, " "))
			}
		}
		if i.Gateway6.IsValid() {
			fmt.Fprintf(&b, "IPV6_DEFAULTGW=%s\n", i.Gateway6)
		}
		if i.MTU != 0 {
			fmt.Fprintf(&b, "MTU=%d\n", i.MTU)
		}
		dns := n.mergedDNS(i)
		for j, s := range dns.Servers {
			fmt.Fprintf(&b, "DNS%d=%s\n", j+1, s)
		}
		if len(dns.Search) > 0 {
			fmt.Fprintf(&b, "DOMAIN=\"%s\"\n", strings.Join(dns.Search, " "))
		}
		out = append(out, renderedFile{path: dir + "ifcfg-" + i.Name, content: b.String(), mode: 0o644})
		for _, fam := range []struct {
			file string
			v4   bool
		}{{"route-", true}, {"route6-", false}} {
			var r strings.Builder
			for _, rt := range i.Routes {
				if rt.To.Addr().Is4() != fam.v4 {
					continue
				}
				fmt.Fprintf(&r, "%s via %s dev %s", rt.To, rt.Via, i.Name)
				if rt.Metric != 0 {
					fmt.Fprintf(&r, " metric %d", rt.Metric)
				}
				r.WriteString("\n")
			}
			if r.Len() > 0 {
				out = append(out, renderedFile{path: dir + fam.file + i.Name, content: generatedHeader + r.String(), mode: 0o644})
			}
		}
	}
	return out, nil
}

// renderNetworkd renders one systemd-networkd .network file per interface.
func renderNetworkd(n *Network) []renderedFile {
	var out []renderedFile
	for k, i := range n.Interfaces {
		var b strings.Builder
		b.WriteString(generatedHeader + "[Match]\n")
		if i.Name != "" {
			fmt.Fprintf(&b, "Name=%s\n", i.Name)
		}
		if i.MAC != "" {
			fmt.Fprintf(&b, "MACAddress=%s\n", i.mac())
		}
		if i.MTU != 0 {
			fmt.Fprintf(&b, "\n[Link]\nMTUBytes=%d\n", i.MTU)
		}
		b.WriteString("\n[Network]\n")
		switch {
		case i.DHCPv4 && i.DHCPv6:
			b.WriteString("DHCP=yes\n")
		case i.DHCPv4:
			b.WriteString("DHCP=ipv4\n")
		case i.DHCPv6:
			b.WriteString("DHCP=ipv6\n")
		}
		for _, a := range i.Addresses {
			fmt.Fprintf(&b, "Address=%s\n", a)
		}
		for _, gw := range []netip.Addr{i.Gateway4, i.Gateway6} {
			if gw.IsValid() {
				fmt.Fprintf(&b, "Gateway=%s\n", gw)
			}
		}
		dns := n.mergedDNS(i)
		for _, s := range dns.Servers {
			fmt.Fprintf(&b, "DNS=%s\n", s)
		}
		if len(dns.Search) > 0 {
			fmt.Fprintf(&b, "Domains=%s\n", strings.Join(dns.Search, " "))
		}
		for _, r := range i.Routes {
			fmt.Fprintf(&b, "\n[Route]\nDestination=%s\nGateway=%s\n", r.To, r.Via)
			if r.Metric != 0 {
				fmt.Fprintf(&b, "Metric=%d\n", r.Metric)
			}
		}
		out = append(out, renderedFile{path: "/etc/systemd/network/50-guestinject-" + i.id(k) + ".network", content: b.String(), mode: 0o644})
	}
	return out
}
