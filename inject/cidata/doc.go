// Package cidata writes a standalone cloud-init NoCloud seed volume: a
// filesystem labelled "cidata" holding user-data, meta-data and, when
// given, network-config and vendor-data, for callers who attach the seed
// to a VM as a second disk or CD-ROM instead of writing it into the image
// (see inject.Spec.CloudInit for that). It is what cloud-localds makes
// with genisoimage or mkfs.vfat and mtools, in pure Go.
//
// The seed is validated as inject.CloudInitSeed.Validate does. The volume
// is ISO 9660 with Rock Ridge and Joliet (the long names user-data and
// meta-data do not fit plain ISO 9660's 8.3 names; Linux reads the Rock
// Ridge names, systems without Rock Ridge the Joliet ones), or FAT32 with
// long file names, as cloud-localds and genisoimage -joliet -rock make
// them. Both are written by github.com/diskfs/go-diskfs.
//
// The output is a new file, created exclusively and removed when writing
// fails. With Options.ModTime set, an ISO 9660 volume is the same byte for
// byte from the same seed (when written by the same user, whose uid and
// gid Rock Ridge records); a FAT32 volume records the time of writing.
package cidata
