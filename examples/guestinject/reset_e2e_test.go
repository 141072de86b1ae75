package main

import (
	"crypto/sha256"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/guestinject/guestinject/internal/testsupport/guestimage"
	"github.com/guestinject/guestinject/internal/testsupport/testimage"
)

// TestE2EVirtSysprepCommandLine runs an operator's virt-sysprep command
// line on a used Debian image through the appliance: a dry run leaves the
// image byte for byte as it was, the reset itself changes what the
// operations select and nothing else, read back with debugfs.
func TestE2EVirtSysprepCommandLine(t *testing.T) {
	guestimage.NeedAppliance(t)
	dir := t.TempDir()
	tree := filepath.Join(dir, "tree")
	guestimage.WriteTree(t, tree)
	for p, content := range map[string]string{
		"etc/machine-id":               "0123456789abcdef0123456789abcdef\n",
		"etc/ssh/ssh_host_ed25519_key": "PRIVATE\n",
		"var/log/syslog":               "boot\n",
		"var/log/syslog.1":             "old\n",
		"tmp/keep-me":                  "x",
		"root/.bash_history":           "ls\n",
	} {
		full := filepath.Join(tree, p)
		if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(full, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	img := filepath.Join(dir, "guest.img")
	testimage.Run(t, "mkfs.ext4", "-q", "-F", "-L", "root", "-d", tree, img, "64M")
	hash := func() [32]byte {
		data, err := os.ReadFile(img)
		if err != nil {
			t.Fatal(err)
		}
		return sha256.Sum256(data)
	}
	before := hash()

	r := cli(t, "", "reset", img, "--format", "raw", "--quiet", "--dry-run", "--operations", "defaults,-tmp-files", "--json")
	if r.code != exitOK {
		t.Fatalf("reset --dry-run: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	var plan struct {
		DryRun  bool `json:"dry_run"`
		Changes []struct {
			Path string `json:"path"`
		} `json:"changes"`
	}
	if err := json.Unmarshal([]byte(r.stdout), &plan); err != nil || !plan.DryRun || len(plan.Changes) != 5 {
		t.Errorf("dry run plan %+v, %v\n%s", plan, err, r.stdout)
	}
	if hash() != before {
		t.Fatal("the dry run changed the image")
	}

	r = cli(t, "", "reset", img, "--format", "raw", "--quiet", "--operations", "defaults,-tmp-files")
	if r.code != exitOK {
		t.Fatalf("reset: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	for path, want := range map[string]string{
		"/etc/machine-id": "", "/var/log/syslog": "", "/tmp/keep-me": "x",
		"/etc/passwd": guestimage.Tree["/etc/passwd"],
	} {
		if got := guestimage.Cat(t, img, path); got != want {
			t.Errorf("%s in the image = %q, want %q", path, got, want)
		}
	}
	for _, gone := range []string{"/etc/ssh/ssh_host_ed25519_key", "/var/log/syslog.1", "/root/.bash_history"} {
		// debugfs says "File not found" on standard error.
		if got := guestimage.Stat(t, img, gone); strings.Contains(got, "Inode:") {
			t.Errorf("%s is still in the image: %q", gone, got)
		}
	}
}
