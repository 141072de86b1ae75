package inject

import (
	"context"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/guestinject/guestinject/internal/guestetc"
)

func (p *planner) planNetwork(ctx context.Context, spec *Spec) error {
	n := spec.Network
	if n == nil {
		return nil
	}
	item := singleItem(FieldNetwork)
	if err := n.validate(); err != nil {
		return itemErr(item, "", err)
	}
	r := n.Renderer
	if r == RendererAuto {
		var err error
		if r, err = p.detectRenderer(ctx, item); err != nil {
			return err
		}
	}
	var files []renderedFile
	switch r {
	case RendererNetplan:
		files = []renderedFile{renderNetplan(n)}
	case RendererNetworkManager:
		files = renderNetworkManager(n)
	case RendererNetworkd:
		files = renderNetworkd(n)
	case RendererIfcfg:
		var err error
		if files, err = renderIfcfg(n); err != nil {
			return itemErr(item, "", err)
		}
	case RendererIfupdown:
		var err error
		if files, err = p.ifupdownFiles(ctx, item, n); err != nil {
			return err
		}
	default:
		return itemErrf(item, "", ErrInvalidSpec, "unknown renderer %q", r)
	}
	for _, f := range files {
		rendered := item
		rendered.Renderer = r
		if err := p.planFile(ctx, rendered, File{Path: f.path, Content: []byte(f.content), Mode: f.mode}); err != nil {
			return err
		}
	}
	return nil
}

var sourceInterfacesD = regexp.MustCompile(`(?m)^\s*source(-directory)?\s+/etc/network/interfaces\.d(/\*)?\s*$`)

// ifupdownFiles renders ifupdown stanzas and pins the names of interfaces
// known only by MAC address (see pinFiles). The stanzas go to a file
// under interfaces.d when the guest's /etc/network/interfaces sources
// that directory and configures none of the interfaces; otherwise they
// replace /etc/network/interfaces whole, as two stanzas for one
// interface would make ifup fail.
func (p *planner) ifupdownFiles(ctx context.Context, item Item, n *Network) ([]renderedFile, error) {
	const main = ifupdownMain
	// Debian's ifenslave package hooks bond-* options into ifup.
	if n.hasKind(true) && !p.has(ctx, ifupdownEnslaver) {
		return nil, itemErr(item, "", &RendererError{Renderer: RendererIfupdown, Feature: "bonds without the guest's ifenslave package (/etc/network/if-pre-up.d/ifenslave)"})
	}
	files, err := p.pinFiles(ctx, item, n)
	if err != nil {
		return nil, err
	}
	stanzas := renderIfupdown(n)
	old, err := p.readEtc(ctx, main)
	if err != nil {
		return nil, itemErr(item, main, err)
	}
	if sourceInterfacesD.Match(old) {
		clash := false
		for _, name := range n.deviceNames() {
			if regexp.MustCompile(`(?m)^\s*(iface|auto|allow-hotplug)\s+` + regexp.QuoteMeta(name) + `(\s|$)`).Match(old) {
				clash = true
			}
		}
		if !clash {
			return append(files, renderedFile{path: ifupdownInclude, content: generatedHeader + stanzas, mode: 0o644}), nil
		}
	}
	content := generatedHeader + "source /etc/network/interfaces.d/*\n\nauto lo\niface lo inet loopback\n" + stanzas
	return append(files, renderedFile{path: main, content: content, mode: 0o644}), nil
}

// udevKind says how the guest's udev names interfaces.
type udevKind int

const (
	udevNone    udevKind = iota
	udevSystemd          // systemd-udevd: .link files, then rules
	udevRules            // eudev or an older udev: rules only
)

// udevFlavor finds the guest's udev from its daemon's location.
func (p *planner) udevFlavor(ctx context.Context) udevKind {
	switch {
	case p.has(ctx, udevdSystemd...):
		return udevSystemd
	case p.has(ctx, udevdOther...):
		return udevRules
	}
	return udevNone
}

