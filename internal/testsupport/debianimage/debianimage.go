// Package debianimage builds Debian guest trees with debootstrap for the
// tests that need a real distribution (a guest that boots, a guest with an
// SELinux policy and its setfiles). The tree is cached as a tarball under
// the per-user cache, keyed by the suite, the mirror and the package list,
// so only the first run with a given list pays for debootstrap: tests that
// can share one list should.
package debianimage

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/guestinject/guestinject/internal/cachefile"
	"github.com/guestinject/guestinject/internal/testsupport/testimage"
)

// The Debian release and the mirror the machine's apt uses.
const (
	Suite  = "bookworm"
	Mirror = "http://deb.debian.org/debian"
)

// Packages is the list the project's Debian-guest tests share, beyond
// debootstrap's minbase: what a guest needs to boot under QEMU and be
// logged into over SSH, and an SELinux policy with its setfiles. Debian's
// policy package leaves SELinux disabled (SELINUX=permissive once
// selinux-activate runs, which it does not here), so the boot is unchanged.
var Packages = []string{
	"systemd-sysv", "udev", "openssh-server", "ifupdown", "iproute2", "linux-image-cloud-amd64",
	"selinux-policy-default", "policycoreutils",
}

// Tarball returns a tarball of a debootstrapped guest tree with packages
// installed, building it on the first call for that list. Documentation,
// locales, apt's caches and lists are left out, as no test needs them. It
// needs debootstrap, tar, root and the mirror.
func Tarball(ctx context.Context, t testing.TB, packages []string) string {
	t.Helper()
	testimage.NeedTools(t, "debootstrap", "tar")
	if os.Geteuid() != 0 {
		testimage.Need(t, "root (debootstrap)")
	}
	dir, err := cachefile.Dir("")
	if err != nil {
		t.Fatal(err)
	}
	dir = filepath.Join(dir, "debootstrap")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	key := sha256.Sum256([]byte(Suite + "\n" + Mirror + "\n" + strings.Join(packages, ",")))
	tarball := filepath.Join(dir, Suite+"-"+hex.EncodeToString(key[:8])+".tar")
	unlock, err := cachefile.Lock(ctx, tarball+".lock")
	if err != nil {
		t.Fatal(err)
	}
	defer unlock()
	if _, err := os.Stat(tarball); err == nil {
		return tarball
	}
	start := time.Now()
	tree := filepath.Join(t.TempDir(), "root")
	cmd := exec.CommandContext(ctx, testimage.Tool("debootstrap"), "--variant=minbase", "--include="+strings.Join(packages, ","), Suite, tree, Mirror)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("debootstrap: %v\n%s", err, Tail(out, 4000))
	}
	t.Logf("debootstrap of %s took %v", strings.Join(packages, ","), time.Since(start).Round(time.Second))
	for _, p := range []string{"usr/share/doc", "usr/share/man", "usr/share/locale", "var/cache/apt/archives", "var/lib/apt/lists"} {
		if err := os.RemoveAll(filepath.Join(tree, p)); err != nil {
			t.Fatal(err)
		}
	}
	tmp := tarball + ".tmp"
	testimage.Run(t, "tar", "-cpf", tmp, "--numeric-owner", "-C", tree, ".")
	if err := os.Rename(tmp, tarball); err != nil {
		t.Fatal(err)
	}
	return tarball
}

// Tree unpacks the tarball of packages into a fresh directory of the
// test's and returns it.
func Tree(ctx context.Context, t testing.TB, packages []string) string {
	t.Helper()
	tarball := Tarball(ctx, t, packages)
	tree := filepath.Join(t.TempDir(), "root")
	if err := os.Mkdir(tree, 0o755); err != nil {
		t.Fatal(err)
	}
	testimage.Run(t, "tar", "-xpf", tarball, "--numeric-owner", "-C", tree)
	return tree
}

// Tail is the last n bytes of b, for quoting a long tool output.
func Tail(b []byte, n int) []byte {
	if len(b) > n {
		return b[len(b)-n:]
	}
	return b
}
