package main

import (
	"bytes"
	"fmt"
	"io"
	"net/netip"
	"os"
	"path/filepath"
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/guestinject/guestinject/inject"
)

// networkFile is the YAML form of a network configuration:
//
//	renderer: netplan            # optional: ifupdown, netplan, networkmanager, ifcfg, networkd
//	interfaces:
//	  - name: eth0               # or mac: fa:16:3e:00:00:01
//	    addresses: [192.0.2.10/24]
//	    gateway4: 192.0.2.1
//	    dhcp4: false
//	    mtu: 1500
//	    routes: [{to: 198.51.100.0/24, via: 192.0.2.254, metric: 100}]
//	    ipv6: slaac              # optional: static, slaac, dhcpv6-stateless, dhcpv6-stateful
//	  - mac: fa:16:3e:00:00:02   # bond members carry no addresses
//	  - mac: fa:16:3e:00:00:03
//	  - name: bond0
//	    bond: {members: ["fa:16:3e:00:00:02", "fa:16:3e:00:00:03"], mode: 802.3ad, miimon: 100, xmit-hash-policy: layer3+4, lacp-rate: fast}
//	    dhcp4: true
//	  - name: bond0.10
//	    vlan: {link: bond0, id: 10}
//	    addresses: [198.51.100.2/24]
//	dns: {servers: [192.0.2.53], search: [example.com]}
type networkFile struct {
	Renderer   string          `yaml:"renderer"`
	Interfaces []interfaceFile `yaml:"interfaces"`
	DNS        dnsFile         `yaml:"dns"`
}

type interfaceFile struct {
	Name      string      `yaml:"name"`
	MAC       string      `yaml:"mac"`
	DHCP4     bool        `yaml:"dhcp4"`
	DHCP6     bool        `yaml:"dhcp6"`
	Addresses []string    `yaml:"addresses"`
	Gateway4  string      `yaml:"gateway4"`
	Gateway6  string      `yaml:"gateway6"`
	Routes    []routeFile `yaml:"routes"`
	MTU       int         `yaml:"mtu"`
	DNS       dnsFile     `yaml:"dns"`
	IPv6      string      `yaml:"ipv6"`
	Bond      *bondFile   `yaml:"bond"`
	VLAN      *vlanFile   `yaml:"vlan"`
}

type bondFile struct {
	Members        []string `yaml:"members"`
	Mode           string   `yaml:"mode"`
	MIIMon         int      `yaml:"miimon"`
	XmitHashPolicy string   `yaml:"xmit-hash-policy"`
	LACPRate       string   `yaml:"lacp-rate"`
}

type vlanFile struct {
	Link string `yaml:"link"`
	ID   int    `yaml:"id"`
}

type routeFile struct {
	To     string `yaml:"to"`
	Via    string `yaml:"via"`
	Metric int    `yaml:"metric"`
}

type dnsFile struct {
	Servers []string `yaml:"servers"`
	Search  []string `yaml:"search"`
}

// readNetworkFile reads OpenStack's network_data.json (.json) or the YAML
// form above (.yaml, .yml).
func readNetworkFile(name string) (*inject.Network, error) {
	f, err := os.Open(name)
	if err != nil {
		return nil, fmt.Errorf("--network: %w", err)
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, inject.MaxNetworkDataSize+1))
	if err != nil {
		return nil, fmt.Errorf("--network: %w", err)
	}
	if len(data) > inject.MaxNetworkDataSize {
		return nil, fmt.Errorf("--network: %s is larger than %d bytes", name, inject.MaxNetworkDataSize)
	}
	switch strings.ToLower(filepath.Ext(name)) {
	case ".json":
		n, err := inject.ParseNetworkData(data)
		if err != nil {
			return nil, fmt.Errorf("--network %s: %w", name, err)
		}
		return n, nil
	case ".yaml", ".yml":
		n, err := parseNetworkYAML(data)
		if err != nil {
			return nil, fmt.Errorf("--network %s: %w", name, err)
		}
		return n, nil
	}
	return nil, usagef("--network %s: want a .json (network_data.json) or .yaml file", name)
}

func parseNetworkYAML(data []byte) (*inject.Network, error) {
	var nf networkFile
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(&nf); err != nil {
		return nil, err
	}
	n := &inject.Network{Renderer: inject.Renderer(nf.Renderer)}
	var err error
	if n.DNS, err = nf.DNS.model(); err != nil {
		return nil, err
	}
	for i, itf := range nf.Interfaces {
		m, err := itf.model()
		if err != nil {
			return nil, fmt.Errorf("interfaces[%d]: %w", i, err)
		}
		n.Interfaces = append(n.Interfaces, m)
	}
	return n, nil
}

func (d dnsFile) model() (inject.DNS, error) {
	out := inject.DNS{Search: d.Search}
	for _, s := range d.Servers {
		a, err := netip.ParseAddr(s)
		if err != nil {
			return inject.DNS{}, fmt.Errorf("dns server: %w", err)
		}
		out.Servers = append(out.Servers, a)
	}
	return out, nil
}

func (f interfaceFile) model() (inject.Interface, error) {
	itf := inject.Interface{Name: f.Name, MAC: f.MAC, DHCPv4: f.DHCP4, DHCPv6: f.DHCP6, MTU: f.MTU, IPv6: inject.IPv6Mode(f.IPv6)}
	if b := f.Bond; b != nil {
		itf.Bond = &inject.Bond{Members: b.Members, Mode: b.Mode, MIIMon: b.MIIMon, XmitHashPolicy: b.XmitHashPolicy, LACPRate: b.LACPRate}
	}
	if v := f.VLAN; v != nil {
		itf.VLAN = &inject.VLAN{Link: v.Link, ID: v.ID}
	}
	for _, s := range f.Addresses {
		p, err := netip.ParsePrefix(s)
		if err != nil {
			return itf, fmt.Errorf("address: %w", err)
		}
		itf.Addresses = append(itf.Addresses, p)
	}
	var err error
	if itf.Gateway4, err = optionalAddr(f.Gateway4); err != nil {
		return itf, fmt.Errorf("gateway4: %w", err)
	}
	if itf.Gateway6, err = optionalAddr(f.Gateway6); err != nil {
		return itf, fmt.Errorf("gateway6: %w", err)
	}
	for _, r := range f.Routes {
		to, err := netip.ParsePrefix(r.To)
		if err != nil {
			return itf, fmt.Errorf("route: %w", err)
		}
		via, err := netip.ParseAddr(r.Via)
		if err != nil {
			return itf, fmt.Errorf("route via: %w", err)
		}
		itf.Routes = append(itf.Routes, inject.Route{To: to, Via: via, Metric: r.Metric})
	}
	itf.DNS, err = f.DNS.model()
	return itf, err
}

func optionalAddr(s string) (netip.Addr, error) {
	if s == "" {
		return netip.Addr{}, nil
	}
	return netip.ParseAddr(s)
}
