// Package testsupport groups the packages that exist only for the
// project's tests and benchmarks: guest images built with the real tools
// (testimage and its btrfsimage, btrfsinit and novaguest, the
// examples' guestimage, and debianimage's debootstrapped Debian trees), in-memory trees
// from conformance layouts (memlayout), the cases every appliance launcher
// runs (appliancetest), a libvirt daemon for the tests that need one
// (libvirttest), the in-root resolver's hostile-tree helpers
// (inroottest), the accelerator of a test's own VM (testvm) and the
// harness that times disk hot-plug on each bus the pool could use
// (hotplugprobe). Production code never imports them.
package testsupport
