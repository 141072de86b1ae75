package vfstest

import (
	"io/fs"
	"os"
	"path/filepath"
	"time"

	"github.com/guestinject/guestinject/vfs"
)

// Times the cases set: nanoseconds included, in the range every backend
// and the wire carry (Unix nanoseconds), and far from now so that a time
// the backend makes up cannot match them.
var (
	caseAtime = time.Date(2001, 2, 3, 4, 5, 6, 123456789, time.UTC)
	caseMtime = time.Date(1999, 12, 31, 23, 59, 59, 987654321, time.UTC)
)

// times returns the access and modification times of name itself, read
// with Lstat, which moves neither. The cases never read a file whose
// access time they check, since a read may move it (relatime).
func (e *env) times(name string) (atime, mtime time.Time) {
	e.Helper()
	info := e.lstat(name)
	a, ok := vfs.AttrOf(info)
	if !ok || a.Atime.IsZero() {
		e.Fatalf("lstat %s: FileInfo.Sys reports no access time", name)
	}
	return a.Atime, info.ModTime()
}

func (e *env) wantTimes(name string, atime, mtime time.Time) {
	e.Helper()
	gotA, gotM := e.times(name)
	if !gotA.Equal(atime) {
		e.Errorf("atime of %s = %v, want %v", name, gotA, atime)
	}
	if !gotM.Equal(mtime) {
		e.Errorf("mtime of %s = %v, want %v", name, gotM, mtime)
	}
}

func (e *env) lchtimes(name string, atime, mtime time.Time) error {
	return vfs.Lchtimes(e.ctx, e.fsys, name, atime, mtime)
}

// hostTimes returns the times of the host path p itself.
func (e *env) hostTimes(p string) (atime, mtime time.Time) {
	e.Helper()
	info, err := os.Lstat(p)
	if err != nil {
		e.Fatal(err)
	}
	a, _ := vfs.AttrOf(info)
	return a.Atime, info.ModTime()
}

