package guestabi_test

import (
	"testing"

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
