package cidata

import (
	"bytes"
	"context"
	"errors"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/guestinject/guestinject/inject"
	"github.com/guestinject/guestinject/internal/testsupport/testimage"
)

var fullSeed = inject.CloudInitSeed{
	UserData:      []byte("#cloud-config\npassword: secret\nchpasswd: {expire: false}\nssh_pwauth: true\n"),
	MetaData:      []byte("instance-id: iid-test\nlocal-hostname: seeded\n"),
	NetworkConfig: []byte("version: 2\nethernets:\n  eth0:\n    dhcp4: true\n"),
	VendorData:    []byte("#!/bin/sh\necho vendor\n"),
}

var fixedTime = time.Date(2024, 5, 6, 7, 8, 9, 0, time.UTC)

func write(t *testing.T, seed inject.CloudInitSeed, opts Options) string {
	t.Helper()
	out := filepath.Join(t.TempDir(), "seed")
	if err := Write(t.Context(), out, seed, opts); err != nil {
		t.Fatalf("Write: %v", err)
	}
	return out
}

// blkidValue asks blkid, bypassing its cache, for one tag of a volume.
func blkidValue(t *testing.T, img, tag string) string {
	t.Helper()
	return strings.TrimSpace(testimage.Run(t, "blkid", "-p", "-o", "value", "-s", tag, img))
}

func TestWriteISO(t *testing.T) {
	testimage.NeedTools(t, "isoinfo", "blkid")
	img := write(t, fullSeed, Options{ModTime: fixedTime})
	if got := blkidValue(t, img, "LABEL"); got != "cidata" {
		t.Errorf("blkid LABEL = %q", got)
	}
	if got := blkidValue(t, img, "TYPE"); got != "iso9660" {
		t.Errorf("blkid TYPE = %q", got)
	}
	// Rock Ridge: long names, modes and the fixed time.
	listing := testimage.Run(t, "isoinfo", "-R", "-l", "-i", img)
	for _, name := range []string{"user-data", "meta-data", "network-config", "vendor-data"} {
		re := regexp.MustCompile(`(?m)^-rw-------.* May  6 2024 .*\]  ` + name + ` $`)
		if !re.MatchString(listing) {
			t.Errorf("isoinfo -R -l shows no 0600 %s of May 6 2024:\n%s", name, listing)
		}
	}
	files := map[string][]byte{"user-data": fullSeed.UserData, "meta-data": fullSeed.MetaData,
		"network-config": fullSeed.NetworkConfig, "vendor-data": fullSeed.VendorData}
	for name, want := range files {
		for _, ext := range []string{"-R", "-J"} {
			got := testimage.Run(t, "isoinfo", ext, "-x", "/"+name, "-i", img)
			if got != string(want) {
				t.Errorf("isoinfo %s -x /%s = %q, want %q", ext, name, got, want)
			}
		}
	}
	// The file is the whole volume, as a CD-ROM device would be.
	desc := testimage.Run(t, "isoinfo", "-d", "-i", img)
	m := regexp.MustCompile(`Volume size is: (\d+)`).FindStringSubmatch(desc)
	info, err := os.Stat(img)
	if err != nil || m == nil {
		t.Fatalf("stat %v, isoinfo -d:\n%s", err, desc)
	}
	if want := m[1]; strings.TrimSpace(want) == "" || info.Size()%2048 != 0 || info.Size()/2048 != atoi(t, want) {
		t.Errorf("file of %d bytes for a volume of %s blocks", info.Size(), want)
	}
	if !strings.Contains(desc, "Joliet") || !strings.Contains(desc, "Rock Ridge") {
		t.Errorf("isoinfo -d finds no Joliet or Rock Ridge:\n%s", desc)
	}
}

func atoi(t *testing.T, s string) int64 {
	var n int64
	for _, c := range s {
		if c < '0' || c > '9' {
			t.Fatalf("not a number: %q", s)
		}
		n = n*10 + int64(c-'0')
	}
	return n
}

// A seed without user-data or meta-data gets an empty user-data and the
// default meta-data, as NoCloud needs both.
func TestWriteISODefaults(t *testing.T) {
	testimage.NeedTools(t, "isoinfo")
	img := write(t, inject.CloudInitSeed{}, Options{})
	if got := testimage.Run(t, "isoinfo", "-R", "-x", "/meta-data", "-i", img); got != inject.DefaultCloudInitMetaData {
		t.Errorf("meta-data = %q", got)
	}
	listing := testimage.Run(t, "isoinfo", "-R", "-l", "-i", img)
	if !regexp.MustCompile(`(?m) 0 .*\]  user-data $`).MatchString(listing) || strings.Contains(listing, "network-config") {
		t.Errorf("want an empty user-data and no network-config:\n%s", listing)
	}
}

