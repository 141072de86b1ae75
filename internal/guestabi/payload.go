package guestabi

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"path"
	"strconv"
	"strings"
)

// The payload disk holds what the agent loads only on demand: the kernel
// modules of every group but CoreGroup and the LVM tools. The host builds
// it next to the initramfs and attaches it read-only with PayloadSerial;
// the agent reads it from the raw device with ReadPayloadIndex and copies
// a group's files into its root file system the first time it needs the
// group.
//
// The format is a newc cpio archive, as the initramfs is, so the host
// needs no tool to make it and the agent none to read it. Its first member
// is PayloadManifestName, whose content is the payload manifest: a first
// line "guestinject-payload 1 <id>", <id> naming the build, then one
// group name a line. The initramfs carries the same manifest at
// PayloadManifestPath, and the agent reads a payload only when the two
// are equal byte for byte, so a payload of another build is refused.
// Every other member is a regular file named "<group>/<path>", <path>
// being where the file goes in the appliance's root, relative; the
// archive ends with the cpio trailer and is padded with zeros to a whole
// number of PayloadAlign blocks, as a disk must be.
const (
	// PayloadSerial is the serial of the payload disk. It is not a
	// DiskSerial, so disk scanning, LVM and the inspection never take
	// the payload for a guest disk; QEMU sets serials, so no guest disk
	// can claim this one.
	PayloadSerial = "gi-payload"
	// PayloadManifestPath is where the initramfs holds the manifest of
	// the payload built with it.
	PayloadManifestPath = "/etc/guestinject/payload"
	// PayloadManifestName is the payload's first member.
	PayloadManifestName = "guestinject-payload"
	// LVMGroup is the payload group of the LVM tools (LVMBinary, the
	// libraries in LVMLibDir and the dynamic loader). A payload without
	// it means an appliance without LVM tools.
	LVMGroup = "lvm"
	// PayloadAlign is the block size the payload is padded to.
	PayloadAlign = 4096
)

// Bounds on a payload, which the agent checks as it reads one.
const (
	MaxPayloadBytes    = 512 << 20
	MaxPayloadFiles    = 4096
	MaxPayloadFileSize = 128 << 20
	maxPayloadName     = 512
	maxPayloadGroups   = 64
	maxPayloadManifest = 16 << 10
	payloadManifestTag = "guestinject-payload 1 "
)

// ErrBadPayload is wrapped by every error about a payload's content.
var ErrBadPayload = errors.New("malformed payload")

// PayloadManifest is what a payload holds: its build's id and its groups.
type PayloadManifest struct {
	ID     string
	Groups []string
}

// Format returns the manifest's text.
func (m PayloadManifest) Format() []byte {
	var b bytes.Buffer
	b.WriteString(payloadManifestTag + m.ID + "\n")
	for _, g := range m.Groups {
		b.WriteString(g + "\n")
	}
	return b.Bytes()
}

// Has reports whether group is in the payload.
func (m PayloadManifest) Has(group string) bool {
	for _, g := range m.Groups {
		if g == group {
			return true
		}
	}
	return false
}

// ParsePayloadManifest parses a manifest written by Format.
func ParsePayloadManifest(data []byte) (PayloadManifest, error) {
	bad := func(why string) (PayloadManifest, error) {
		return PayloadManifest{}, fmt.Errorf("%w: manifest: %s", ErrBadPayload, why)
	}
	if len(data) > maxPayloadManifest {
		return bad("too large")
	}
	text := string(data)
	if !strings.HasSuffix(text, "\n") {
		return bad("no final newline")
	}
	lines := strings.Split(strings.TrimSuffix(text, "\n"), "\n")
	id, ok := strings.CutPrefix(lines[0], payloadManifestTag)
	if !ok || id == "" || hasSpaceOrControl(id) {
		return bad("no payload header")
	}
	m := PayloadManifest{ID: id}
	if len(lines)-1 > maxPayloadGroups {
		return bad("too many groups")
	}
	for _, g := range lines[1:] {
		if !validGroup(g) || m.Has(g) {
			return bad(fmt.Sprintf("group %q", g))
		}
		m.Groups = append(m.Groups, g)
	}
	return m, nil
}

// validGroup reports whether g can name a group: a short name of
// lowercase letters, digits and underscores.
func validGroup(g string) bool {
	if g == "" || len(g) > 32 {
		return false
	}
	for _, r := range g {
		if !(r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '_') {
			return false
		}
	}
	return true
}

// PayloadFile is one file of a payload.
type PayloadFile struct {
	Group  string
	Path   string // absolute path in the appliance's root
	Mode   fs.FileMode
	Offset int64 // of the content on the payload device
	Size   int64
}

