package guest

import (
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/guestinject/guestinject/internal/guestabi"
)

// ErrNoSuchVolume means an fstab source or a root name matches no volume.
var ErrNoSuchVolume = errors.New("no such volume")

// ResolveSource finds the volume an fstab(5) source names: UUID=,
// LABEL=, PARTUUID=, PARTLABEL=, their /dev/disk/by-* links, a disk
// device name such as /dev/sda2 or /dev/vdb1 (disk by letter order, a=0,
// then the partition number, none for the whole disk) or /dev/nvme1n1p2
// (disk by controller number, namespace 1 only), or an LVM logical volume
// as /dev/VG/LV or /dev/mapper/VG-LV.
func ResolveSource(src string, vols []Volume) (Volume, error) {
	match, err := sourceMatcher(src)
	if err != nil {
		return Volume{}, err
	}
	var found []Volume
	for _, v := range vols {
		if match(v) {
			found = append(found, v)
		}
	}
	switch len(found) {
	case 0:
		return Volume{}, fmt.Errorf("%w: %s", ErrNoSuchVolume, clip(src))
	case 1:
		return found[0], nil
	}
	return Volume{}, fmt.Errorf("%s matches %d volumes: %s", clip(src), len(found), listVolumes(found))
}

func sourceMatcher(src string) (func(Volume) bool, error) {
	if k, v, ok := strings.Cut(src, "="); ok {
		v = unquoteTag(v)
		if v == "" {
			return nil, fmt.Errorf("empty %s", k)
		}
		switch k {
		case "UUID":
			return func(vol Volume) bool { return vol.Err == nil && strings.EqualFold(vol.Info.UUID, v) }, nil
		case "LABEL":
			return func(vol Volume) bool { return vol.Err == nil && vol.Info.Label == v }, nil
		case "PARTUUID":
			return func(vol Volume) bool { return vol.PartUUID != "" && strings.EqualFold(vol.PartUUID, v) }, nil
		case "PARTLABEL":
			return func(vol Volume) bool { return vol.PartLabel != "" && vol.PartLabel == v }, nil
		}
		return nil, fmt.Errorf("unsupported source tag %s", clip(k))
	}
	if !strings.HasPrefix(src, "/dev/") {
		return nil, fmt.Errorf("source %q is not a device", clip(src))
	}
	rest := src[len("/dev/"):]
	for prefix, tag := range map[string]string{
		"disk/by-uuid/": "UUID", "disk/by-label/": "LABEL",
		"disk/by-partuuid/": "PARTUUID", "disk/by-partlabel/": "PARTLABEL",
	} {
		if name, ok := strings.CutPrefix(rest, prefix); ok {
			v, err := unescapeUdev(name)
			if err != nil || v == "" || strings.Contains(name, "/") {
				return nil, fmt.Errorf("bad device link %q", clip(src))
			}
			return sourceMatcher(tag + "=" + v)
		}
	}
	if name, ok := strings.CutPrefix(rest, "mapper/"); ok {
		lv, ok := mapperLV(name)
		if !ok {
			return nil, fmt.Errorf("device-mapper name %q is not VG-LV", clip(name))
		}
		return func(vol Volume) bool { return vol.LV == lv }, nil
	}
	if disk, part, ok := diskDevice(rest); ok {
		return func(vol Volume) bool { return vol.LV == "" && vol.Disk == disk && vol.Partition == part }, nil
	}
	if vg, lv, ok := strings.Cut(rest, "/"); ok && guestabi.ValidLVMName(vg) && guestabi.ValidLVMName(lv) {
		return func(vol Volume) bool { return vol.LV == vg+"/"+lv }, nil
	}
	return nil, fmt.Errorf("unsupported device name %q", clip(src))
}

// unquoteTag strips the double quotes libblkid allows around a tag value.
func unquoteTag(v string) string {
	if len(v) >= 2 && v[0] == '"' && v[len(v)-1] == '"' {
		return v[1 : len(v)-1]
	}
	return v
}

// unescapeUdev decodes the \xNN escapes udev writes in /dev/disk/by-*
// names (a space is \x20, a slash \x2f).
func unescapeUdev(s string) (string, error) {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' {
			if i+4 > len(s) || s[i+1] != 'x' {
				return "", errors.New("bad escape")
			}
			n, err := strconv.ParseUint(s[i+2:i+4], 16, 8)
			if err != nil {
				return "", errors.New("bad escape")
			}
			b.WriteByte(byte(n))
			i += 3
			continue
		}
		b.WriteByte(s[i])
	}
	return b.String(), nil
}

// diskDevice reads a Linux disk device name: sd, vd, hd or xvd, the
// disk's letters (a-z, then aa-zz), and an optional partition number; or
// an NVMe name (nvmeCn1, nvmeCn1pN). Guest disk letters and NVMe
// controller numbers follow the host's disk order.
func diskDevice(name string) (disk, part int, ok bool) {
	if rest, found := strings.CutPrefix(name, "nvme"); found {
		return nvmeDevice(rest)
	}
	var rest string
	for _, p := range []string{"xvd", "sd", "vd", "hd"} {
		if r, found := strings.CutPrefix(name, p); found {
			rest = r
			break
		}
	}
	i := 0
	for i < len(rest) && rest[i] >= 'a' && rest[i] <= 'z' {
		i++
	}
	letters, digits := rest[:i], rest[i:]
	switch len(letters) {
	case 1:
		disk = int(letters[0] - 'a')
	case 2:
		disk = 26 + int(letters[0]-'a')*26 + int(letters[1]-'a')
	default:
		return 0, 0, false
	}
	if digits != "" {
		if part, ok = deviceNumber(digits, 1, 1<<16); !ok {
			return 0, 0, false
		}
	}
	return disk, part, true
}

// nvmeDevice reads what follows "nvme" in an NVMe device name: the
// controller number, "n1", and an optional "p" and partition number. A
// namespace other than 1 names no disk the host attaches.
func nvmeDevice(rest string) (disk, part int, ok bool) {
	ctrl, rest, found := strings.Cut(rest, "n")
	if !found {
		return 0, 0, false
	}
	ns, partDigits, hasPart := strings.Cut(rest, "p")
	if disk, ok = deviceNumber(ctrl, 0, 1024); !ok || ns != "1" {
		return 0, 0, false
	}
	if hasPart {
		if part, ok = deviceNumber(partDigits, 1, 1<<16); !ok {
			return 0, 0, false
		}
	}
	return disk, part, true
}

// deviceNumber reads the decimal number in a device name, without a
// sign or leading zeros, between lo and hi.
func deviceNumber(digits string, lo, hi int) (int, bool) {
	if digits == "" || (digits[0] == '0' && len(digits) > 1) || strings.ContainsFunc(digits, func(r rune) bool { return r < '0' || r > '9' }) {
		return 0, false
	}
	n, err := strconv.Atoi(digits)
	if err != nil || n < lo || n > hi {
		return 0, false
	}
	return n, true
}

// mapperLV turns a device-mapper name, VG-LV with dashes inside either
// name doubled, into "VG/LV".
func mapperLV(name string) (string, bool) {
	for i := 0; i < len(name); i++ {
		if name[i] != '-' {
			continue
		}
		if i+1 < len(name) && name[i+1] == '-' {
			i++
			continue
		}
		vg := strings.ReplaceAll(name[:i], "--", "-")
		lv := strings.ReplaceAll(name[i+1:], "--", "-")
		if !guestabi.ValidLVMName(vg) || !guestabi.ValidLVMName(lv) {
			return "", false
		}
		return vg + "/" + lv, true
	}
	return "", false
}
