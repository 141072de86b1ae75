// Package imagecheck inspects untrusted disk images without trusting them and
// decides, under a caller's Policy, whether they are safe to hand to QEMU.
//
// The caller always declares the format it expects. Check verifies that the
// content agrees with that declaration, that no other format also matches
// (polyglots), and that the header cannot make QEMU reach outside the file:
// no backing files or parent links, no external data files, no VMDK extents
// other than the image itself. It also bounds the virtual size, refuses
// unknown incompatible features, corrupt or dirty images, and encryption
// unless the policy allows it.
//
// Detection follows QEMU rather than the specifications: the same probe rules
// over the first 2048 bytes (a file is raw only when no QEMU driver would
// claim it), the same VMDK descriptor parsing quirks, and the same
// virtual-size computation for each format (the VHD creator-dependent
// geometry rule, VMDK footers overriding headers, VDI rounding).
//
// Inspection is bounded and inert: at most MaxBytesRead bytes are read from
// any image whatever its headers claim, allocations are sized by that bound,
// nothing named inside an image is ever opened, and every read honours the
// context.
//
// Bytes read, in 4 KiB pages, besides the 2048-byte probe, the last sector
// (VHD footers) and up to 16 KiB of ISO/UDF volume recognition: qcow2 its
// header and extension area (64 KiB at most); qed, vdi, luks and vhd their
// fixed headers; vmdk the embedded descriptor (64 KiB at most), the 10 KiB
// QEMU scans for parent hints and, for footer images, the last 1536 bytes;
// vhdx two 4 KiB headers, the 64 KiB region table, its metadata table and
// items. Images made by qemu-img need 4 to 96 KiB; no path can exceed
// MaxBytesRead (256 KiB), which the reader enforces.
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
