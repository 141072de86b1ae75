// Package guestabi is the contract between the host process and the agent
// that runs as /init in the appliance VM: everything the two must spell
// the same way that is not the framing of the wire protocol itself. That
// is the virtio-serial port's name, the kernel command-line parameters
// (the debug switch, the guest root the host names, the wait for disks
// hot-plugged into a VM booted without them), the disk serials that tell
// the agent which disk is which, whether it may be written and, when
// hot-plugged, how many there are,
// the kernel module manifest the initramfs carries, the payload disk's
// serial, format and reader (ReadPayloadIndex) and the places of the LVM
// tools it holds, the sentinel errors and the problem and issue codes
// that carry them across the wire, and the limits on text from the guest.
//
// It is a package of its own so that neither side imports the other's
// implementation to agree with it: package appliance and the initramfs
// builder on the host, the agent's command and internal/agent/guest in the
// VM, and internal/wire, which both speak, import it, and it imports
// nothing but the standard library. The agent binary therefore links no
// host code, and the host none of the agent's mounting and probing.
//
// Host and agent can be built apart (appliance.WithAgent) and the
// handshake compares only wire.Version, so a change here is a change of
// the protocol. Whatever the host reads back from the guest (problem
// codes, text) is checked on arrival, since a compromised appliance may
// send anything.
package guestabi
