package initramfs

import (
	"bytes"
	"fmt"
	"os"
	"slices"
	"strings"

	"github.com/guestinject/guestinject/internal/guestabi"
)

// payloadEntry is a host file that goes into the payload in group, to be
// copied to path (absolute) in the appliance's root.
type payloadEntry struct {
	group, path, host string
	mode              os.FileMode
}

// payloadPlan lists what goes into the payload: the modules of every
// group but the core one (a module the core group also needs is already
// in the initramfs and left out; one that two other groups need is in
// both, since either may be loaded first) and the LVM tools as
// guestabi.LVMGroup. id names the build in the manifest.
func payloadPlan(mods []guestabi.Module, copies map[string]string, lvm []payloadFile, id string, inInitramfs map[string]bool) ([]payloadEntry, guestabi.PayloadManifest) {
	core := map[string]bool{}
	for _, m := range mods {
		if inInitramfs[m.Group] {
			core[m.Path] = true
		}
	}
	var entries []payloadEntry
	var groups []string
	for _, m := range mods {
		if core[m.Path] {
			continue
		}
		entries = append(entries, payloadEntry{group: m.Group, path: m.Path, host: copies[m.Path], mode: 0o644})
		if !slices.Contains(groups, m.Group) {
			groups = append(groups, m.Group)
		}
	}
	for _, f := range lvm {
		entries = append(entries, payloadEntry{group: guestabi.LVMGroup, path: f.archive, host: f.host, mode: f.mode})
	}
	if len(lvm) > 0 {
		groups = append(groups, guestabi.LVMGroup)
	}
	return entries, guestabi.PayloadManifest{ID: id, Groups: groups}
}

// buildPayload writes the payload disk image: a newc archive of the
// manifest and the entries' files, padded to whole blocks (see
// guestabi.PayloadSerial for the format).
func buildPayload(manifest guestabi.PayloadManifest, entries []payloadEntry) ([]byte, error) {
	var buf bytes.Buffer
	cw := &cpioWriter{w: &buf}
	cw.file(guestabi.PayloadManifestName, 0o644, manifest.Format())
	for _, e := range entries {
		data, err := os.ReadFile(e.host)
		if err != nil {
			return nil, fmt.Errorf("initramfs: payload: %w", err)
		}
		if len(data) > guestabi.MaxPayloadFileSize {
			return nil, fmt.Errorf("initramfs: payload: %s has %d bytes, more than %d", e.host, len(data), guestabi.MaxPayloadFileSize)
		}
		cw.file(e.group+"/"+strings.TrimPrefix(e.path, "/"), e.mode, data)
	}
	if err := cw.close(); err != nil {
		return nil, err
	}
	if r := buf.Len() % guestabi.PayloadAlign; r != 0 {
		buf.Write(make([]byte, guestabi.PayloadAlign-r))
	}
	if buf.Len() > guestabi.MaxPayloadBytes || len(entries) > guestabi.MaxPayloadFiles {
		return nil, fmt.Errorf("initramfs: payload of %d files and %d bytes exceeds the agent's bounds", len(entries), buf.Len())
	}
	return buf.Bytes(), nil
}
