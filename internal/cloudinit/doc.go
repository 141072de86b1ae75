// Package cloudinit validates the files of a cloud-init NoCloud seed
// (user-data, meta-data, network-config, vendor-data) before they are
// written into a guest or onto a cidata volume: the user-data kinds
// cloud-init recognises, YAML that cloud-init's safe_load would accept,
// and size bounds on everything, decompressed gzip included.
package cloudinit
