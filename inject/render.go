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

// ifupdownOrder lists the interfaces Ethernet first, then bonds, then
// VLANs, as ifup -a raises them in file order and a VLAN's parent must
// exist first.
func ifupdownOrder(n *Network) []int {
	var order []int
	for pass := 0; pass < 3; pass++ {
		for k, i := range n.Interfaces {
			if (pass == 0 && i.ethernet()) || (pass == 1 && i.Bond != nil) || (pass == 2 && i.VLAN != nil) {
				order = append(order, k)
			}
		}
	}
	return order
}

// renderIfupdown renders Debian ifupdown stanzas (without the loopback).
// Interfaces known only by MAC address are configured under their pinned
// names (Network.deviceNames); pinning them is the caller's part.
func renderIfupdown(n *Network) string {
	t := n.topology()
	names := n.deviceNames()
	var b strings.Builder
	for _, k := range ifupdownOrder(n) {
		i := n.Interfaces[k]
		if t.bond[k] >= 0 {
			// The bond's bond-slaves enslaves it.
			continue
		}
		name := names[k]
		fmt.Fprintf(&b, "\nauto %s\n", name)
		switch {
		case i.MAC != "" && i.Name != "":
			fmt.Fprintf(&b, "# expected hardware address %s\n", i.mac())
		case i.MAC != "":
			fmt.Fprintf(&b, "# the name is pinned to hardware address %s\n", i.mac())
		}
		dns := n.mergedDNS(i)
		first := true
		// options are the lines every interface carries once, in its
		// first stanza.
		options := func() {
			if !first {
				return
			}
			first = false
			if i.MTU != 0 {
				fmt.Fprintf(&b, "    mtu %d\n", i.MTU)
			}
			if v := i.VLAN; v != nil && i.Name != names[t.lookup(v.Link)]+"."+strconv.Itoa(v.ID) {
				// ifupdown creates VLANs named <parent>.<id> by itself;
				// others without Debian's vlan package.
				fmt.Fprintf(&b, "    pre-up ip link add link %s name %s type vlan id %d\n", names[t.lookup(v.Link)], i.Name, v.ID)
				fmt.Fprintf(&b, "    post-down ip link delete %s\n", i.Name)
			}
			if bo := i.Bond; bo != nil {
				members := make([]string, len(bo.Members))
				for j, m := range bo.Members {
					members[j] = names[t.lookup(m)]
				}
				fmt.Fprintf(&b, "    bond-slaves %s\n", strings.Join(members, " "))
				if bo.Mode != "" {
					fmt.Fprintf(&b, "    bond-mode %s\n", bo.Mode)
				}
				if bo.MIIMon != 0 {
					fmt.Fprintf(&b, "    bond-miimon %d\n", bo.MIIMon)
				}
				if bo.XmitHashPolicy != "" {
					fmt.Fprintf(&b, "    bond-xmit-hash-policy %s\n", bo.XmitHashPolicy)
				}
				if bo.LACPRate != "" {
					fmt.Fprintf(&b, "    bond-lacp-rate %s\n", bo.LACPRate)
				}
			}
			if len(dns.Servers) > 0 {
				fmt.Fprintf(&b, "    dns-nameservers %s\n", joinAddrs(dns.Servers, " "))
			}
			if len(dns.Search) > 0 {
				fmt.Fprintf(&b, "    dns-search %s\n", strings.Join(dns.Search, " "))
			}
		}
		// family writes one stanza; method is dhcp, auto, static or
		// manual. ifupdown takes one address option per stanza: the
		// others, and all of them in a dhcp or auto stanza, are added by
		// up commands.
		family := func(fam, method string, addrs []netip.Prefix, gw netip.Addr, v4 bool, extra ...string) {
			fmt.Fprintf(&b, "iface %s %s %s\n", name, fam, method)
			more := addrs
			if method == "static" {
				fmt.Fprintf(&b, "    address %s\n", addrs[0])
				if gw.IsValid() {
					fmt.Fprintf(&b, "    gateway %s\n", gw)
				}
				more = addrs[1:]
			}
			for _, a := range more {
				fmt.Fprintf(&b, "    up ip addr add %s dev %s\n", a, name)
			}
			if method != "static" && gw.IsValid() {
				fmt.Fprintf(&b, "    up ip route add default via %s dev %s\n", gw, name)
			}
			for _, e := range extra {
				fmt.Fprintf(&b, "    %s\n", e)
			}
			options()
			for _, r := range i.Routes {
				if r.To.Addr().Is4() != v4 {
					continue
				}
				metric := ""
				if r.Metric != 0 {
					metric = " metric " + strconv.Itoa(r.Metric)
				}
				fmt.Fprintf(&b, "    up ip route add %s via %s%s dev %s\n", r.To, r.Via, metric, name)
			}
		}
		v4, v6 := i.v4(), i.v6()
		switch {
		case i.DHCPv4:
			family("inet", "dhcp", v4, i.Gateway4, true)
		case len(v4) > 0:
			family("inet", "static", v4, i.Gateway4, true)
		}
		switch i.ipv6Mode() {
		case IPv6DHCPv6Stateful:
			family("inet6", "dhcp", v6, i.Gateway6, false)
		case IPv6SLAAC:
			family("inet6", "auto", v6, i.Gateway6, false)
		case IPv6DHCPv6Stateless:
			family("inet6", "auto", v6, i.Gateway6, false, "dhcp 1")
		case IPv6Static:
			if len(v6) > 0 {
				family("inet6", "static", v6, i.Gateway6, false, "accept_ra 0")
			}
		default:
			if len(v6) > 0 {
				family("inet6", "static", v6, i.Gateway6, false)
			}
		}
		if first {
			// A VLAN parent or an address-less bond is brought up
			// without addresses.
			family("inet", "manual", nil, netip.Addr{}, true)
		}
	}
	return b.String()
}

