package guest

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sync"
	"time"

	"golang.org/x/sys/unix"

	"github.com/guestinject/guestinject/internal/guestabi"
)

// payloadWait bounds the wait for the payload disk, which the host
// attaches at boot, to appear once virtio_blk is loaded.
const payloadWait = 30 * time.Second

// Payload is the payload disk of guestabi.PayloadSerial, from which the
// agent copies a group's files into its root the first time it needs
// the group.
type Payload struct {
	Manifest guestabi.PayloadManifest
	manifest []byte // as the initramfs has it, which the payload must repeat

	sysBlock, devDir, root string
	wait                   time.Duration

	mu      sync.Mutex
	index   []guestabi.PayloadFile // nil until the disk has been read
	fetched map[string]bool
}

// OpenPayloadManifest reads the payload manifest at manifestPath; the
// disk is looked for under sysBlock (/sys/block) and devDir (/dev) only
// when a group is fetched, and its files are copied under root.
func OpenPayloadManifest(manifestPath, sysBlock, devDir, root string) (*Payload, error) {
	data, err := os.ReadFile(manifestPath)
	if err != nil {
		return nil, err
	}
	m, err := guestabi.ParsePayloadManifest(data)
	if err != nil {
		return nil, &fs.PathError{Op: "read", Path: manifestPath, Err: err}
	}
	return &Payload{Manifest: m, manifest: data, sysBlock: sysBlock, devDir: devDir, root: root,
		wait: payloadWait, fetched: map[string]bool{}}, nil
}

// FindPayloadDisk returns the device node of the virtio disk whose
// serial is guestabi.PayloadSerial, or "" when there is none.
func FindPayloadDisk(sysBlock, devDir string) string {
	for _, d := range virtioDisks(sysBlock) {
		if d.serial == guestabi.PayloadSerial {
			return filepath.Join(devDir, filepath.Base(d.dir))
		}
	}
	return ""
}

// Fetch copies the files of group from the payload disk into the root,
// once. A file already there (one two groups share) is kept; none is
// ever replaced, and none is created through a symbolic link.
func (p *Payload) Fetch(group string) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.fetched[group] {
		return nil
	}
	if !p.Manifest.Has(group) {
		return fmt.Errorf("payload: %w: no group %q", guestabi.ErrBadPayload, group)
	}
	dev, err := p.openDisk()
	if err != nil {
		return fmt.Errorf("payload: loading %s: %w", group, err)
	}
	defer dev.Close()
	if p.index == nil {
		size, err := dev.Seek(0, io.SeekEnd)
		if err != nil {
			return fmt.Errorf("payload: %w", err)
		}
		index, err := guestabi.ReadPayloadIndex(dev, size, p.manifest)
		if err != nil {
			return fmt.Errorf("payload %s: %w", dev.Name(), err)
		}
		p.index = index
	}
	for _, f := range p.index {
		if f.Group != group {
			continue
		}
		if err := p.copyOut(dev, f); err != nil {
			return fmt.Errorf("payload: loading %s: %w", group, err)
		}
	}
	p.fetched[group] = true
	return nil
}

// openDisk waits for the payload disk and opens it.
func (p *Payload) openDisk() (*os.File, error) {
	deadline := time.Now().Add(p.wait)
	for {
		if dev := FindPayloadDisk(p.sysBlock, p.devDir); dev != "" {
			f, err := os.OpenFile(dev, os.O_RDONLY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
			if err != nil {
				return nil, err
			}
			return f, nil
		}
		if time.Now().After(deadline) {
			return nil, &fs.PathError{Op: "open", Path: "payload disk " + guestabi.PayloadSerial,
				Err: fmt.Errorf("%w: no disk has that serial after %v (was the appliance launched without it?)", fs.ErrNotExist, p.wait)}
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// copyOut copies one file from the payload to its place under the root.
func (p *Payload) copyOut(dev io.ReaderAt, f guestabi.PayloadFile) error {
	target := filepath.Join(p.root, f.Path)
	if err := os.MkdirAll(filepath.Dir(target), 0o755); err != nil {
		return err
	}
	out, err := os.OpenFile(target, os.O_WRONLY|os.O_CREATE|os.O_EXCL|unix.O_NOFOLLOW|unix.O_CLOEXEC, f.Mode.Perm())
	if errors.Is(err, fs.ErrExist) {
		return nil
	}
	if err != nil {
		return err
	}
	_, err = io.Copy(out, io.NewSectionReader(dev, f.Offset, f.Size))
	if cerr := out.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(target)
		return &fs.PathError{Op: "copy", Path: f.Path, Err: err}
	}
	return nil
}
