package guest

import (
	"fmt"
	"net/netip"
	"os"
	"path/filepath"

	"golang.org/x/sys/unix"
)

// FindNetDevice returns the name of the first network device under
// sysClassNet (/sys/class/net) other than the loopback, or "" when there
// is none yet.
func FindNetDevice(sysClassNet string) string {
	entries, err := os.ReadDir(sysClassNet)
	if err != nil {
		return ""
	}
	for _, e := range entries {
		if e.Name() == "lo" {
			continue
		}
		// Only real devices: a device has a "device" link to its bus.
		if _, err := os.Stat(filepath.Join(sysClassNet, e.Name(), "device")); err == nil {
			return e.Name()
		}
	}
	return ""
}

// ConfigureNetDevice gives device the address prefix and brings it and the
// loopback up, with the SIOCSIF ioctls. The proxy the appliance talks to
// is on the device's own subnet, so no route is added.
func ConfigureNetDevice(device string, prefix netip.Prefix) error {
	if !prefix.Addr().Is4() {
		return fmt.Errorf("network %s: %v is not IPv4", device, prefix)
	}
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("network %s: %w", device, err)
	}
	defer unix.Close(fd)
	ifr, err := unix.NewIfreq(device)
	if err != nil {
		return fmt.Errorf("network %s: %w", device, err)
	}
	if err := ifr.SetInet4Addr(prefix.Addr().AsSlice()); err != nil {
		return fmt.Errorf("network %s: %w", device, err)
	}
	if err := unix.IoctlIfreq(fd, unix.SIOCSIFADDR, ifr); err != nil {
		return fmt.Errorf("network %s: setting address %v: %w", device, prefix.Addr(), err)
	}
	mask := netip.AddrFrom4([4]byte{})
	if m, ok := netip.AddrFromSlice(prefixMask(prefix.Bits())); ok {
		mask = m
	}
	if err := ifr.SetInet4Addr(mask.AsSlice()); err != nil {
		return fmt.Errorf("network %s: %w", device, err)
	}
	if err := unix.IoctlIfreq(fd, unix.SIOCSIFNETMASK, ifr); err != nil {
		return fmt.Errorf("network %s: setting netmask %v: %w", device, mask, err)
	}
	for _, name := range []string{"lo", device} {
		if err := setUp(fd, name); err != nil {
			return err
		}
	}
	return nil
}

func setUp(fd int, name string) error {
	ifr, err := unix.NewIfreq(name)
	if err != nil {
		return fmt.Errorf("network %s: %w", name, err)
	}
	if err := unix.IoctlIfreq(fd, unix.SIOCGIFFLAGS, ifr); err != nil {
		return fmt.Errorf("network %s: reading flags: %w", name, err)
	}
	ifr.SetUint16(ifr.Uint16() | unix.IFF_UP)
	if err := unix.IoctlIfreq(fd, unix.SIOCSIFFLAGS, ifr); err != nil {
		return fmt.Errorf("network %s: bringing up: %w", name, err)
	}
	return nil
}

// prefixMask returns the IPv4 netmask of a prefix length.
func prefixMask(bits int) []byte {
	m := uint32(0)
	if bits > 0 {
		m = ^uint32(0) << (32 - bits)
	}
	return []byte{byte(m >> 24), byte(m >> 16), byte(m >> 8), byte(m)}
}
