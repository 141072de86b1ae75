package guestabi

// The appliance's opt-in package network. Without NetworkParam on the
// kernel command line the appliance has no network device and every
// command runs in an empty network namespace. With it, the appliance has
// one virtio-net device on QEMU's restricted user network, where the only
// address that answers is the host's package proxy at ProxyAddr:ProxyPort.
const (
	// NetworkParam, set to NetworkOn, makes the agent load the NetGroup
	// modules and configure the device, and run commands in its network
	// namespace with ProxyURL as their HTTP proxy.
	NetworkParam = "guestinject.net"
	NetworkOn    = "1"
	// NetGroup is the module group of the network device.
	NetGroup = "net"
	// GuestAddr/NetPrefixLen is the appliance's address on QEMU's user
	// network (its default 10.0.2.0/24); ProxyAddr is in the same subnet,
	// so no route is needed.
	GuestAddr    = "10.0.2.15"
	NetPrefixLen = 24
	ProxyAddr    = "10.0.2.100"
	ProxyPort    = 80
	ProxyURL     = "http://10.0.2.100:80/"
)