// linkFile pins name to the interface with hardware address mac for a
// guest whose udev is systemd-udevd. PermanentMACAddress keeps VLANs and
// bonds that inherit the address from matching; MACAddress keeps a
// systemd too old to know PermanentMACAddress from matching every
// interface.
func linkFile(name, mac string) renderedFile {
	return renderedFile{
		path:    "/etc/systemd/network/10-guestinject-" + name + ".link",
		content: fmt.Sprintf("%s[Match]\nMACAddress=%s\nPermanentMACAddress=%s\n\n[Link]\nName=%s\n", generatedHeader, mac, mac, name),
		mode:    0o644,
	}
}

// udevRule pins names to hardware addresses for a guest whose udev reads
// only rules. DRIVERS=="?*" keeps VLANs and bonds, which have no driver,
// from matching.
func udevRule(names []string, n *Network) renderedFile {
	var b strings.Builder
	b.WriteString(generatedHeader)
	for k, i := range n.Interfaces {
		if i.Name == "" && i.MAC != "" {
			fmt.Fprintf(&b, "SUBSYSTEM==\"net\", ACTION==\"add\", DRIVERS==\"?*\", ATTR{address}==\"%s\", ATTR{type}==\"1\", NAME=\"%s\"\n", i.mac(), names[k])
		}
	}
	return renderedFile{path: "/etc/udev/rules.d/70-guestinject-net.rules", content: b.String(), mode: 0o644}
}

