package inject

import (
	"archive/tar"
	"bufio"
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"strings"

	"github.com/guestinject/guestinject/internal/ctxio"
	"github.com/guestinject/guestinject/vfs"
)

// TarIn unpacks a tar archive into the existing guest directory Dir, as
// guestfish's tar-in (virt-tar-in) does. A gzip-compressed archive is
// recognised by its magic bytes and decompressed. POSIX, PAX and GNU
// archives are read (long names included) by archive/tar.
//
// Entry names are taken relative to Dir: an absolute name, or one that
// climbs out with ".." once cleaned, is refused, and so is a name that
// would be reached through a symlink, whether the guest has it or the
// archive made it earlier (a -> /etc, then a/passwd). The entry "." (a
// "./" directory) stands for Dir itself and changes nothing. Regular
// files, directories and symlinks (targets stored as given) are unpacked
// with their permission and set-id bits; hard links (TypeLink) are
// refused unless AllowHardLinks copies the linked file's content again
// under the second name; devices, FIFOs and anything else are refused. A
// name met twice is refused (except a directory). See TreeOptions for
// owners (the archive's numeric ids with KeepOwners; root:root otherwise,
// where tar-in, run as root, keeps them), times, existing names and
// bounds.
//
// The archive is read once, while planning: headers are checked as they
// come, and file contents go to a spool file (created in SpoolDir and
// unlinked at once, so nothing is left behind) bounded by MaxBytes, so
// memory stays bounded by the number of entries whatever the sizes.
// Nothing is written to the guest until the whole archive has been read
// and every entry planned; Apply then streams each file from the spool.
// The plan holds the spool until Apply, or Plan.Close, ends.
type TarIn struct {
	// Reader is the archive; it is read to its end while planning.
	Reader io.Reader `json:"-"`
	// Dir is the guest directory that receives the entries.
	Dir string `json:"dir"`
	// SpoolDir is the host directory of the spool file; empty means
	// os.TempDir().
	SpoolDir string `json:"spool_dir,omitempty"`
	TreeOptions
}

func (p *planner) planTarIn(ctx context.Context, item Item, t TarIn) error {
	maxEntries, maxBytes, err := t.limits(item, t.Dir)
	if err != nil {
		return err
	}
	if t.Reader == nil {
		return itemErrf(item, t.Dir, ErrInvalidSpec, "no archive to read")
	}
	if err := p.treeDest(ctx, item, t.Dir); err != nil {
		return err
	}
	r := tarReader{item: item, dir: t.Dir, opts: t.TreeOptions, maxEntries: maxEntries, maxBytes: maxBytes, spoolDir: t.SpoolDir, files: map[string]int{}}
	err = r.read(ctx, t.Reader)
	if r.spool != nil {
		p.closers = append(p.closers, r.spool)
	}
	if err != nil {
		return err
	}
	return p.planTree(ctx, item, t.Dir, r.entries, t.TreeOptions)
}

// tarReader reads an archive into tree entries and a spool.
type tarReader struct {
	item       Item
	dir        string
	opts       TreeOptions
	maxEntries int
	maxBytes   int64
	spoolDir   string
	spool      *os.File
	spooled    int64 // bytes in the spool
	copied     int64 // bytes the entries copy, hard-linked ones again
	entries    []treeEntry
	files      map[string]int // regular files by name, for hard links: index in entries
}

func (r *tarReader) fail(name string, err error) error {
	where := r.dir
	if name != "" {
		where = vfs.Join(r.dir, name)
		if vfs.CheckPath("tar-in", where) != nil {
			where = r.dir
			err = fmt.Errorf("entry %q: %w", name, err)
		}
	}
	return itemErr(r.item, where, err)
}

// gzipMagic starts every gzip stream.
var gzipMagic = []byte{0x1f, 0x8b}

func (r *tarReader) read(ctx context.Context, in io.Reader) error {
	br := bufio.NewReader(ctxio.Reader(ctx, in))
	var src io.Reader = br
	if magic, _ := br.Peek(2); string(magic) == string(gzipMagic) {
		zr, err := gzip.NewReader(br)
		if err != nil {
			return r.fail("", fmt.Errorf("%w: gzip: %w", ErrInvalidSpec, err))
		}
		defer zr.Close()
		src = zr
	}
	tr := tar.NewReader(src)
	for n := 0; ; n++ {
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			if cerr := ctx.Err(); cerr != nil {
				return r.fail("", cerr)
			}
			return r.fail("", fmt.Errorf("%w: archive entry %d: %w", ErrInvalidSpec, n+1, err))
		}
		// Every header counts, those that make nothing too, so that an
		// endless run of global headers is bounded as well.
		if n >= r.maxEntries {
			return r.fail("", &LimitError{What: "entries", Limit: int64(r.maxEntries)})
		}
		if hdr.Typeflag == tar.TypeXGlobalHeader {
			continue
		}
		if err := r.entry(tr, hdr); err != nil {
			return err
		}
	}
}

// cleanName turns an entry name into a clean name relative to the
// destination: "." for the destination itself, "" with an error for a
// name that is absolute or climbs out.
func cleanName(name string) (string, error) {
	switch {
	case name == "":
		return "", fmt.Errorf("%w: an empty name", ErrInvalidSpec)
	case strings.IndexByte(name, 0) >= 0:
		return "", fmt.Errorf("%w: a NUL in the name", ErrInvalidSpec)
	case strings.HasPrefix(name, "/"):
		return "", fmt.Errorf("%w: an absolute name", ErrUnsafe)
	}
	clean := path.Clean(name)
	if clean == ".." || strings.HasPrefix(clean, "../") {
		return "", fmt.Errorf("%w: %w: the name climbs out of the destination", ErrUnsafe, vfs.ErrEscapesRoot)
	}
	return clean, nil
}

