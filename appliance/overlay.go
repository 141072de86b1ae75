package appliance

import (
	"encoding/binary"
	"fmt"
	"os"
)

// The overlay is an empty qcow2 image written here rather than by
// qemu-img create: that saves a process per disk on every Open, and the
// header names no backing file at all — QEMU and the commit are given
// the backing node explicitly.

const (
	overlayClusterBits = 16
	overlayCluster     = 1 << overlayClusterBits
	// Each L2 table (one cluster of 8-byte entries) maps this much.
	overlayL2Span = overlayCluster / 8 * overlayCluster
	// maxOverlaySize keeps the L1 table within QEMU's own limit (32 MiB).
	maxOverlaySize = (32 << 20) / 8 * overlayL2Span
)

// createOverlay writes an empty qcow2 version 3 image of virtual size
// size at path, which must not exist: the header, a refcount table, one
// refcount block and the L1 table, each in its own cluster, as qemu-img
// create lays them out.
func createOverlay(path string, size int64) error {
	if size <= 0 || size > maxOverlaySize {
		return fmt.Errorf("appliance: overlay of %d bytes: size out of range", size)
	}
	l1Entries := (size + overlayL2Span - 1) / overlayL2Span
	l1Clusters := (l1Entries*8 + overlayCluster - 1) / overlayCluster
	const refTable, refBlock, l1Table = 1 * overlayCluster, 2 * overlayCluster, 3 * overlayCluster
	clusters := 3 + l1Clusters
	img := make([]byte, clusters*overlayCluster)

	h := img[:104]
	be := binary.BigEndian
	copy(h, "QFI\xfb")
	be.PutUint32(h[4:], 3) // version
	be.PutUint32(h[20:], overlayClusterBits)
	be.PutUint64(h[24:], uint64(size))
	be.PutUint32(h[36:], uint32(l1Entries))
	be.PutUint64(h[40:], l1Table)
	be.PutUint64(h[48:], refTable)
	be.PutUint32(h[56:], 1)    // refcount table clusters
	be.PutUint32(h[96:], 4)    // refcount order: 16-bit refcounts
	be.PutUint32(h[100:], 104) // header length; the zeros after it end the extensions
	be.PutUint64(img[refTable:], refBlock)
	for c := int64(0); c < clusters; c++ {
		be.PutUint16(img[refBlock+2*c:], 1)
	}

	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return fmt.Errorf("appliance: overlay: %w", err)
	}
	_, err = f.Write(img)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(path)
		return fmt.Errorf("appliance: overlay: %w", err)
	}
	return nil
}
