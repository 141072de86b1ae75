package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/guestinject/guestinject/inject"
	"github.com/guestinject/guestinject/internal/testsupport/guestimage"
	"github.com/guestinject/guestinject/internal/testsupport/testimage"
)

const (
	seedUserData = "#cloud-config\nssh_pwauth: true\n"
	seedNetwork  = "version: 2\nethernets:\n  eth0:\n    dhcp4: true\n"
)

// seed takes cloud-localds's arguments; the volume reads back with
// isoinfo, blkid and mtools.
func TestSeedCommand(t *testing.T) {
	testimage.NeedTools(t, "isoinfo", "blkid", "mtype")
	t.Setenv("SOURCE_DATE_EPOCH", "1700000000")
	dir := t.TempDir()
	user := writeFile(t, dir, "user", seedUserData)
	meta := writeFile(t, dir, "meta", "instance-id: i-9\n")
	net := writeFile(t, dir, "net", seedNetwork)

	iso := filepath.Join(dir, "seed.iso")
	code, stdout, stderr := runCLI(t, "seed", iso, user, meta, "--network-config", net)
	if code != exitOK {
		t.Fatalf("seed: exit %d\n%s%s", code, stdout, stderr)
	}
	if !strings.Contains(stdout, `iso9660 volume "cidata" with user-data, meta-data, network-config`) {
		t.Errorf("stdout: %s", stdout)
	}
	for name, want := range map[string]string{"user-data": seedUserData, "meta-data": "instance-id: i-9\n", "network-config": seedNetwork} {
		if got := testimage.Run(t, "isoinfo", "-R", "-x", "/"+name, "-i", iso); got != want {
			t.Errorf("isoinfo -R -x /%s = %q, want %q", name, got, want)
		}
	}
	if got := testimage.Run(t, "blkid", "-p", "-o", "value", "-s", "LABEL", iso); strings.TrimSpace(got) != "cidata" {
		t.Errorf("blkid LABEL = %q", got)
	}
	// SOURCE_DATE_EPOCH makes the output reproducible.
	again := filepath.Join(dir, "again.iso")
	if code, _, stderr := runCLI(t, "seed", again, user, meta, "--network-config", net); code != exitOK {
		t.Fatalf("seed again: %s", stderr)
	}
	a, _ := os.ReadFile(iso)
	b, _ := os.ReadFile(again)
	if len(a) == 0 || !bytes.Equal(a, b) {
		t.Error("two seeds with one SOURCE_DATE_EPOCH differ")
	}

	// vfat, the files as options, the meta-data made from --hostname.
	img := filepath.Join(dir, "seed.img")
	code, stdout, stderr = runCLI(t, "seed", "--filesystem", "vfat", "--user-data", user, "--hostname", "web-1", "--instance-id", "i-42", img, "--json")
	if code != exitOK {
		t.Fatalf("seed vfat: exit %d\n%s%s", code, stdout, stderr)
	}
	var res seedResult
	if err := json.Unmarshal([]byte(stdout), &res); err != nil {
		t.Fatalf("%v\n%s", err, stdout)
	}
	if res.Output != img || res.Filesystem != "vfat" || res.Label != "cidata" || strings.Join(res.Files, ",") != "user-data,meta-data" || res.Size == 0 {
		t.Errorf("seed --json = %+v", res)
	}
	if got := testimage.Run(t, "mtype", "-i", img, "::meta-data"); got != `{"instance-id":"i-42","local-hostname":"web-1"}`+"\n" {
		t.Errorf("meta-data = %q", got)
	}
	if got := testimage.Run(t, "mtype", "-i", img, "::user-data"); got != seedUserData {
		t.Errorf("user-data = %q", got)
	}
}

