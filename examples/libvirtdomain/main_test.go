package main

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"libvirt.org/go/libvirt"

	applibvirt "github.com/guestinject/guestinject/appliance/libvirt"
	"github.com/guestinject/guestinject/internal/testsupport/guestimage"
	"github.com/guestinject/guestinject/internal/testsupport/libvirttest"
)

const key = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl deploy@example"

// guestDomain defines a throwaway shut-off domain whose one disk is a
// fresh raw image of the example guest.
func guestDomain(t *testing.T) (name, img string, dom *libvirt.Domain) {
	t.Helper()
	img = filepath.Join(libvirttest.ImageDir(t), "guest.img")
	if err := os.Rename(guestimage.Raw(t), img); err != nil {
		t.Fatal(err)
	}
	name, dom = libvirttest.DefineDomain(t, libvirttest.Disk{Path: img, Format: "raw"})
	return name, img, dom
}

func TestAuthorizeKey(t *testing.T) {
	libvirttest.Need(t)
	name, img, _ := guestDomain(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if err := authorizeKey(ctx, libvirttest.URI, name, "debian", key); err != nil {
		t.Fatal(err)
	}
	if got := guestimage.Cat(t, img, "/home/debian/.ssh/authorized_keys"); got != key+"\n" {
		t.Errorf("authorized_keys = %q", got)
	}
	if st := guestimage.Stat(t, img, "/home/debian/.ssh/authorized_keys"); !strings.Contains(st, "User:  1000") || !strings.Contains(st, "Mode:  0600") {
		t.Errorf("authorized_keys: %s", st)
	}
}

func TestAuthorizeKeyRefusesRunningDomain(t *testing.T) {
	libvirttest.Need(t)
	name, img, dom := guestDomain(t)
	before := guestimage.Cat(t, img, "/etc/passwd")
	// The domain has no kernel to boot: paused, it holds its disk and
	// runs nothing.
	if err := dom.CreateWithFlags(libvirt.DOMAIN_START_PAUSED); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	err := authorizeKey(ctx, libvirttest.URI, name, "debian", key)
	if !errors.Is(err, applibvirt.ErrDomainActive) {
		t.Fatalf("authorizeKey on a running domain = %v, want ErrDomainActive", err)
	}
	if got := guestimage.Cat(t, img, "/etc/passwd"); got != before {
		t.Error("image changed")
	}
}