// newc header: magic and 13 eight-digit hexadecimal fields.
const (
	cpioMagic      = "070701"
	cpioHeaderSize = 110
	cpioTrailer    = "TRAILER!!!"
	cpioTypeMask   = 0o170000
	cpioTypeReg    = 0o100000
)

// ReadPayloadIndex reads the member headers of the payload on r, which
// holds size bytes, and returns its files, checking that its manifest is
// manifest and every member's group one the manifest names. It reads
// headers only: content is at each file's Offset.
func ReadPayloadIndex(r io.ReaderAt, size int64, manifest []byte) ([]PayloadFile, error) {
	want, err := ParsePayloadManifest(manifest)
	if err != nil {
		return nil, err
	}
	if size < 0 || size > MaxPayloadBytes {
		return nil, fmt.Errorf("%w: %d bytes", ErrBadPayload, size)
	}
	var files []PayloadFile
	seen := map[string]bool{}
	var hdr [cpioHeaderSize]byte
	var name [maxPayloadName + 1]byte
	for off, n := int64(0), 0; ; n++ {
		bad := func(format string, args ...any) ([]PayloadFile, error) {
			return nil, fmt.Errorf("%w: member %d at byte %d: %s", ErrBadPayload, n, off, fmt.Sprintf(format, args...))
		}
		if n > MaxPayloadFiles+1 {
			return bad("more than %d files", MaxPayloadFiles)
		}
		if off+cpioHeaderSize > size {
			return bad("truncated header")
		}
		if _, err := r.ReadAt(hdr[:], off); err != nil {
			return bad("%v", err)
		}
		if string(hdr[:6]) != cpioMagic {
			return bad("not a newc cpio header")
		}
		var field [13]uint32
		for i := range field {
			v, err := strconv.ParseUint(string(hdr[6+8*i:14+8*i]), 16, 32)
			if err != nil {
				return bad("header field %d", i)
			}
			field[i] = uint32(v)
		}
		mode, fileSize, nameSize := field[1], int64(field[6]), int64(field[11])
		if nameSize < 2 || nameSize > maxPayloadName+1 {
			return bad("name of %d bytes", nameSize)
		}
		nameOff := off + cpioHeaderSize
		dataOff := align4(nameOff + nameSize)
		if dataOff > size {
			return bad("truncated name")
		}
		if _, err := r.ReadAt(name[:nameSize], nameOff); err != nil {
			return bad("%v", err)
		}
		if name[nameSize-1] != 0 {
			return bad("name not terminated")
		}
		member := string(name[:nameSize-1])
		if fileSize > MaxPayloadFileSize || dataOff+fileSize > size {
			return bad("%s: %d bytes do not fit", member, fileSize)
		}
		next := align4(dataOff + fileSize)
		switch {
		case n == 0:
			if member != PayloadManifestName || mode&cpioTypeMask != cpioTypeReg || fileSize > maxPayloadManifest {
				return bad("no manifest first")
			}
			got := make([]byte, fileSize)
			if _, err := r.ReadAt(got, dataOff); err != nil {
				return bad("%v", err)
			}
			if !bytes.Equal(got, manifest) {
				return nil, fmt.Errorf("%w: it is not the payload of this initramfs (%q)", ErrBadPayload, printableID(got))
			}
		case member == cpioTrailer:
			return files, nil
		default:
			if mode&cpioTypeMask != cpioTypeReg {
				return bad("%q is not a regular file", member)
			}
			group, rel, ok := strings.Cut(member, "/")
			if !ok || !want.Has(group) {
				return bad("%q is in no group of the manifest", member)
			}
			if rel == "" || path.IsAbs(rel) || path.Clean(rel) != rel || rel == "." || rel == ".." ||
				strings.HasPrefix(rel, "../") || hasSpaceOrControl(rel) {
				return bad("%q is not a clean relative path", member)
			}
			if seen[member] {
				return bad("%q twice", member)
			}
			if len(files) >= MaxPayloadFiles {
				return bad("more than %d files", MaxPayloadFiles)
			}
			seen[member] = true
			files = append(files, PayloadFile{Group: group, Path: "/" + rel, Mode: fs.FileMode(mode & 0o755),
				Offset: dataOff, Size: fileSize})
		}
		off = next
	}
}

func align4(n int64) int64 { return (n + 3) &^ 3 }

// printableID is the first line of a foreign manifest, for the error.
func printableID(b []byte) string {
	line, _, _ := bytes.Cut(b, []byte("\n"))
	if len(line) > 80 {
		line = line[:80]
	}
	return strings.Map(func(r rune) rune {
		if r < ' ' || r == 0x7f {
			return '?'
		}
		return r
	}, string(line))
}
