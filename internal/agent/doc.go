// Package agent serves a vfs.FS over the wire protocol. Inside the
// appliance it runs as /init of the initramfs and serves the guest's root
// through the in-root resolver; in tests it serves any backend over a pipe.
package agent
