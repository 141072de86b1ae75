package initramfs

import (
	"crypto/sha256"
	"debug/elf"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"strings"
	"sync"

	"github.com/guestinject/guestinject/internal/guestabi"
)

// dmModules are the device-mapper modules of guestabi.DMGroup: dm-mod has the
// linear and striped targets, which is what plain LVM volumes use.
var dmModules = []string{"dm_mod"}

// lvmToolDirs are searched for lvm before $PATH: it lives in sbin
// directories that are not on every user's PATH.
var lvmToolDirs = []string{"/usr/sbin", "/sbin"}

// findLVMTool returns the host's lvm binary, or "" when there is none.
func findLVMTool() string {
	for _, dir := range lvmToolDirs {
		p := filepath.Join(dir, "lvm")
		if fi, err := os.Stat(p); err == nil && fi.Mode().IsRegular() && fi.Mode()&0o111 != 0 {
			return p
		}
	}
	if p, err := exec.LookPath("lvm"); err == nil {
		return p
	}
	return ""
}

// Bounds on what the closure of a binary may pull in.
const (
	maxSharedLibs    = 64
	maxPayloadBytes  = 64 << 20
	maxInterpPathLen = 256
)

// payloadFile is a host file copied into the archive.
type payloadFile struct {
	archive string // absolute path in the archive
	host    string
	mode    os.FileMode
}

// libraryDirs are the standard directories the dynamic loader searches,
// multiarch first, for a binary of machine m.
func libraryDirs(m elf.Machine) []string {
	var dirs []string
	if triplet := multiarchTriplet(m); triplet != "" {
		dirs = append(dirs, "/lib/"+triplet, "/usr/lib/"+triplet)
	}
	return append(dirs, "/lib64", "/usr/lib64", "/lib", "/usr/lib")
}

func multiarchTriplet(m elf.Machine) string {
	switch m {
	case elf.EM_X86_64:
		return "x86_64-linux-gnu"
	case elf.EM_AARCH64:
		return "aarch64-linux-gnu"
	case elf.EM_PPC64:
		return "powerpc64le-linux-gnu"
	case elf.EM_S390:
		return "s390x-linux-gnu"
	case elf.EM_RISCV:
		return "riscv64-linux-gnu"
	}
	return ""
}

// elfClosure lists what running bin needs: bin itself at binArchive, its
// dynamic loader at the path it names, and every library of the DT_NEEDED
// closure (found in dirs, or libraryDirs when dirs is nil) in libArchive.
// It reads the ELF headers itself rather than running ldd, which would
// execute the loader on the binary.
func elfClosure(bin, binArchive, libArchive string, dirs []string) ([]payloadFile, error) {
	f, err := elf.Open(bin)
	if err != nil {
		return nil, fmt.Errorf("initramfs: %s: %w", bin, err)
	}
	defer f.Close()
	class, machine := f.Class, f.Machine
	if dirs == nil {
		dirs = libraryDirs(machine)
	}
	files := []payloadFile{{archive: binArchive, host: bin, mode: 0o755}}
	interp, err := elfInterp(f)
	if err != nil {
		return nil, fmt.Errorf("initramfs: %s: %w", bin, err)
	}
	if interp == "" {
		return files, nil // static: nothing more to copy
	}
	files = append(files, payloadFile{archive: interp, host: interp, mode: 0o755})
	needed, err := f.ImportedLibraries()
	if err != nil {
		return nil, fmt.Errorf("initramfs: %s: %w", bin, err)
	}
	// The loader answers to its own soname: libc's DT_NEEDED on it is
	// satisfied by the copy at the interpreter path.
	seen := map[string]bool{path.Base(interp): true}
	for len(needed) > 0 {
		name := needed[0]
		needed = needed[1:]
		if seen[name] {
			continue
		}
		seen[name] = true
		if name == "" || strings.ContainsAny(name, "/\x00") || name == "." || name == ".." {
			return nil, fmt.Errorf("initramfs: %s: needs a library named %q", bin, name)
		}
		if len(files) > maxSharedLibs {
			return nil, fmt.Errorf("initramfs: %s needs more than %d libraries", bin, maxSharedLibs)
		}
		lib, more, err := findLibrary(name, dirs, class, machine)
		if err != nil {
			return nil, fmt.Errorf("initramfs: %s: %w", bin, err)
		}
		files = append(files, payloadFile{archive: path.Join(libArchive, name), host: lib, mode: 0o755})
		needed = append(needed, more...)
	}
	return files, nil
}