var timesCases = []testCase{
	{name: "FileDirectoryRoot", needs: Caps{Times: true}, layout: baseLayout, run: func(e *env) {
		for _, name := range []string{"/etc/hostname", "/var/empty", "/"} {
			e.noErr("lchtimes", name, e.lchtimes(name, caseAtime, caseMtime))
			e.wantTimes(name, caseAtime, caseMtime)
		}
	}},
	{name: "SymlinkItself", needs: Caps{Times: true}, layout: baseLayout, run: func(e *env) {
		targetA, targetM := e.times("/run/resolv.conf")
		e.noErr("lchtimes", "/etc/resolv.conf", e.lchtimes("/etc/resolv.conf", caseAtime, caseMtime))
		e.wantTimes("/etc/resolv.conf", caseAtime, caseMtime)
		e.wantTimes("/run/resolv.conf", targetA, targetM)
		// A dangling link has times of its own too.
		e.noErr("lchtimes", "/dangling", e.lchtimes("/dangling", caseAtime, caseMtime))
		e.wantTimes("/dangling", caseAtime, caseMtime)
		e.wantMissing("/nonexistent")
	}},
	{name: "ZeroLeavesTime", needs: Caps{Times: true}, layout: baseLayout, run: func(e *env) {
		e.noErr("lchtimes", "/etc/passwd", e.lchtimes("/etc/passwd", caseAtime, caseMtime))
		later := caseMtime.Add(90 * time.Minute)
		e.noErr("lchtimes", "/etc/passwd", e.lchtimes("/etc/passwd", time.Time{}, later))
		e.wantTimes("/etc/passwd", caseAtime, later)
		e.noErr("lchtimes", "/etc/passwd", e.lchtimes("/etc/passwd", later, time.Time{}))
		e.wantTimes("/etc/passwd", later, later)
		before := e.lstat("/etc/passwd")
		e.noErr("lchtimes", "/etc/passwd", e.lchtimes("/etc/passwd", time.Time{}, time.Time{}))
		e.wantTimes("/etc/passwd", later, later)
		if after := e.lstat("/etc/passwd"); after.Size() != before.Size() || after.Mode() != before.Mode() {
			e.Errorf("/etc/passwd changed: %v %d, was %v %d", after.Mode(), after.Size(), before.Mode(), before.Size())
		}
	}},
	{name: "Refusals", needs: Caps{Times: true}, layout: baseLayout, run: func(e *env) {
		for name, want := range map[string]error{
			"/etc/missing":   fs.ErrNotExist,
			"/nowhere/x":     fs.ErrNotExist,
			"/dangling/x":    fs.ErrNotExist,
			"/etc/passwd/x":  vfs.ErrNotDir,
			"/etc/../passwd": vfs.ErrInvalidPath,
			"/etc/":          vfs.ErrInvalidPath,
		} {
			e.wantErr("lchtimes", name, e.lchtimes(name, caseAtime, caseMtime), want)
		}
		e.wantNames("/etc", "hostname", "passwd", "rel", "resolv.conf")
	}},
	{name: "HostLinksStayInRoot", needs: Caps{Times: true}, layout: hostileLayout + "f {{canary}}/dir/file data=\"guest decoy 4\\n\"\n", run: func(e *env) {
		secret := filepath.Join(e.canary, "secret")
		guestA, guestM := e.times("/secret")
		hostSecretA, hostSecretM := e.hostTimes(secret)
		decoyA, decoyM := e.times(e.canary + "/secret")
		// A final link to a host path: its own times change, neither the
		// host file's nor the guest file the link names in the root.
		e.noErr("lchtimes", "/etc/evil", e.lchtimes("/etc/evil", caseAtime, caseMtime))
		e.wantTimes("/etc/evil", caseAtime, caseMtime)
		e.wantTimes(e.canary+"/secret", decoyA, decoyM)
		if a, m := e.hostTimes(secret); !a.Equal(hostSecretA) || !m.Equal(hostSecretM) {
			e.Errorf("host %s: times %v %v, were %v %v", secret, a, m, hostSecretA, hostSecretM)
		}
		// Intermediate links to host paths lead to the guest's copies.
		e.noErr("lchtimes", "/etc/evil-dir/file", e.lchtimes("/etc/evil-dir/file", caseAtime, caseMtime))
		e.wantTimes(e.canary+"/dir/file", caseAtime, caseMtime)
		e.wantErr("lchtimes", "/home/empty", e.lchtimes("/home/empty", caseAtime, caseMtime), fs.ErrNotExist)
		e.wantTimes("/secret", guestA, guestM)
		e.wantErr("lchtimes", "/loop1/x", e.lchtimes("/loop1/x", caseAtime, caseMtime), vfs.ErrSymlinkLoop)
	}},
	{name: "DotDotStaysInRoot", needs: Caps{Times: true}, layout: hostileLayout, run: func(e *env) {
		// /up climbs far above the root and lands on it: /up/secret is
		// the guest's /secret.
		e.noErr("lchtimes", "/up/secret", e.lchtimes("/up/secret", caseAtime, caseMtime))
		e.wantTimes("/secret", caseAtime, caseMtime)
		// /b/d climbs to the root too, so /b/d/hostname is /etc/hostname.
		e.noErr("lchtimes", "/b/d/hostname", e.lchtimes("/b/d/hostname", caseAtime, caseMtime))
		e.wantTimes("/etc/hostname", caseAtime, caseMtime)
		// A final climbing link is the link itself.
		e.noErr("lchtimes", "/etc/climb", e.lchtimes("/etc/climb", caseAtime, caseMtime))
		e.wantTimes("/etc/climb", caseAtime, caseMtime)
	}},
	{name: "Unsupported", layout: baseLayout, run: func(e *env) {
		if e.caps.Times {
			e.Skip("backend declares Times")
		}
		e.wantErr("lchtimes", "/etc/hostname", e.lchtimes("/etc/hostname", caseAtime, caseMtime), vfs.ErrNotSupported)
	}},
}