// netplanIP writes the address configuration of one netplan device.
func netplanIP(b *strings.Builder, n *Network, i Interface) {
	m := i.ipv6Mode()
	fmt.Fprintf(b, "      dhcp4: %t\n      dhcp6: %t\n", i.DHCPv4, m == IPv6DHCPv6Stateful || m == IPv6DHCPv6Stateless)
	switch m {
	case IPv6Static:
		b.WriteString("      accept-ra: false\n")
	case IPv6SLAAC, IPv6DHCPv6Stateless:
		b.WriteString("      accept-ra: true\n")
	}
	if len(i.Addresses) > 0 {
		b.WriteString("      addresses:\n")
		for _, a := range i.Addresses {
			fmt.Fprintf(b, "        - %q\n", a.String())
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
			fmt.Fprintf(b, "        - to: %q\n          via: %q\n", to, r.Via.String())
			if r.Metric != 0 {
				fmt.Fprintf(b, "          metric: %d\n", r.Metric)
			}
		}
	}
	if i.MTU != 0 {
		fmt.Fprintf(b, "      mtu: %d\n", i.MTU)
	}
	if dns := n.mergedDNS(i); !dns.empty() {
		b.WriteString("      nameservers:\n")
		if len(dns.Servers) > 0 {
			b.WriteString("        addresses:\n")
			for _, s := range dns.Servers {
				fmt.Fprintf(b, "          - %q\n", s.String())
			}
		}
		if len(dns.Search) > 0 {
			b.WriteString("        search:\n")
			for _, s := range dns.Search {
				fmt.Fprintf(b, "          - %q\n", s)
			}
		}
	}
}

