package main

import (
	"context"
	"crypto/sha256"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/guestinject/guestinject/internal/testsupport/debianimage"
	"github.com/guestinject/guestinject/internal/testsupport/guestimage"
	"github.com/guestinject/guestinject/internal/testsupport/testimage"
)

const testPackage = "guestinject-testpkg"

// localDebRepo builds a flat apt repository in a new directory: one .deb
// made with dpkg-deb, indexed with dpkg-scanpackages, and a Release file
// with the index's hash.
func localDebRepo(t *testing.T) string {
	t.Helper()
	testimage.NeedTools(t, "dpkg-deb", "dpkg-scanpackages")
	dir := t.TempDir()
	src, repo := filepath.Join(dir, "src"), filepath.Join(dir, "repo")
	testimage.WriteTree(t, src, map[string]string{
		"DEBIAN/control": "Package: " + testPackage + "\nVersion: 1.0\nArchitecture: all\nMaintainer: guestinject tests <tests@example.org>\n" +
			"Description: a package the tests install from a local mirror\n",
		"usr/share/" + testPackage + "/hello.txt": "installed from the local mirror\n",
	})
	if err := os.Mkdir(repo, 0o755); err != nil {
		t.Fatal(err)
	}
	testimage.Run(t, "dpkg-deb", "-Zgzip", "--root-owner-group", "--build", src, filepath.Join(repo, testPackage+"_1.0_all.deb"))
	// dpkg-scanpackages names the files relative to where it runs.
	cmd := exec.Command(testimage.Tool("dpkg-scanpackages"), ".", "/dev/null")
	cmd.Dir = repo
	packages, err := cmd.Output()
	if err != nil || !strings.Contains(string(packages), "Package: "+testPackage) {
		t.Fatalf("dpkg-scanpackages: %v\n%s", err, packages)
	}
	sum := sha256.Sum256(packages)
	release := fmt.Sprintf("Date: %s\nSHA256:\n %x %d Packages\n", time.Now().UTC().Format(time.RFC1123), sum, len(packages))
	testimage.WriteTree(t, repo, map[string]string{"Packages": string(packages), "Release": release})
	return repo
}

// TestE2EInstallFromLocalMirror installs a package the test builds into a
// debootstrapped Debian guest with the guest's apt-get in the appliance,
// through the package network, from a mirror the test serves on the
// host's loopback; the guest's sources.list is pointed at it by a --write
// before the --install. debugfs then reads the package's file and dpkg's
// status back. --uninstall removes it again. Without --package-mirror,
// --install is refused and the image is unchanged.
func TestE2EInstallFromLocalMirror(t *testing.T) {
	guestimage.NeedAppliance(t)
	repo := localDebRepo(t)
	var mu sync.Mutex
	var fetched []string
	files := http.FileServer(http.Dir(repo))
	mirror := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		fetched = append(fetched, r.Method+" "+r.URL.Path)
		mu.Unlock()
		files.ServeHTTP(w, r)
	}))
	defer mirror.Close()

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Minute)
	defer cancel()
	tree := debianimage.Tree(ctx, t, debianimage.Packages)
	img := filepath.Join(t.TempDir(), "debian.raw")
	testimage.Run(t, "mkfs.ext4", "-q", "-F", "-d", tree, img, "1536M")
	if err := os.RemoveAll(tree); err != nil {
		t.Fatal(err)
	}
	sources := "/etc/apt/sources.list:deb [trusted=yes] " + mirror.URL + "/ ./"

	r := cli(t, "", "inject", img, "--format", "raw", "--write", sources, "--install", testPackage)
	if r.code == exitOK || !strings.Contains(r.stderr, "package network") {
		t.Fatalf("--install without --package-mirror: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	before := testimage.FileHash(t, img)

	r = cli(t, "", "inject", img, "--format", "raw", "--package-mirror", mirror.URL+"/", "--command-timeout", "20m",
		"--write", sources, "--install", testPackage)
	if r.code != exitOK {
		t.Fatalf("--install: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	if testimage.FileHash(t, img) == before {
		t.Error("the image is unchanged after --install")
	}
	if got := debugfsCat(t, img, "/usr/share/"+testPackage+"/hello.txt"); got != "installed from the local mirror\n" {
		t.Errorf("the package's file reads %q", got)
	}
	if status := debugfsCat(t, img, "/var/lib/dpkg/status"); !strings.Contains(status, "Package: "+testPackage+"\nStatus: install ok installed\n") {
		t.Errorf("dpkg status does not list %s as installed", testPackage)
	}
	mu.Lock()
	got := strings.Join(fetched, "\n")
	mu.Unlock()
	if !strings.Contains(got, testPackage+"_1.0_all.deb") || !strings.Contains(got, "Packages") {
		t.Errorf("the mirror served:\n%s", got)
	}

	r = cli(t, "", "inject", img, "--format", "raw", "--package-mirror", mirror.URL+"/", "--uninstall", testPackage)
	if r.code != exitOK {
		t.Fatalf("--uninstall: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	if got := debugfsCat(t, img, "/usr/share/"+testPackage+"/hello.txt"); got != "" {
		t.Errorf("the package's file is still there after --uninstall: %q", got)
	}
}

// debugfsCat reads a guest file with debugfs, "" when it is missing.
func debugfsCat(t *testing.T, img, path string) string {
	t.Helper()
	out, err := exec.Command(testimage.Tool("debugfs"), "-R", "cat "+path, img).Output()
	if err != nil {
		t.Fatalf("debugfs cat %s: %v", path, err)
	}
	return string(out)
}