func TestSeedCommandRefusals(t *testing.T) {
	dir := t.TempDir()
	user := writeFile(t, dir, "user", seedUserData)
	bad := writeFile(t, dir, "bad", "#cloud-config\n- not a mapping\n")
	meta := writeFile(t, dir, "meta", "instance-id: x\n")
	exists := writeFile(t, dir, "exists", "mine")
	for _, c := range []struct {
		name string
		args []string
		code int
		want string
	}{
		{"no output", []string{"seed"}, exitUsage, "seed takes OUT"},
		{"too many", []string{"seed", "o", "u", "m", "x"}, exitUsage, "seed takes OUT"},
		{"user-data twice", []string{"seed", filepath.Join(dir, "o1"), user, "--user-data", user}, exitUsage, "both as an argument"},
		{"bad filesystem", []string{"seed", filepath.Join(dir, "o2"), user, "--filesystem", "ext4"}, exitUsage, "want iso9660 or vfat"},
		{"hostname with meta-data", []string{"seed", filepath.Join(dir, "o3"), user, meta, "--hostname", "h"}, exitUsage, "cannot go with --meta-data"},
		{"invalid user-data", []string{"seed", filepath.Join(dir, "o4"), bad}, exitFailed, "not a mapping"},
		{"missing file", []string{"seed", filepath.Join(dir, "o5"), filepath.Join(dir, "none")}, exitFailed, "no such file"},
		{"output exists", []string{"seed", exists, user}, exitFailed, "file exists"},
		{"stdin twice", []string{"seed", filepath.Join(dir, "o6"), "-", "-"}, exitUsage, "both read standard input"},
	} {
		code, stdout, stderr := runCLI(t, c.args...)
		if code != c.code || !strings.Contains(stderr, c.want) {
			t.Errorf("%s: exit %d, stderr %q; want %d and %q\n%s", c.name, code, stderr, c.code, c.want, stdout)
		}
	}
	if data, _ := os.ReadFile(exists); string(data) != "mine" {
		t.Errorf("existing output overwritten: %q", data)
	}
	for _, o := range []string{"o1", "o2", "o3", "o4", "o5", "o6"} {
		if _, err := os.Lstat(filepath.Join(dir, o)); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("%s left behind: %v", o, err)
		}
	}
}

// inject's --cloud-init-* options fill Spec.CloudInit; user-data may come
// from standard input.
func TestInjectCloudInitOptions(t *testing.T) {
	dir := t.TempDir()
	meta := writeFile(t, dir, "meta", "instance-id: i-1\n")
	net := writeFile(t, dir, "net", seedNetwork)
	vendor := writeFile(t, dir, "vendor", "#!/bin/sh\n")
	spec, err := injectSpec(t, seedUserData, "--cloud-init-user-data", "-", "--cloud-init-meta-data", meta,
		"--cloud-init-network-config", net, "--cloud-init-vendor-data", vendor)
	if err != nil {
		t.Fatal(err)
	}
	want := inject.CloudInitSeed{UserData: []byte(seedUserData), MetaData: []byte("instance-id: i-1\n"),
		NetworkConfig: []byte(seedNetwork), VendorData: []byte("#!/bin/sh\n")}
	if spec.CloudInit == nil || !bytes.Equal(spec.CloudInit.UserData, want.UserData) || !bytes.Equal(spec.CloudInit.MetaData, want.MetaData) ||
		!bytes.Equal(spec.CloudInit.NetworkConfig, want.NetworkConfig) || !bytes.Equal(spec.CloudInit.VendorData, want.VendorData) {
		t.Errorf("Spec.CloudInit = %+v", spec.CloudInit)
	}
	// A seed alone is something to do; meta-data alone makes a seed too.
	spec, err = injectSpec(t, "", "--cloud-init-meta-data", meta)
	if err != nil || spec.CloudInit == nil || spec.CloudInit.UserData != nil {
		t.Errorf("meta-data alone: %+v, %v", spec.CloudInit, err)
	}
	if _, err := injectSpec(t, "", "--cloud-init-user-data", filepath.Join(dir, "none")); err == nil || !strings.Contains(err.Error(), "--cloud-init-user-data") {
		t.Errorf("missing file: %v", err)
	}
	if _, err := injectSpec(t, "", "--cloud-init-user-data", "-", "--cloud-init-vendor-data", "-"); err == nil {
		t.Error("stdin twice accepted")
	}
}

// inject's --cloud-init-* options write the seed through the appliance;
// debugfs reads it back.
func TestE2EInjectCloudInitSeed(t *testing.T) {
	guestimage.NeedAppliance(t)
	img := guestimage.Raw(t)
	dir := t.TempDir()
	user := writeFile(t, dir, "user-data", seedUserData)
	net := writeFile(t, dir, "network-config", seedNetwork)
	r := cli(t, "", "inject", img, "--format", "raw", "--cloud-init-user-data", user, "--cloud-init-network-config", net)
	if r.code != exitOK {
		t.Fatalf("inject: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	if !strings.Contains(r.stdout, "[cloud-init]") {
		t.Errorf("no cloud-init changes reported:\n%s", r.stdout)
	}
	for name, want := range map[string]string{"user-data": seedUserData, "meta-data": inject.DefaultCloudInitMetaData, "network-config": seedNetwork} {
		if got := guestimage.Cat(t, img, inject.CloudInitSeedDir+"/"+name); got != want {
			t.Errorf("%s in the image = %q, want %q", name, got, want)
		}
	}
}
