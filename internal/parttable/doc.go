// Package parttable reads GPT and MBR partition tables from a disk image
// or device, as untrusted input: every count and offset is bounded, the
// GPT checksums are verified, and every partition must lie inside the
// disk. It also returns what the kernel does not expose without udev: the
// GPT partition GUIDs and names, and the MBR disk signature, which make
// up the PARTUUID and PARTLABEL names of fstab(5).
package parttable
