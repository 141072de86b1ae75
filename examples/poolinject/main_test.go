package main

import (
	"bytes"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/guestinject/guestinject/internal/testsupport/guestimage"
)

const key = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl fleet@example"

// TestPoolInject runs the command end to end: three sample images built
// by --make-samples, a pool of one VM and two injections at a time (so
// at least one of the first two finds the pool empty and boots cold).
// Every image must carry the key, a password hash and its own hostname
// afterwards, read back with debugfs, and the summary must account for
// all three.
func TestPoolInject(t *testing.T) {
	guestimage.NeedAppliance(t)
	dir := t.TempDir()
	keyFile, pwFile := filepath.Join(dir, "key.pub"), filepath.Join(dir, "password")
	if err := os.WriteFile(keyFile, []byte(key+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(pwFile, []byte("fleet-s3cret\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	var stdout, stderr bytes.Buffer
	status := poolinject([]string{"--make-samples", "3", "--dir", dir, "--pool", "1", "--concurrency", "2",
		"--key", keyFile, "--password", pwFile, "--timeout", "5m"}, &stdout, &stderr)
	if status != 0 {
		t.Fatalf("exit status %d\nstdout:\n%s\nstderr:\n%s", status, &stdout, &stderr)
	}
	images, _ := filepath.Glob(filepath.Join(dir, "sample-*.img"))
	if len(images) != 3 {
		t.Fatalf("images %v, want 3", images)
	}
	for _, img := range images {
		for path, want := range map[string]string{
			"/root/.ssh/authorized_keys": key,
			"/etc/shadow":                "root:$6$",
			"/etc/hostname":              hostnameFor(img),
		} {
			if got := guestimage.Cat(t, img, path); !strings.Contains(got, want) {
				t.Errorf("%s: %s = %q, want it to contain %q", filepath.Base(img), path, got, want)
			}
		}
	}
	summary := stdout.String()
	m := regexp.MustCompile(`injected 3 of 3 images in \S+ \(\S+ images/s\): (\d) pooled, (\d) cold fallback, 0 failed\n`).FindStringSubmatch(summary)
	if m == nil {
		t.Fatalf("summary:\n%s", summary)
	}
	if m[1] == "0" || m[2] == "0" {
		t.Errorf("pooled %s, cold %s: with a pool of 1 and two at a time, want both", m[1], m[2])
	}
	if !regexp.MustCompile(`latency: min \S+, median \S+, p90 \S+, max \S+\n`).MatchString(summary) {
		t.Errorf("no latency line in the summary:\n%s", summary)
	}
	if !strings.Contains(stderr.String(), "done 3/3, in flight 0") {
		t.Errorf("progress on stderr = %q, want it to end at done 3/3", stderr.String())
	}
}

func TestHostnameFor(t *testing.T) {
	for img, want := range map[string]string{
		"/images/sample-001.img": "sample-001",
		"web_01.QCOW2":           "web-01",
	} {
		if got := hostnameFor(img); got != want {
			t.Errorf("hostnameFor(%q) = %q, want %q", img, got, want)
		}
	}
}

func TestUsage(t *testing.T) {
	var stdout, stderr bytes.Buffer
	if status := poolinject(nil, &stdout, &stderr); status != 2 || !strings.Contains(stderr.String(), "usage:") {
		t.Errorf("no arguments: status %d, stderr %q", status, &stderr)
	}
	if status := poolinject([]string{"--make-samples", "1", "--key", "k", "--password", "p"}, &stdout, &stderr); status != 1 ||
		!strings.Contains(stderr.String(), "--make-samples needs --dir") {
		t.Errorf("--make-samples without --dir: status %d, stderr %q", status, &stderr)
	}
}
