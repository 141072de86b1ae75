// Package agent serves a vfs.FS over the wire protocol. Inside the
// appliance it runs as /init of the initramfs and serves the guest's root
// through the in-root resolver; in tests it serves any backend over a pipe.
// When the agent found no guest root it serves no filesystem at all: it
// answers the host's inspection, which says why, and refuses the rest
// (see Serve).
package agent
