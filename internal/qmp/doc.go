// Package qmp is a small client of QEMU's machine protocol (QMP), enough
// for the appliance to hot-plug disks into a running VM: capabilities
// negotiation, commands matched to their answers by id, descriptors
// passed with a command (SCM_RIGHTS, for add-fd and getfd). Events, which
// QEMU sends unasked, are read and dropped.
//
// The monitor is one end of a socket pair (Pair) whose other end QEMU
// inherits as a descriptor, so it has no name in the filesystem that any
// other process could connect to. Everything QEMU sends is bounded: a
// line longer than MaxLine ends the connection, and error texts are
// clipped. Every call takes a context.
//
// Why not an existing library: github.com/digitalocean/go-qemu/qmp dials
// a socket by address and has no way to pass a descriptor with a
// command, which hot-plugging images QEMU may not open by name needs;
// the QMP code of Kata Containers' govmm does, but comes with a large
// module for a few hundred lines of protocol.
package qmp