// pinFiles pins a name to every interface known only by MAC address, so
// configuration written for that name finds it: a systemd .link file
// each when the guest's udev is systemd-udevd, otherwise one udev rules
// file. A guest without udev cannot have names pinned.
func (p *planner) pinFiles(ctx context.Context, item Item, n *Network) ([]renderedFile, error) {
	names := n.deviceNames()
	var files []renderedFile
	flavor := udevNone
	for k, i := range n.Interfaces {
		if i.Name != "" || i.MAC == "" {
			continue
		}
		if flavor == udevNone {
			if flavor = p.udevFlavor(ctx); flavor == udevNone {
				return nil, itemErr(item, "", &RendererError{Renderer: RendererIfupdown, Feature: "an interface known only by MAC address on a guest without udev to pin its name"})
			}
			if flavor == udevRules {
				return []renderedFile{udevRule(names, n)}, nil
			}
		}
		files = append(files, linkFile(names[k], i.mac()))
	}
	return files, nil
}

// has reports whether any of the guest paths exists.
func (p *planner) has(ctx context.Context, names ...string) bool {
	p.view.prefetch(ctx, names...)
	for _, n := range names {
		if _, err := p.fsys.Stat(ctx, n); err == nil {
			return true
		}
	}
	return false
}

// Where detectRenderer and udevFlavor look: any one name of a list is
// enough.
var (
	osReleaseFiles  = []string{"/etc/os-release", "/usr/lib/os-release"}
	netplanConfig   = []string{"/etc/netplan"}
	netplanTools    = []string{"/usr/sbin/netplan", "/usr/bin/netplan", "/lib/netplan/generate", "/usr/lib/netplan/generate", "/usr/libexec/netplan/generate"}
	ifcfgDir        = []string{"/etc/sysconfig/network-scripts"}
	ifcfgScripts    = []string{"/etc/sysconfig/network-scripts/ifup-eth", "/usr/sbin/ifup-eth"}
	networkManager  = []string{"/usr/sbin/NetworkManager", "/usr/bin/NetworkManager"}
	ifupdownTools   = []string{"/sbin/ifup", "/usr/sbin/ifup"}
	ifupdownConfig  = []string{"/etc/network"}
	networkdDaemons = []string{"/usr/lib/systemd/systemd-networkd", "/lib/systemd/systemd-networkd"}
	udevdSystemd    = []string{"/lib/systemd/systemd-udevd", "/usr/lib/systemd/systemd-udevd"}
	udevdOther      = []string{"/sbin/udevd", "/usr/sbin/udevd", "/lib/udev/udevd", "/usr/lib/udev/udevd", "/lib/udev/rules.d", "/usr/lib/udev/rules.d"}
)

const (
	ifupdownMain     = "/etc/network/interfaces"
	ifupdownInclude  = "/etc/network/interfaces.d/50-guestinject"
	ifupdownEnslaver = "/etc/network/if-pre-up.d/ifenslave"
)

func networkLookups(spec *Spec) []string {
	if spec.Network == nil {
		return nil
	}
	return slices.Concat(osReleaseFiles, netplanConfig, netplanTools, ifcfgDir, ifcfgScripts, networkManager,
		ifupdownTools, ifupdownConfig, networkdDaemons, udevdSystemd, udevdOther,
		[]string{ifupdownMain, ifupdownInclude, ifupdownEnslaver})
}

// detectRenderer picks the network format from what the guest has
// installed and, where that is ambiguous, from its os-release.
func (p *planner) detectRenderer(ctx context.Context, item Item) (Renderer, error) {
	var data []byte
	for _, name := range osReleaseFiles {
		var err error
		if data, err = p.readEtc(ctx, name); err != nil {
			return "", itemErr(item, name, err)
		}
		if data != nil {
			break
		}
	}
	osr := guestetc.ParseOSRelease(data)
	has := func(names ...string) bool { return p.has(ctx, names...) }
	rhelLike := osr.Like("rhel") || osr.Like("fedora") || osr.Like("centos")
	major, _ := strconv.Atoi(strings.SplitN(osr["VERSION_ID"], ".", 2)[0])
	switch {
	case has(netplanConfig...) && has(netplanTools...):
		return RendererNetplan, nil
	case rhelLike && major > 0 && major < 9 && has(ifcfgDir...):
		return RendererIfcfg, nil
	case has(networkManager...):
		return RendererNetworkManager, nil
	case has(ifcfgScripts...):
		return RendererIfcfg, nil
	case has(ifupdownTools...) && has(ifupdownConfig...):
		return RendererIfupdown, nil
	case has(networkdDaemons...):
		return RendererNetworkd, nil
	}
	return "", itemErrf(item, "", ErrUnsupported, "no known network configuration tool found in the guest (os-release ID %q); set Network.Renderer", osr["ID"])
}
