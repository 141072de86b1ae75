package inject

import (
	"context"
	"regexp"
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
		f, err := p.ifupdownFile(ctx, item, n)
		if err != nil {
			return err
		}
		files = []renderedFile{f}
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

// ifupdownFile writes a file under interfaces.d when the guest's
// /etc/network/interfaces sources that directory and configures none of
// the interfaces; otherwise it replaces /etc/network/interfaces whole, as
// two stanzas for one interface would make ifup fail.
func (p *planner) ifupdownFile(ctx context.Context, item Item, n *Network) (renderedFile, error) {
	const main = "/etc/network/interfaces"
	stanzas, err := renderIfupdown(n)
	if err != nil {
		return renderedFile{}, itemErr(item, main, err)
	}
	old, err := p.readEtc(ctx, main)
	if err != nil {
		return renderedFile{}, itemErr(item, main, err)
	}
	if sourceInterfacesD.Match(old) {
		clash := false
		for _, i := range n.Interfaces {
			if regexp.MustCompile(`(?m)^\s*(iface|auto|allow-hotplug)\s+` + regexp.QuoteMeta(i.Name) + `(\s|$)`).Match(old) {
				clash = true
			}
		}
		if !clash {
			return renderedFile{path: "/etc/network/interfaces.d/50-guestinject", content: generatedHeader + stanzas, mode: 0o644}, nil
		}
	}
	content := generatedHeader + "source /etc/network/interfaces.d/*\n\nauto lo\niface lo inet loopback\n" + stanzas
	return renderedFile{path: main, content: content, mode: 0o644}, nil
}

// detectRenderer picks the network format from what the guest has
// installed and, where that is ambiguous, from its os-release.
func (p *planner) detectRenderer(ctx context.Context, item Item) (Renderer, error) {
	data, err := p.readEtc(ctx, "/etc/os-release")
	if err != nil {
		return "", itemErr(item, "/etc/os-release", err)
	}
	if data == nil {
		if data, err = p.readEtc(ctx, "/usr/lib/os-release"); err != nil {
			return "", itemErr(item, "/usr/lib/os-release", err)
		}
	}
	osr := guestetc.ParseOSRelease(data)
	has := func(names ...string) bool {
		for _, n := range names {
			if _, err := p.fsys.Stat(ctx, n); err == nil {
				return true
			}
		}
		return false
	}
	rhelLike := osr.Like("rhel") || osr.Like("fedora") || osr.Like("centos")
	major, _ := strconv.Atoi(strings.SplitN(osr["VERSION_ID"], ".", 2)[0])
	switch {
	case has("/etc/netplan") && has("/usr/sbin/netplan", "/usr/bin/netplan", "/lib/netplan/generate", "/usr/lib/netplan/generate", "/usr/libexec/netplan/generate"):
		return RendererNetplan, nil
	case rhelLike && major > 0 && major < 9 && has("/etc/sysconfig/network-scripts"):
		return RendererIfcfg, nil
	case has("/usr/sbin/NetworkManager", "/usr/bin/NetworkManager"):
		return RendererNetworkManager, nil
	case has("/etc/sysconfig/network-scripts/ifup-eth", "/usr/sbin/ifup-eth"):
		return RendererIfcfg, nil
	case has("/sbin/ifup", "/usr/sbin/ifup") && has("/etc/network"):
		return RendererIfupdown, nil
	case has("/usr/lib/systemd/systemd-networkd", "/lib/systemd/systemd-networkd"):
		return RendererNetworkd, nil
	}
	return "", itemErrf(item, "", ErrUnsupported, "no known network configuration tool found in the guest (os-release ID %q); set Network.Renderer", osr["ID"])
}