func (r *tarReader) entry(tr *tar.Reader, hdr *tar.Header) error {
	rel, err := cleanName(hdr.Name)
	if err != nil {
		return r.fail("", fmt.Errorf("entry %q: %w", hdr.Name, err))
	}
	e := treeEntry{rel: rel, mode: unixSpecialBits(fs.FileMode(hdr.Mode) & (fs.ModePerm | 0o7000)), mtime: hdr.ModTime}
	if r.opts.KeepOwners {
		if hdr.Uid < 0 || hdr.Gid < 0 || hdr.Uid > 1<<32-2 || hdr.Gid > 1<<32-2 {
			return r.fail(rel, fmt.Errorf("%w: owner %d:%d out of range", ErrInvalidSpec, hdr.Uid, hdr.Gid))
		}
		e.uid, e.gid = hdr.Uid, hdr.Gid
	}
	if rel == "." {
		if hdr.Typeflag != tar.TypeDir {
			return r.fail("", fmt.Errorf("%w: entry %q names the destination itself", ErrInvalidSpec, hdr.Name))
		}
		return nil
	}
	switch hdr.Typeflag {
	case tar.TypeReg, tar.TypeGNUSparse:
		if hdr.Size < 0 {
			return r.fail(rel, fmt.Errorf("%w: size %d", ErrInvalidSpec, hdr.Size))
		}
		if err := r.count(hdr.Size); err != nil {
			return err
		}
		content, err := r.spoolCopy(tr, hdr.Size)
		if err != nil {
			return r.fail(rel, err)
		}
		e.size, e.content = hdr.Size, content
		e.reopen = func() io.Reader { return io.NewSectionReader(content.Outer()) }
		r.entries = append(r.entries, e)
		r.files[rel] = len(r.entries) - 1
	case tar.TypeDir:
		e.mode |= fs.ModeDir
		r.entries = append(r.entries, e)
	case tar.TypeSymlink:
		if hdr.Linkname == "" || strings.IndexByte(hdr.Linkname, 0) >= 0 || len(hdr.Linkname) > vfs.MaxPathLen {
			return r.fail(rel, fmt.Errorf("%w: symlink target %q", ErrInvalidSpec, hdr.Linkname))
		}
		e.mode, e.target = fs.ModeSymlink|0o777, hdr.Linkname
		r.entries = append(r.entries, e)
	case tar.TypeLink:
		if !r.opts.AllowHardLinks {
			return r.fail(rel, fmt.Errorf("%w: a hard link to %q (AllowHardLinks copies it as a separate file)", ErrUnsupported, hdr.Linkname))
		}
		to, err := cleanName(hdr.Linkname)
		if err != nil {
			return r.fail(rel, fmt.Errorf("hard link target %q: %w", hdr.Linkname, err))
		}
		i, ok := r.files[to]
		if !ok {
			return r.fail(rel, fmt.Errorf("%w: a hard link to %q, which is no earlier regular file of the archive", ErrInvalidSpec, hdr.Linkname))
		}
		first := r.entries[i]
		if err := r.count(first.size); err != nil {
			return err
		}
		// A hard link shares its inode: the linked file's mode, owner and
		// times, and its content, read again from the spool.
		copied := first
		copied.rel = rel
		_, off, _ := first.content.(*io.SectionReader).Outer()
		copied.content = io.NewSectionReader(r.spool, off, first.size)
		copied.reopen = func() io.Reader { return io.NewSectionReader(r.spool, off, first.size) }
		r.entries = append(r.entries, copied)
	case tar.TypeChar, tar.TypeBlock, tar.TypeFifo:
		return r.fail(rel, fmt.Errorf("%w: %w: a device or FIFO entry; only regular files, directories and symlinks are unpacked", ErrUnsupported, vfs.ErrNotRegular))
	default:
		return r.fail(rel, fmt.Errorf("%w: entry type %q", ErrUnsupported, hdr.Typeflag))
	}
	return nil
}

func (r *tarReader) count(size int64) error {
	if r.copied+size > r.maxBytes || r.copied+size < 0 {
		return r.fail("", &LimitError{What: "bytes", Limit: r.maxBytes})
	}
	r.copied += size
	return nil
}

// spoolCopy copies size bytes of the current entry to the spool and
// returns a reader of them.
func (r *tarReader) spoolCopy(tr *tar.Reader, size int64) (*io.SectionReader, error) {
	if r.spool == nil {
		f, err := os.CreateTemp(r.spoolDir, "guestinject-tar-in-*")
		if err != nil {
			return nil, fmt.Errorf("spool: %w", err)
		}
		// Unlinked at once: the open file is the only reference.
		if err := os.Remove(f.Name()); err != nil {
			f.Close()
			return nil, fmt.Errorf("spool: %w", err)
		}
		r.spool = f
	}
	off := r.spooled
	n, err := io.CopyN(&offsetWriter{f: r.spool, off: off}, tr, size)
	r.spooled += n
	if err != nil {
		return nil, fmt.Errorf("%w: archive content: %w", ErrInvalidSpec, err)
	}
	return io.NewSectionReader(r.spool, off, size), nil
}

// offsetWriter writes at increasing offsets of f, so that readers of
// earlier sections, which use ReadAt, never race with a file offset.
type offsetWriter struct {
	f   *os.File
	off int64
}

func (w *offsetWriter) Write(b []byte) (int, error) {
	n, err := w.f.WriteAt(b, w.off)
	w.off += int64(n)
	return n, err
}
