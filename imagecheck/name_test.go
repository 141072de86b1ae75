package imagecheck

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/guestinject/guestinject/internal/testsupport/testimage"
)

// hostileNames are names QEMU does not open as the file they spell.
var hostileNames = []string{
	"file:/etc/passwd",
	`json:{"driver":"file","filename":"/etc/shadow"}`,
	`json:{"file":{"driver":"file","filename":"/etc/shadow"}}`,
	"json:{}",
	"nbd:localhost:10809",
	"nbd+unix:///export?socket=/run/nbd.sock",
	"http://x/y",
	"fat:rw:/tmp",
	"a:b",
	"a:",
	":x",
	":",
	"file:",
	"/dev/fdset/0",
	"/dev/fdset/1",
	"/dev/cdrom",
	"/dev/cdrom0.img",
	"",
	"disk\x00.img",
	"/tmp/disk\x00:x",
}

// plainNames are names QEMU opens as the file they spell.
var plainNames = []string{
	"./a:b",
	"/abs/a:b",
	"dir/a:b",
	"./json:{}",
	"./nbd:localhost:10809",
	"disk.img",
	"a",
	"/",
	"./",
	".",
	"/dev/fdset",
	"/dev/fdsetx/1",
	"dev/fdset/1",
	"dev/cdrom",
	"/dev/cdro",
	"/dev/sda",
	"x.dmg", // a file name; the dmg rule is CheckName's
}

func TestQEMUFileName(t *testing.T) {
	for _, name := range hostileNames {
		err := QEMUFileName(name)
		var rej *RejectionError
		if !errors.Is(err, ReasonProtocolName) || !errors.As(err, &rej) || rej.Path != name || rej.Detail == "" {
			t.Errorf("QEMUFileName(%q) = %v, want a ReasonProtocolName rejection naming it", name, err)
		}
	}
	for _, name := range plainNames {
		if err := QEMUFileName(name); err != nil {
			t.Errorf("QEMUFileName(%q) = %v, want nil", name, err)
		}
	}
}

func TestQEMUFileNameSaysWhichPrefix(t *testing.T) {
	err := QEMUFileName("nbd:localhost:10809")
	if err == nil || !strings.Contains(err.Error(), `"nbd:"`) || !strings.Contains(err.Error(), "./nbd:localhost:10809") {
		t.Fatalf("want the error to quote the prefix and the ./ spelling, got %v", err)
	}
}

func TestCheckName(t *testing.T) {
	for _, c := range []struct {
		name     string
		declared Format
		want     Reason
	}{
		{"x.dmg", Raw, ReasonFormatMismatch},
		{"./x.dmg", Raw, ReasonFormatMismatch},
		{"/images/x.dmg", Raw, ReasonFormatMismatch},
		{"/images/.dmg", Raw, ReasonFormatMismatch},
		{".dmg", Raw, ReasonFormatMismatch}, // QEMU would not claim it, its absolute name it would
		{"cd.dmg", ISO, ReasonFormatMismatch},
		{"nbd:x.dmg", Raw, ReasonProtocolName},
		{"nbd:x", QCOW2, ReasonProtocolName},
		{"x.dmg", QCOW2, ""}, // the qcow2 probe outscores dmg's
		{"x.dmg", VMDK, ""},
		{"x.DMG", Raw, ""}, // dmg_probe compares case-sensitively
		{"x.dmg.img", Raw, ""},
		{"xdmg", Raw, ""},
		{"dmg", Raw, ""},
		{"disk.img", Raw, ""},
	} {
		err := CheckName(c.name, c.declared)
		if c.want == "" {
			if err != nil {
				t.Errorf("CheckName(%q, %s) = %v, want nil", c.name, c.declared, err)
			}
			continue
		}
		var rej *RejectionError
		if !errors.Is(err, c.want) || !errors.As(err, &rej) || rej.Path != c.name {
			t.Errorf("CheckName(%q, %s) = %v, want %s naming it", c.name, c.declared, err, c.want)
		}
	}
}

