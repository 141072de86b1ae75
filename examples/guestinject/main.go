// Command guestinject checks virtual machine disk images and puts SSH keys,
// passwords, a host name, network configuration, metadata and files into
// them before their first boot, in the spirit of virt-customize.
//
// Usage:
//
//	guestinject check   IMAGE --format F [--max-size S] [--allow-encryption]
//	                    [--allow-iso-hybrid] [--cross-check] [--json]
//	guestinject convert IN --format F OUT --to raw|qcow2 [--max-size S] [--json]
//	guestinject inject  IMAGE --format F [--ssh-key USER:FILE] [--password USER:FILE]
//	                    [--hostname H] [--network FILE.json|FILE.yaml] [--meta K=V]
//	                    [--file SRC:DST[:MODE[:OWNER]]] [--firstboot SCRIPT]
//	                    [virt-customize options: --mkdir, --upload, --write, --append-line,
//	                    --delete, --move, --link, --chmod, --chown, --touch, --truncate,
//	                    --root-password, --ssh-inject, --firstboot-command,
//	                    --commands-from-file...] [--cloud-init-user-data FILE]
//	                    [--cloud-init-meta-data FILE] [--cloud-init-network-config FILE]
//	                    [--cloud-init-vendor-data FILE] [--dry-run]
//	                    [--backend appliance|libvirt|mount] [--root SPEC] [--json]
//	guestinject seed    OUT [USER-DATA [META-DATA]] [--user-data FILE] [--meta-data FILE]
//	                    [--network-config FILE] [--vendor-data FILE]
//	                    [--filesystem iso9660|vfat] [--hostname H] [--instance-id ID] [--json]
//	guestinject reset   IMAGE --format F [--operations LIST] [--list-operations]
//	                    [--max-entries N] [--dry-run] [--backend appliance|libvirt|mount]
//	                    [--root SPEC] [--json]
//	guestinject inspect IMAGE --format F [--root SPEC] [--json]
//	guestinject cat     IMAGE --format F [--root SPEC] PATH
//	guestinject ls      IMAGE --format F [-l] [--root SPEC] PATH [--json]
//
// The image format is always declared, never probed, and every image is
// checked with the imagecheck package before anything else opens it. check
// verifies every format imagecheck knows (raw, qcow2, qed, vmdk, vpc, vhdx,
// vdi, luks, iso); convert turns an upload of any of them into a new raw
// or qcow2 image; reset prepares a guest for cloning, as virt-sysprep
// does; the other commands open raw and qcow2. The
// guest filesystem is read and written by a single-use appliance VM, so the
// host kernel never parses it; changes reach the image only when the whole
// injection succeeded.
//
// When several filesystems could be the guest root, --root names it:
// DISK:PART, LABEL=L, UUID=U or LV=VG/LV.
//
// The libvirt backend (--backend libvirt, --connect, --domain) needs cgo
// and libvirt's headers; it is included when built with -tags libvirt.
//
// seed writes a cloud-init NoCloud seed volume labelled cidata, ISO 9660
// with Rock Ridge and Joliet or FAT32, as cloud-localds does; its
// arguments are cloud-localds's. SOURCE_DATE_EPOCH, when set, is the time
// recorded in the volume, for reproducible output. inject's --cloud-init-*
// options write the same seed into the image instead.
//
// Passwords are read from a file, or from standard input when the file is
// "-", never from the command line. The file operations among inject's
// virt-customize options are applied in the order given.
//
// Exit status: 0 success; 1 the operation failed; 2 usage error; 3 the
// image was rejected as unsafe (check prints why); 4 a backend or
// prerequisite is not available. Run "guestinject help COMMAND" for the
// options of each command.
package main

import (
	"context"
	"io"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], stdio{in: os.Stdin, out: os.Stdout, err: os.Stderr})
	stop()
	os.Exit(code)
}

// stdio is the command's standard streams, replaceable in tests.
type stdio struct {
	in       io.Reader
	out, err io.Writer
}