// renderNetplan renders one netplan YAML file. Every string is quoted, so
// YAML never reads an address or name as another type. Interfaces known
// only by MAC address get the netplan IDs "if<index>" and are matched by
// address.
func renderNetplan(n *Network) renderedFile {
	t := n.topology()
	var b strings.Builder
	b.WriteString(generatedHeader + "network:\n  version: 2\n  ethernets:\n")
	for k, i := range n.Interfaces {
		if !i.ethernet() {
			continue
		}
		fmt.Fprintf(&b, "    %q:\n", i.id(k))
		if i.MAC != "" {
			fmt.Fprintf(&b, "      match:\n        macaddress: %q\n", i.mac())
			if i.Name != "" {
				fmt.Fprintf(&b, "      set-name: %q\n", i.Name)
			}
		}
		netplanIP(&b, n, i)
	}
	if n.hasKind(true) {
		b.WriteString("  bonds:\n")
		for k, i := range n.Interfaces {
			if i.Bond == nil {
				continue
			}
			fmt.Fprintf(&b, "    %q:\n      interfaces:\n", i.id(k))
			for _, m := range i.Bond.Members {
				j := t.lookup(m)
				fmt.Fprintf(&b, "        - %q\n", n.Interfaces[j].id(j))
			}
			if bo := i.Bond; bo.Mode != "" || bo.MIIMon != 0 || bo.XmitHashPolicy != "" || bo.LACPRate != "" {
				b.WriteString("      parameters:\n")
				if bo.Mode != "" {
					fmt.Fprintf(&b, "        mode: %q\n", bo.Mode)
				}
				if bo.MIIMon != 0 {
					fmt.Fprintf(&b, "        mii-monitor-interval: %d\n", bo.MIIMon)
				}
				if bo.XmitHashPolicy != "" {
					fmt.Fprintf(&b, "        transmit-hash-policy: %q\n", bo.XmitHashPolicy)
				}
				if bo.LACPRate != "" {
					fmt.Fprintf(&b, "        lacp-rate: %q\n", bo.LACPRate)
				}
			}
			netplanIP(&b, n, i)
		}
	}
	if n.hasKind(false) {
		b.WriteString("  vlans:\n")
		for k, i := range n.Interfaces {
			if i.VLAN == nil {
				continue
			}
			j := t.lookup(i.VLAN.Link)
			fmt.Fprintf(&b, "    %q:\n      id: %d\n      link: %q\n", i.id(k), i.VLAN.ID, n.Interfaces[j].id(j))
			netplanIP(&b, n, i)
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

// nmID is the NetworkManager connection id of interface k.
func nmID(n *Network, k int) string { return "guestinject-" + n.Interfaces[k].id(k) }

// renderNetworkManager renders one NetworkManager keyfile per interface.
// Bond members name their bond by interface name; a VLAN names its parent
// by interface name or, for a parent known only by MAC address, by the
// parent connection's UUID.
func renderNetworkManager(n *Network) []renderedFile {
	t := n.topology()
	var out []renderedFile
	for k, i := range n.Interfaces {
		id := nmID(n, k)
		kind := "ethernet"
		switch {
		case i.Bond != nil:
			kind = "bond"
		case i.VLAN != nil:
			kind = "vlan"
		}
		var b strings.Builder
		b.WriteString(generatedHeader)
		fmt.Fprintf(&b, "[connection]\nid=%s\nuuid=%s\ntype=%s\nautoconnect=true\n", id, stableUUID(id), kind)
		if i.Name != "" {
			fmt.Fprintf(&b, "interface-name=%s\n", i.Name)
		}
		bond := t.bond[k]
		if bond >= 0 {
			fmt.Fprintf(&b, "master=%s\nslave-type=bond\n", n.Interfaces[bond].Name)
		}
		if i.ethernet() || i.MTU != 0 {
			b.WriteString("\n[ethernet]\n")
		}
		if i.MAC != "" {
			fmt.Fprintf(&b, "mac-address=%s\n", strings.ToUpper(i.mac()))
		}
		if i.MTU != 0 {
			fmt.Fprintf(&b, "mtu=%d\n", i.MTU)
		}
		if bo := i.Bond; bo != nil {
			b.WriteString("\n[bond]\n")
			mode := bo.Mode
			if mode == "" {
				mode = "balance-rr"
			}
			fmt.Fprintf(&b, "mode=%s\n", mode)
			if bo.MIIMon != 0 {
				fmt.Fprintf(&b, "miimon=%d\n", bo.MIIMon)
			}
			if bo.XmitHashPolicy != "" {
				fmt.Fprintf(&b, "xmit_hash_policy=%s\n", bo.XmitHashPolicy)
			}
			if bo.LACPRate != "" {
				fmt.Fprintf(&b, "lacp_rate=%s\n", bo.LACPRate)
			}
		}
		if v := i.VLAN; v != nil {
			j := t.lookup(v.Link)
			parent := n.Interfaces[j].Name
			if parent == "" {
				parent = stableUUID(nmID(n, j))
			}
			fmt.Fprintf(&b, "\n[vlan]\nid=%d\nparent=%s\n", v.ID, parent)
		}
		if bond >= 0 {
			// A bond member has no IP configuration of its own.
			out = append(out, renderedFile{path: "/etc/NetworkManager/system-connections/" + id + ".nmconnection", content: b.String(), mode: 0o600})
			continue
		}
		dns := n.mergedDNS(i)
		family := func(section string, method string, addrs []netip.Prefix, gw netip.Addr, v4 bool) {
			fmt.Fprintf(&b, "\n[%s]\nmethod=%s\n", section, method)
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
		v4, v6 := i.v4(), i.v6()
		method4 := "disabled"
		switch {
		case i.DHCPv4:
			method4 = "auto"
		case len(v4) > 0:
			method4 = "manual"
		}
		method6 := "ignore"
		switch i.ipv6Mode() {
		case IPv6DHCPv6Stateful:
			method6 = "dhcp"
		case IPv6SLAAC, IPv6DHCPv6Stateless:
			method6 = "auto"
		case IPv6Static:
			method6 = "disabled"
			if len(v6) > 0 {
				method6 = "manual"
			}
		default:
			if len(v6) > 0 {
				method6 = "manual"
			}
		}
		family("ipv4", method4, v4, i.Gateway4, true)
		family("ipv6", method6, v6, i.Gateway6, false)
		out = append(out, renderedFile{path: "/etc/NetworkManager/system-connections/" + id + ".nmconnection", content: b.String(), mode: 0o600})
	}
	return out
}

// renderIfcfg renders RHEL ifcfg, route and route6 files. An interface
// known only by MAC address has no DEVICE line: initscripts and
// NetworkManager's ifcfg-rh plugin find it by HWADDR. Its files are named
// after its index ("ifcfg-if0").
func renderIfcfg(n *Network) ([]renderedFile, error) {
	t := n.topology()
	const dir = "/etc/sysconfig/network-scripts/"
	var out []renderedFile
	for k, i := range n.Interfaces {
		id := i.id(k)
		var b strings.Builder
		b.WriteString(generatedHeader)
		if i.Name != "" {
			fmt.Fprintf(&b, "DEVICE=%s\n", i.Name)
		}
		switch {
		case i.Bond != nil:
			b.WriteString("TYPE=Bond\nBONDING_MASTER=yes\n")
			var opts []string
			if i.Bond.Mode != "" {
				opts = append(opts, "mode="+i.Bond.Mode)
			}
			if i.Bond.MIIMon != 0 {
				opts = append(opts, "miimon="+strconv.Itoa(i.Bond.MIIMon))
			}
			if i.Bond.XmitHashPolicy != "" {
				opts = append(opts, "xmit_hash_policy="+i.Bond.XmitHashPolicy)
			}
			if i.Bond.LACPRate != "" {
				opts = append(opts, "lacp_rate="+i.Bond.LACPRate)
			}
			if len(opts) > 0 {
				fmt.Fprintf(&b, "BONDING_OPTS=\"%s\"\n", strings.Join(opts, " "))
			}
		case i.VLAN != nil:
			parent := n.Interfaces[t.lookup(i.VLAN.Link)]
			if parent.Name == "" {
				return nil, &RendererError{Renderer: RendererIfcfg, Feature: fmt.Sprintf("VLAN %s on an interface known only by MAC address (PHYSDEV needs its name)", i.Name)}
			}
			fmt.Fprintf(&b, "TYPE=Vlan\nVLAN=yes\nPHYSDEV=%s\nVLAN_ID=%d\n", parent.Name, i.VLAN.ID)
		default:
			b.WriteString("TYPE=Ethernet\n")
		}
		b.WriteString("ONBOOT=yes\n")
		if i.MAC != "" {
			fmt.Fprintf(&b, "HWADDR=%s\n", i.mac())
		}
		if bond := t.bond[k]; bond >= 0 {
			fmt.Fprintf(&b, "MASTER=%s\nSLAVE=yes\nBOOTPROTO=none\n", n.Interfaces[bond].Name)
			if i.MTU != 0 {
				fmt.Fprintf(&b, "MTU=%d\n", i.MTU)
			}
			out = append(out, renderedFile{path: dir + "ifcfg-" + id, content: b.String(), mode: 0o644})
			continue
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
		mode := i.ipv6Mode()
		if mode != IPv6Default || len(v6) > 0 {
			b.WriteString("IPV6INIT=yes\n")
		}
		switch mode {
		case IPv6DHCPv6Stateful:
			b.WriteString("DHCPV6C=yes\n")
		case IPv6DHCPv6Stateless:
			b.WriteString("IPV6_AUTOCONF=yes\nDHCPV6C=yes\nDHCPV6C_OPTIONS=-S\n")
		case IPv6SLAAC:
			b.WriteString("IPV6_AUTOCONF=yes\n")
		case IPv6Static:
			b.WriteString("IPV6_AUTOCONF=no\n")
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
		out = append(out, renderedFile{path: dir + "ifcfg-" + id, content: b.String(), mode: 0o644})
		for _, fam := range []struct {
			file string
			v4   bool
		}{{"route-", true}, {"route6-", false}} {
			var r strings.Builder
			for _, rt := range i.Routes {
				if rt.To.Addr().Is4() != fam.v4 {
					continue
				}
				fmt.Fprintf(&r, "%s via %s", rt.To, rt.Via)
				if i.Name != "" {
					fmt.Fprintf(&r, " dev %s", i.Name)
				}
				if rt.Metric != 0 {
					fmt.Fprintf(&r, " metric %d", rt.Metric)
				}
				r.WriteString("\n")
			}
			if r.Len() > 0 {
				out = append(out, renderedFile{path: dir + fam.file + id, content: generatedHeader + r.String(), mode: 0o644})
			}
		}
	}
	return out, nil
}

// renderNetworkd renders one systemd-networkd .network file per interface
// and a .netdev file per bond and VLAN. Interfaces are matched by
// permanent hardware address, which VLANs and bonds that inherit an
// address do not have.
func renderNetworkd(n *Network) []renderedFile {
	t := n.topology()
	var out []renderedFile
	for k, i := range n.Interfaces {
		base := "/etc/systemd/network/50-guestinject-" + i.id(k)
		if !i.ethernet() {
			var d strings.Builder
			d.WriteString(generatedHeader + "[NetDev]\n")
			fmt.Fprintf(&d, "Name=%s\n", i.Name)
			if i.MTU != 0 {
				fmt.Fprintf(&d, "MTUBytes=%d\n", i.MTU)
			}
			if bo := i.Bond; bo != nil {
				d.WriteString("Kind=bond\n\n[Bond]\n")
				if bo.Mode != "" {
					fmt.Fprintf(&d, "Mode=%s\n", bo.Mode)
				}
				if bo.MIIMon != 0 {
					fmt.Fprintf(&d, "MIIMonitorSec=%dms\n", bo.MIIMon)
				}
				if bo.XmitHashPolicy != "" {
					fmt.Fprintf(&d, "TransmitHashPolicy=%s\n", bo.XmitHashPolicy)
				}
				if bo.LACPRate != "" {
					fmt.Fprintf(&d, "LACPTransmitRate=%s\n", bo.LACPRate)
				}
			} else {
				fmt.Fprintf(&d, "Kind=vlan\n\n[VLAN]\nId=%d\n", i.VLAN.ID)
			}
			out = append(out, renderedFile{path: base + ".netdev", content: d.String(), mode: 0o644})
		}
		var b strings.Builder
		b.WriteString(generatedHeader + "[Match]\n")
		if i.Name != "" {
			fmt.Fprintf(&b, "Name=%s\n", i.Name)
		}
		if i.MAC != "" {
			fmt.Fprintf(&b, "PermanentMACAddress=%s\n", i.mac())
		}
		if i.MTU != 0 && i.ethernet() {
			fmt.Fprintf(&b, "\n[Link]\nMTUBytes=%d\n", i.MTU)
		}
		b.WriteString("\n[Network]\n")
		if bond := t.bond[k]; bond >= 0 {
			fmt.Fprintf(&b, "Bond=%s\nLinkLocalAddressing=no\n", n.Interfaces[bond].Name)
			out = append(out, renderedFile{path: base + ".network", content: b.String(), mode: 0o644})
			continue
		}
		mode := i.ipv6Mode()
		switch {
		case i.DHCPv4 && mode == IPv6DHCPv6Stateful:
			b.WriteString("DHCP=yes\n")
		case i.DHCPv4:
			b.WriteString("DHCP=ipv4\n")
		case mode == IPv6DHCPv6Stateful:
			b.WriteString("DHCP=ipv6\n")
		}
		switch mode {
		case IPv6Static:
			b.WriteString("IPv6AcceptRA=no\n")
		case IPv6SLAAC, IPv6DHCPv6Stateless:
			b.WriteString("IPv6AcceptRA=yes\n")
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
		for _, v := range t.vlans[k] {
			fmt.Fprintf(&b, "VLAN=%s\n", n.Interfaces[v].Name)
		}
		if mode == IPv6SLAAC {
			// Router advertisements asking for DHCPv6 are not followed.
			b.WriteString("\n[IPv6AcceptRA]\nDHCPv6Client=no\n")
		}
		for _, r := range i.Routes {
			fmt.Fprintf(&b, "\n[Route]\nDestination=%s\nGateway=%s\n", r.To, r.Via)
			if r.Metric != 0 {
				fmt.Fprintf(&b, "Metric=%d\n", r.Metric)
			}
		}
		out = append(out, renderedFile{path: base + ".network", content: b.String(), mode: 0o644})
	}
	return out
}
