// Package blkid identifies filesystems and other volume contents by their
// superblocks, with no help from the kernel: the appliance uses it to mount
// each filesystem with an explicit type, so the kernel never auto-probes a
// guest disk against every driver it has.
//
// Probe reads a bounded, fixed set of offsets (at most the first
// MaxProbeBytes bytes) and trusts nothing it reads: every field is checked
// before use, and a source that does not match a known signature exactly is
// reported as ErrUnknown.
package blkid
