package guestabi_test

import (
	"testing"
	"time"

	"github.com/guestinject/guestinject/internal/guestabi"
)

func TestDiskSerialRoundTrip(t *testing.T) {
	for _, tc := range []struct {
		index    int
		readOnly bool
	}{{0, false}, {0, true}, {7, false}, {1023, true}} {
		s := guestabi.DiskSerial(tc.index, tc.readOnly)
		if len(s) > 20 {
			t.Errorf("serial %q is longer than virtio-blk's 20 bytes", s)
		}
		index, ro, ok := guestabi.ParseDiskSerial(s)
		if !ok || index != tc.index || ro != tc.readOnly {
			t.Errorf("ParseDiskSerial(%q) = %d, %v, %v; want %d, %v", s, index, ro, ok, tc.index, tc.readOnly)
		}
	}
}

func TestParseDiskSerialRejects(t *testing.T) {
	for _, s := range []string{
		"", "gi-rw-", "gi-ro-", "gi-rw--1", "gi-rw-+1", "gi-rw-01", "gi-rw-1 ", "gi-rw-x",
		"gi-xx-1", "GI-RW-1", "QM00001", "gi-rw-99999999999999999999",
	} {
		if index, ro, ok := guestabi.ParseDiskSerial(s); ok {
			t.Errorf("ParseDiskSerial(%q) = %d, %v, want not ok", s, index, ro)
		}
	}
}

func TestHotplugDiskSerial(t *testing.T) {
	for _, tc := range []struct {
		index, count int
		readOnly     bool
	}{{0, 1, false}, {1, 2, true}, {63, 64, false}} {
		s := guestabi.HotplugDiskSerial(tc.index, tc.count, tc.readOnly)
		if len(s) > 20 {
			t.Errorf("serial %q is longer than virtio-blk's 20 bytes", s)
		}
		index, count, ro, ok := guestabi.ParseHotplugDiskSerial(s)
		if !ok || index != tc.index || count != tc.count || ro != tc.readOnly {
			t.Errorf("ParseHotplugDiskSerial(%q) = %d, %d, %v, %v", s, index, count, ro, ok)
		}
		if index, ro, ok := guestabi.ParseDiskSerial(s); !ok || index != tc.index || ro != tc.readOnly {
			t.Errorf("ParseDiskSerial(%q) = %d, %v, %v", s, index, ro, ok)
		}
	}
	if _, count, _, ok := guestabi.ParseHotplugDiskSerial(guestabi.DiskSerial(2, false)); !ok || count != 0 {
		t.Errorf("a boot-time serial: count %d, ok %v; want 0, true", count, ok)
	}
	for _, s := range []string{
		"gi-rw-0-of-0", "gi-rw-1-of-1", "gi-rw-0-of-65", "gi-rw-0-of-", "gi-rw-0-of-01", "gi-rw-0-of-1-of-2",
		"gi-rw-0-of--1", "gi-rw-0-OF-1", "gi-rw--of-1",
	} {
		if index, count, ro, ok := guestabi.ParseHotplugDiskSerial(s); ok {
			t.Errorf("ParseHotplugDiskSerial(%q) = %d, %d, %v, want not ok", s, index, count, ro)
		}
	}
}

func TestHotplugParam(t *testing.T) {
	p := guestabi.HotplugParamFor(90 * time.Minute)
	if p != guestabi.HotplugParam+"=5400" {
		t.Errorf("HotplugParamFor = %q", p)
	}
	if wait, on, err := guestabi.ParseHotplugParam("5400"); err != nil || !on || wait != 90*time.Minute {
		t.Errorf("ParseHotplugParam(5400) = %v, %v, %v", wait, on, err)
	}
	if _, on, err := guestabi.ParseHotplugParam(""); err != nil || on {
		t.Errorf("ParseHotplugParam(\"\") = %v, %v", on, err)
	}
	for _, s := range []string{"0", "-1", "01", "x", "999999999999", "1.5"} {
		if _, _, err := guestabi.ParseHotplugParam(s); err == nil {
			t.Errorf("ParseHotplugParam(%q) accepted", s)
		}
	}
}

func FuzzParseHotplugDiskSerial(f *testing.F) {
	f.Add("gi-rw-0-of-2")
	f.Add("gi-ro-3")
	f.Fuzz(func(t *testing.T, s string) {
		index, count, ro, ok := guestabi.ParseHotplugDiskSerial(s)
		if !ok {
			return
		}
		want := guestabi.DiskSerial(index, ro)
		if count > 0 {
			want = guestabi.HotplugDiskSerial(index, count, ro)
		}
		if want != s {
			t.Fatalf("%q parsed as %d, %d, %v, which prints as %q", s, index, count, ro, want)
		}
	})
}
