package main

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/guestinject/guestinject/internal/testsupport/guestimage"
)

func TestAuthorizeKey(t *testing.T) {
	guestimage.NeedAppliance(t)
	img := guestimage.Raw(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	const key = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl deploy@example"
	if err := authorizeKey(ctx, img, "raw", "debian", key); err != nil {
		t.Fatal(err)
	}
	if got := guestimage.Cat(t, img, "/home/debian/.ssh/authorized_keys"); !strings.Contains(got, key) {
		t.Errorf("authorized_keys = %q", got)
	}
	if st := guestimage.Stat(t, img, "/home/debian/.ssh/authorized_keys"); !strings.Contains(st, "User:  1000") || !strings.Contains(st, "Mode:  0600") {
		t.Errorf("authorized_keys: %s", st)
	}
}

func TestAuthorizeKeyRefusesUndeclaredFormat(t *testing.T) {
	if err := authorizeKey(context.Background(), "guest.img", "auto", "root", "k"); err == nil {
		t.Error("format auto was accepted")
	}
}
