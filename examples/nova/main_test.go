package main

import (
	"context"
	"errors"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/guestinject/guestinject/imagecheck"
	"github.com/guestinject/guestinject/internal/testsupport/guestimage"
	"github.com/guestinject/guestinject/internal/testsupport/testimage"
)

// networkData is what Nova's metadata service serves; ifupdown guests need
// the link's name, not only its MAC.
const networkData = `{
  "links": [{"id": "tap1", "type": "phy", "name": "eth0", "ethernet_mac_address": "fa:16:3e:00:00:01", "mtu": 1450}],
  "networks": [{"id": "net1", "type": "ipv4", "link": "tap1", "ip_address": "192.0.2.10", "netmask": "255.255.255.0",
    "routes": [{"network": "0.0.0.0", "netmask": "0.0.0.0", "gateway": "192.0.2.1"}]}],
  "services": [{"type": "dns", "address": "192.0.2.53"}]
}`

const key = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl nova@example"

func TestInjectData(t *testing.T) {
	guestimage.NeedAppliance(t)
	img := guestimage.Raw(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	report, err := injectData(ctx, img, "raw", key, []byte(networkData),
		map[string]string{"uuid": "d8e02d56"}, "s3cr3t-admin",
		[]personalityFile{{Path: "/etc/motd", Contents: []byte("welcome\n")}})
	if err != nil {
		t.Fatal(err)
	}
	if len(report.Changes) == 0 {
		t.Fatal("empty report")
	}
	for path, want := range map[string]string{
		"/root/.ssh/authorized_keys": key,
		"/meta.js":                   `{"uuid":"d8e02d56"}`,
		"/etc/shadow":                "root:$6$",
		"/etc/motd":                  "welcome",
		"/etc/network/interfaces.d/50-guestinject": "192.0.2.10",
	} {
		if got := guestimage.Cat(t, img, path); !strings.Contains(got, want) {
			t.Errorf("%s = %q, want it to contain %q", path, got, want)
		}
	}
}

func TestInjectDataIsAllOrNothing(t *testing.T) {
	guestimage.NeedAppliance(t)
	img := guestimage.Raw(t)
	before := testimage.FileHash(t, img)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	// The key is fine, the file path is not: nothing may be written.
	_, err := injectData(ctx, img, "raw", key, nil, nil, "", []personalityFile{{Path: "relative/path"}})
	if err == nil {
		t.Fatal("a relative personality path was accepted")
	}
	if testimage.FileHash(t, img) != before {
		t.Error("a failed injection changed the image")
	}
}

func TestInjectDataRefusesBackingFile(t *testing.T) {
	testimage.NeedTools(t, "qemu-img")
	dir := t.TempDir()
	overlay := filepath.Join(dir, "overlay.qcow2")
	testimage.Run(t, "qemu-img", "create", "-q", "-f", "qcow2", "-b", "/etc/shadow", "-F", "raw", overlay)
	_, err := injectData(context.Background(), overlay, "qcow2", key, nil, nil, "", nil)
	if !errors.Is(err, imagecheck.ReasonBackingFile) {
		t.Errorf("err = %v, want a backing-file rejection", err)
	}
}
