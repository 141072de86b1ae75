// Package imagecheck inspects untrusted disk images without trusting them and
// decides, under a caller's Policy, whether they are safe to hand to QEMU.
//
// What "safe" promises: QEMU (7.2, the version the tests compare with), given
// the same file and the declared format (-f FORMAT), opens the image without
// error, reads no file but this one (no backing file or parent, no external
// data file, no VMDK extent other than the image itself), and shows the guest
// a disk of exactly Info.VirtualSize bytes, no larger than the policy's
// MaxVirtualSize. The promise is about opening the image: damage inside the
// tables the checks do not walk (an L2 entry pointing at garbage) can still
// make a read fail. Where QEMU would open an image the checker cannot vouch
// for (dirty or corrupt flags, a log to replay, encryption the policy does
// not allow, fields whose cost it cannot bound), Check refuses rather than
// guesses.
//
// The caller always declares the format it expects. Check verifies that the
// content agrees with that declaration and that no other format also matches
// (polyglots). A raw disk may hold a partition table or an ISO 9660 or UDF
// filesystem (a config drive is one): declared raw it is accepted, and
// Info.Formats and Info.Format name the layout; declared iso it must be one.
// Inside a container, a GPT header at LBA 1 or an ISO volume descriptor at
// 32 KiB of the file is guest data when the container maps those bytes into
// the guest as they are (small qcow2 clusters do), and a polyglot when they
// lie outside every allocated cluster, in clusters the guest reads as zeros,
// or inside the container's own metadata.
//
// Detection follows QEMU rather than the specifications: the same probe rules
// over the first 2048 bytes (a file is raw only when no QEMU driver would
// claim it), the same VMDK descriptor parsing quirks, and the same
// virtual-size computation for each format (the VHD creator-dependent
// geometry rule, VMDK footers overriding headers, VDI rounding). The header
// checks are those of each driver's open path (qcow2_do_open,
// bdrv_qed_do_open, vdi_open, vpc_open, vhdx_open, vmdk_open,
// qcrypto_block_luks_open), so that what QEMU refuses is refused; a test
// changes header fields one at a time and compares the verdict with
// qemu-img's.
//
// Inspection is bounded and inert: at most MaxBytesRead bytes are read from
// any image whatever its headers claim, allocations are sized by that bound,
// nothing named inside an image is ever opened, and every read honours the
// context. An image whose checks would need more is refused with
// ReasonReadLimit.
//
// Bytes read, in 4 KiB pages, besides the 2048-byte probe, the last sector
// (VHD footers) and up to 16 KiB of ISO/UDF volume recognition: qcow2 its
// header and extension area, the snapshot table's entry headers and the
// bitmap directory and tables; qed, vdi and luks their fixed headers; vhd its
// footer, dynamic header and block table (vpc_open refuses blocks past the
// end of the file); vmdk the embedded descriptor (64 KiB at most), the 10 KiB
// QEMU scans for parent hints and CIDs and, for footer images, the last 1536
// bytes; vhdx two 4 KiB headers, the 64 KiB region table, its metadata table
// and items, and the block allocation table, every entry of which vhdx_open
// checks. A layout signature inside a container costs the tables that map it
// (qcow2 L1 and L2 tables, block maps). Images made by qemu-img need a few KiB
// to 112 KiB, a 1 TiB VHDX 356 KiB; no path can exceed MaxBytesRead (4 MiB),
// which the reader enforces.
//
// When qemu-img is installed, CrossCheck runs `qemu-img info` on the image
// under CPU and address-space limits and requires it to agree with the
// pure-Go verdict.
//
// # Names
//
// Safe means that QEMU, given the same name and the declared format, opens
// that file, reads nothing else and sees the reported virtual size; so
// CheckFile judges the name as well as the content, before opening it.
// QEMU reads some names as something other than a file: a name whose first
// colon comes before any slash has a protocol prefix (file:, json:{...},
// nbd:, http:, fat:, any word at all), names beginning with /dev/fdset/ come
// from QEMU's fd sets and names beginning with /dev/cdrom go to its
// host_device driver. CheckFile refuses them with ReasonProtocolName;
// QEMUFileName is that rule, and "./" before a relative name whose first
// component has a colon makes it a file name. When raw or iso is declared,
// CheckFile also refuses names ending in ".dmg", which QEMU's dmg driver
// claims when it probes (ReasonFormatMismatch): a file is raw only when no
// driver would claim it, by content or by name. CheckName applies both
// rules without opening anything. Check, Inspect and Judge see bytes only
// and cannot judge a name; a caller that checks a descriptor it opened
// itself calls CheckName on the name it hands QEMU.
//
// After CheckFile accepts a name, a caller may pass QEMU that same literal
// name as a qemu-img argument (after "--" if it begins with "-"), in -drive
// file= (with commas doubled, QEMU's option escape), or, better, as the
// filename of a {"driver": "file"} node in a json: or -blockdev spec, where
// QEMU parses no protocol prefix. A relative name is resolved against the
// working directory of the process that opens it, and a backing file name
// in an image header against that image's directory: where they may
// differ, check and pass the absolute name. Another spelling of the file
// (a different relative or absolute name) must be checked itself.
//
// # Converting uploads
//
// Convert turns an untrusted upload (vmdk, vhd, vhdx, vdi, qed, qcow2 or
// raw, as the policy allows) into a new raw or qcow2 image, the job of an
// image service's import step. The source must pass CheckFile; qemu-img
// convert then reads the checked descriptor, inherited as /proc/self/fd/3,
// through a json: specification that names the declared driver, the file
// driver and, for formats that can have one, no backing file, so nothing
// is probed and no name inside the image is opened. It writes into a file
// Convert created with O_CREAT|O_EXCL (an existing file or symlink is never
// replaced), under prlimit's CPU-time, address-space and file-size limits
// and a wall-time limit (DefaultConvertLimits scales them with the virtual
// size; WithLimits changes them), as well as ctx. The new image must pass
// Check as the output format, with the source's virtual size and nothing
// named in it, before Convert succeeds; on any failure or cancellation it
// is removed. WithProgress passes on qemu-img's percentage.
package imagecheck