// inDir makes every name (slash-separated, relative) a regular file in a
// fresh directory, creating the directories it needs, writes content into
// each and changes the working directory there for the rest of the test.
func inDir(t *testing.T, content []byte, names ...string) string {
	t.Helper()
	dir := t.TempDir()
	for _, name := range names {
		p := filepath.Join(dir, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, content, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	t.Chdir(dir)
	return dir
}

// TestCheckFileRefusesProtocolNames builds files whose relative names QEMU
// would read as protocols and requires CheckFile to refuse those names, and
// to accept the same files spelled with "./" or absolutely.
func TestCheckFileRefusesProtocolNames(t *testing.T) {
	names := []string{"nbd:x", "json:{}", "a:b", "file:x", ":x", "fat:rw:/tmp", "http://x/y"}
	raw := make([]byte, 64<<10)
	dir := inDir(t, raw, names...)
	for _, name := range names {
		_, err := CheckFile(bg, name, Raw, DefaultPolicy())
		var rej *RejectionError
		if !errors.Is(err, ReasonProtocolName) || !errors.As(err, &rej) || rej.Path != name || !strings.HasPrefix(err.Error(), name+": ") {
			t.Errorf("CheckFile(%q) = %v, want a ReasonProtocolName rejection naming it", name, err)
		}
		for _, ok := range []string{"./" + name, filepath.Join(dir, name)} {
			if info, err := CheckFile(bg, ok, Raw, DefaultPolicy()); err != nil || info.VirtualSize != int64(len(raw)) {
				t.Errorf("CheckFile(%q) = %v, %v; want the raw file accepted", ok, info, err)
			}
		}
	}
}

// TestCheckFileRefusesBeforeReading spells, with file: and json:, the name
// of an existing image; no file has the name spelled, so a check that
// opened it would fail with ENOENT, and one that asked QEMU would read the
// other file. The name is refused before anything is opened.
func TestCheckFileRefusesBeforeReading(t *testing.T) {
	inDir(t, craftQCOW2(1<<30), "target")
	for _, name := range []string{"file:target", `json:{"file":{"driver":"file","filename":"target"}}`} {
		if _, err := CheckFile(bg, name, QCOW2, DefaultPolicy()); !errors.Is(err, ReasonProtocolName) {
			t.Errorf("CheckFile(%q) = %v, want ReasonProtocolName", name, err)
		}
	}
}

// TestCheckFileRefusesRawNamedDMG builds raw and ISO images named *.dmg:
// QEMU's probe would open them as dmg, so a raw or iso declaration is
// refused; a qcow2 image of that name probes as qcow2 and passes.
func TestCheckFileRefusesRawNamedDMG(t *testing.T) {
	dir := t.TempDir()
	write := func(name string, b []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, b, 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	for _, c := range []struct {
		path     string
		declared Format
		want     Reason
	}{
		{write("disk.dmg", make([]byte, 1<<20)), Raw, ReasonFormatMismatch},
		{write("cd.dmg", craftISO(64)), ISO, ReasonFormatMismatch},
		{write("mbr.dmg", patched(make([]byte, 1<<20), func(b []byte) { b[446+4] = 0x83; b[510], b[511] = 0x55, 0xaa })), Raw, ReasonFormatMismatch},
		{write("q.dmg", craftQCOW2(1<<30)), QCOW2, ""},
		{write("disk.DMG", make([]byte, 1<<20)), Raw, ""},
		{write("disk.dmg.raw", make([]byte, 1<<20)), Raw, ""},
	} {
		_, err := CheckFile(bg, c.path, c.declared, allow(ISO))
		if c.want == "" {
			if err != nil {
				t.Errorf("CheckFile(%s, %s) = %v, want nil", c.path, c.declared, err)
			}
			continue
		}
		var rej *RejectionError
		if !errors.Is(err, c.want) || !errors.As(err, &rej) || rej.Path != c.path || !strings.Contains(rej.Detail, "dmg") {
			t.Errorf("CheckFile(%s, %s) = %v, want %s saying dmg", c.path, c.declared, err, c.want)
		}
	}
}

// qemuImgInfoIn runs qemu-img info on name, exactly as spelled, from dir;
// format "" lets QEMU probe.
func qemuImgInfoIn(t *testing.T, dir, name string, format Format) (*qemuInfo, string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	args := []string{"info", "--output=json"}
	if format != "" {
		args = append(args, "-f", string(format))
	}
	cmd := exec.CommandContext(ctx, "qemu-img", append(args, "--", name)...)
	cmd.Dir = dir
	cmd.Env = []string{"LC_ALL=C", "PATH=/usr/bin:/bin"}
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return nil, "", fmt.Errorf("%w: %s", err, strings.TrimSpace(stderr.String()))
	}
	var qi struct {
		qemuInfo
		Filename string `json:"filename"`
	}
	if err := json.Unmarshal(out, &qi); err != nil {
		t.Fatalf("parsing qemu-img output: %v", err)
	}
	return &qi.qemuInfo, qi.Filename, nil
}

// TestNamesAgainstQEMU creates a file under every relative name in the
// lists and asks qemu-img, given that name and -f raw, what it opens: a
// name QEMUFileName accepts must be opened as that file with its size, and
// a name it refuses must not be (QEMU fails, or opens something else).
func TestNamesAgainstQEMU(t *testing.T) {
	testimage.NeedTools(t, "qemu-img")
	names := []string{
		"nbd:x", "nbd:localhost:1", "json:{}", `json:{"file":{"driver":"file","filename":"other"}}`,
		"a:b", ":x", "file:other", "fat:x", "http://localhost:1/y", "null-co:x", "vvfat:x",
		"./a:b", "dir/a:b", "./json:{}", "./file:other", "plain", "dir/plain", "x.dmg",
	}
	img := make([]byte, 3<<20)
	dir := inDir(t, img, names...)
	if err := os.WriteFile(filepath.Join(dir, "other"), make([]byte, 512), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, name := range names {
		ours := QEMUFileName(name)
		qi, filename, err := qemuImgInfoIn(t, dir, name, Raw)
		opened := err == nil && filename == name && qi.VirtualSize == int64(len(img))
		t.Logf("%-60q ours: %v; qemu-img: opened=%v filename=%q err=%v", name, ours, opened, filename, err)
		if (ours == nil) != opened {
			t.Errorf("%q: QEMUFileName says %v, qemu-img opened the file: %v", name, ours, opened)
		}
	}
}

// TestDMGNamesAgainstQEMU creates raw files and asks qemu-img, without a
// format, what it probes: every name CheckName accepts as raw must be
// probed as raw, and the names QEMU's dmg probe claims must be refused.
func TestDMGNamesAgainstQEMU(t *testing.T) {
	testimage.NeedTools(t, "qemu-img")
	names := []string{"x.dmg", "dir/x.dmg", "dir/.dmg", "x.DMG", "x.Dmg", "x.dmg.img", "xdmg", "dmg", "plain.img"}
	dir := inDir(t, make([]byte, 1<<20), names...)
	for _, name := range names {
		ours := CheckName(name, Raw)
		qi, _, err := qemuImgInfoIn(t, dir, name, "")
		raw := err == nil && qi.Format == "raw"
		t.Logf("%-12q ours: %v; qemu-img probe: %+v err=%v", name, ours, qi, err)
		if ours == nil && !raw {
			t.Errorf("%q: CheckName accepts raw, QEMU's probe does not pick raw (%v)", name, err)
		}
		if ours != nil && raw {
			t.Errorf("%q: CheckName refuses (%v), QEMU's probe picks raw", name, ours)
		}
	}
	// ".dmg" itself: QEMU leaves it raw (dmg_probe wants a character before
	// the suffix), but its absolute name it claims, so CheckName refuses both.
	abs := filepath.Join(dir, ".dmg")
	if err := os.WriteFile(abs, make([]byte, 1<<20), 0o644); err != nil {
		t.Fatal(err)
	}
	if qi, _, err := qemuImgInfoIn(t, dir, abs, ""); err == nil && qi.Format == "raw" {
		t.Errorf("QEMU probed %s as raw; the dmg rule is out of date", abs)
	}
	if CheckName(".dmg", Raw) == nil || CheckName(abs, Raw) == nil {
		t.Error("CheckName accepted .dmg as raw")
	}
}

func FuzzQEMUFileName(f *testing.F) {
	for _, name := range append(append([]string{}, hostileNames...), plainNames...) {
		f.Add(name)
	}
	f.Fuzz(func(t *testing.T, name string) {
		err := QEMUFileName(name)
		if err != nil {
			var rej *RejectionError
			if !errors.As(err, &rej) || rej.Reason != ReasonProtocolName || rej.Path != name {
				t.Fatalf("QEMUFileName(%q) = %#v, want a ReasonProtocolName rejection naming it", name, err)
			}
		}
		if hasProtocolC(name) && err == nil {
			t.Fatalf("QEMUFileName(%q) accepted a name with a protocol prefix", name)
		}
		if strings.HasPrefix(name, "/dev/fdset/") && err == nil {
			t.Fatalf("QEMUFileName(%q) accepted an fd set name", name)
		}
		if name == "" || strings.IndexByte(name, 0) >= 0 {
			if err == nil {
				t.Fatalf("QEMUFileName(%q) accepted an empty name or a NUL", name)
			}
			return
		}
		// "./" and an absolute directory make any name a file name.
		for _, spelled := range []string{"./" + name, "/images/" + name} {
			if err := QEMUFileName(spelled); err != nil {
				t.Fatalf("QEMUFileName(%q) = %v", spelled, err)
			}
		}
		// CheckName adds only the dmg rule, and only for raw.
		if got := CheckName(name, QCOW2); (got == nil) != (err == nil) {
			t.Fatalf("CheckName(%q, qcow2) = %v, QEMUFileName = %v", name, got, err)
		}
		if err == nil && (CheckName(name, Raw) == nil) == strings.HasSuffix(name, ".dmg") {
			t.Fatalf("CheckName(%q, raw) = %v", name, CheckName(name, Raw))
		}
	})
}

// hasProtocolC is QEMU's path_has_protocol on a POSIX host, byte by byte
// as C's strcspn(path, ":/") runs, stopping at a NUL as C strings do.
func hasProtocolC(path string) bool {
	for i := 0; i < len(path); i++ {
		switch path[i] {
		case 0:
			return false
		case '/':
			return false
		case ':':
			return true
		}
	}
	return false
}