// elfInterp returns the program interpreter a binary names, or "" for a
// static binary.
func elfInterp(f *elf.File) (string, error) {
	for _, p := range f.Progs {
		if p.Type != elf.PT_INTERP {
			continue
		}
		if p.Filesz == 0 || p.Filesz > maxInterpPathLen {
			return "", errors.New("bad program interpreter")
		}
		b, err := io.ReadAll(io.LimitReader(p.Open(), int64(p.Filesz)))
		if err != nil {
			return "", fmt.Errorf("reading the program interpreter: %w", err)
		}
		interp := strings.TrimRight(string(b), "\x00")
		if !path.IsAbs(interp) || path.Clean(interp) != interp || interp == "/" || hasSpaceOrControl(interp) {
			return "", fmt.Errorf("program interpreter %q is not a clean absolute path", interp)
		}
		return interp, nil
	}
	return "", nil
}

// findLibrary finds the library name in dirs, skipping files of another
// ELF class or machine (a 32-bit library in /usr/lib), and returns the
// libraries it needs in turn.
func findLibrary(name string, dirs []string, class elf.Class, machine elf.Machine) (string, []string, error) {
	for _, dir := range dirs {
		p := filepath.Join(dir, name)
		f, err := elf.Open(p)
		if err != nil {
			continue
		}
		ok := f.Class == class && f.Machine == machine
		var needed []string
		if ok {
			needed, err = f.ImportedLibraries()
			ok = err == nil
		}
		f.Close()
		if ok {
			return p, needed, nil
		}
	}
	return "", nil, fmt.Errorf("library %s not found in %s", name, strings.Join(dirs, ", "))
}

// lvmPayload is the LVM part of the archive for the host tool at tool
// ("" for none): the files to copy and a digest of their content for the
// cache key.
func lvmPayload(tool string) ([]payloadFile, []byte, error) {
	if tool == "" {
		return nil, nil, nil
	}
	files, err := elfClosure(tool, guestabi.LVMBinary, guestabi.LVMLibDir, nil)
	if err != nil {
		return nil, nil, err
	}
	key := sha256.New()
	var total int64
	for _, f := range files {
		sum, size, err := fileDigest(f.host)
		if err != nil {
			return nil, nil, fmt.Errorf("initramfs: %w", err)
		}
		if total += size; total > maxPayloadBytes {
			return nil, nil, fmt.Errorf("initramfs: %s and its libraries exceed %d bytes", tool, maxPayloadBytes)
		}
		fmt.Fprintf(key, "%s %x\n", f.archive, sum)
	}
	return files, key.Sum(nil), nil
}

// digests remembers file digests by path, size and modification time, so
// a session does not hash the same libraries again.
var digests sync.Map // digestKey -> [32]byte

type digestKey struct {
	path  string
	size  int64
	mtime int64
}

// fileDigest returns the SHA-256 of the file at p and its size.
func fileDigest(p string) ([32]byte, int64, error) {
	fi, err := os.Stat(p)
	if err != nil {
		return [32]byte{}, 0, err
	}
	k := digestKey{p, fi.Size(), fi.ModTime().UnixNano()}
	if sum, ok := digests.Load(k); ok {
		return sum.([32]byte), fi.Size(), nil
	}
	f, err := os.Open(p)
	if err != nil {
		return [32]byte{}, 0, err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, io.LimitReader(f, maxPayloadBytes+1)); err != nil {
		return [32]byte{}, 0, err
	}
	var sum [32]byte
	h.Sum(sum[:0])
	digests.Store(k, sum)
	return sum, fi.Size(), nil
}

// hasSpaceOrControl reports whether s holds a blank or a control
// character, which no path this package writes into the archive has.
func hasSpaceOrControl(s string) bool {
	return strings.IndexFunc(s, func(r rune) bool { return r <= ' ' || r == 0x7f }) >= 0
}