// Two volumes made in different seconds are the same: the status change
// times go-diskfs takes from its workspace files are replaced too.
func TestWriteISOReproducible(t *testing.T) {
	a, err := os.ReadFile(write(t, fullSeed, Options{ModTime: fixedTime}))
	if err != nil {
		t.Fatal(err)
	}
	time.Sleep(time.Until(time.Now().Truncate(time.Second).Add(time.Second + 10*time.Millisecond)))
	b, err := os.ReadFile(write(t, fullSeed, Options{ModTime: fixedTime}))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(a, b) {
		t.Error("two volumes of one seed and one time differ")
	}
	c, err := os.ReadFile(write(t, fullSeed, Options{ModTime: fixedTime.Add(time.Hour)}))
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Equal(a, c) {
		t.Error("ModTime is not recorded")
	}
	// No expiration date: go-diskfs's own is the time of writing.
	if exp := string(a[16*2048+vdExpiration : 16*2048+vdExpiration+16]); exp != "0000000000000000" {
		t.Errorf("expiration date %q", exp)
	}
}

func TestWriteVFAT(t *testing.T) {
	testimage.NeedTools(t, "mdir", "mtype", "blkid", "fsck.vfat")
	img := write(t, fullSeed, Options{Filesystem: VFAT})
	if got := blkidValue(t, img, "LABEL"); got != "cidata" {
		t.Errorf("blkid LABEL = %q", got)
	}
	if got := blkidValue(t, img, "TYPE"); got != "vfat" {
		t.Errorf("blkid TYPE = %q", got)
	}
	listing := testimage.Run(t, "mdir", "-i", img, "::")
	for name, want := range map[string][]byte{"user-data": fullSeed.UserData, "meta-data": fullSeed.MetaData,
		"network-config": fullSeed.NetworkConfig, "vendor-data": fullSeed.VendorData} {
		if !regexp.MustCompile(`(?m) ` + name + `$`).MatchString(listing) {
			t.Errorf("mdir shows no long name %s:\n%s", name, listing)
		}
		if got := testimage.Run(t, "mtype", "-i", img, "::"+name); got != string(want) {
			t.Errorf("mtype ::%s = %q, want %q", name, got, want)
		}
	}
	// fsck.vfat -n exits 0 only for a consistent filesystem.
	cmd := exec.Command(testimage.Tool("fsck.vfat"), "-n", img)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Errorf("fsck.vfat -n: %v\n%s", err, out)
	}
	info, err := os.Stat(img)
	if err != nil || info.Size() != VFATSize {
		t.Errorf("size %v, %v", info, err)
	}
}

// flakyContext reports cancellation from its nth Err call on, to fail a
// Write once the output file exists.
type flakyContext struct {
	context.Context
	calls, n atomic.Int32
}

func (c *flakyContext) Err() error {
	if c.calls.Add(1) > c.n.Load() {
		return context.Canceled
	}
	return nil
}

func TestWriteRefusals(t *testing.T) {
	dir := t.TempDir()
	existing := filepath.Join(dir, "existing")
	if err := os.WriteFile(existing, []byte("mine"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := Write(t.Context(), existing, fullSeed, Options{}); !errors.Is(err, fs.ErrExist) {
		t.Errorf("existing output: %v", err)
	}
	if data, _ := os.ReadFile(existing); string(data) != "mine" {
		t.Errorf("existing output overwritten: %q", data)
	}
	link := filepath.Join(dir, "link")
	if err := os.Symlink(filepath.Join(dir, "target"), link); err != nil {
		t.Fatal(err)
	}
	if err := Write(t.Context(), link, fullSeed, Options{}); !errors.Is(err, fs.ErrExist) {
		t.Errorf("dangling symlink as output: %v", err)
	}
	if _, err := os.Lstat(filepath.Join(dir, "target")); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("written through a symlink: %v", err)
	}
	for name, c := range map[string]struct {
		seed inject.CloudInitSeed
		opts Options
		want error
	}{
		"bad user-data":      {inject.CloudInitSeed{UserData: []byte("#cloud-config\n- a\n")}, Options{}, inject.ErrInvalidSpec},
		"bad network-config": {inject.CloudInitSeed{NetworkConfig: []byte("version: 7\n")}, Options{Filesystem: VFAT}, inject.ErrInvalidSpec},
		"too large":          {inject.CloudInitSeed{VendorData: bytes.Repeat([]byte("#"), inject.MaxCloudInitUserData+1)}, Options{}, inject.ErrInvalidSpec},
		"bad filesystem":     {fullSeed, Options{Filesystem: "ext4"}, ErrInvalidOptions},
	} {
		out := filepath.Join(dir, strings.ReplaceAll(name, " ", "-"))
		if err := Write(t.Context(), out, c.seed, c.opts); !errors.Is(err, c.want) {
			t.Errorf("%s: %v, want %v", name, err, c.want)
		}
		if _, err := os.Lstat(out); !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("%s: output left behind: %v", name, err)
		}
	}
	// Cancelled once the file exists: it is removed.
	for _, fsys := range []Filesystem{ISO9660, VFAT} {
		ctx := &flakyContext{Context: t.Context()}
		ctx.n.Store(1)
		out := filepath.Join(dir, "cancelled-"+string(fsys))
		if err := Write(ctx, out, fullSeed, Options{Filesystem: fsys}); !errors.Is(err, context.Canceled) {
			t.Errorf("%s: cancelled Write: %v", fsys, err)
		}
		if ctx.calls.Load() < 2 {
			t.Errorf("%s: the context was checked %d times, never after creating the file", fsys, ctx.calls.Load())
		}
		if _, err := os.Lstat(out); !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("%s: output left behind: %v", fsys, err)
		}
	}
}
