package hotplugprobe

import (
	"strings"
	"testing"
)

func TestSerial(t *testing.T) {
	for _, c := range []struct {
		attrs map[string]string
		want  string
	}{
		{map[string]string{"serial": "gi-rw-0-of-1\n"}, "gi-rw-0-of-1"},
		{map[string]string{"device/vpd_pg80": "\x00\x80\x00\x0cgi-rw-0-of-1"}, "gi-rw-0-of-1"},
		{map[string]string{"device/vpd_pg80": "\x00\x80\x00\x02gi-rw-0-of-1"}, "gi"}, // the length bounds it
		{map[string]string{"device/vpd_pg80": "\x00\x80\x00\xffgi"}, "gi"},           // a length past the end
		{map[string]string{"device/vpd_pg80": "\x00\x83\x00\x02gi"}, ""},             // another page
		{map[string]string{"device/vpd_pg80": "\x00\x80\x00"}, ""},                   // short
		{nil, ""},
	} {
		if got := (Disk{Attrs: c.attrs}).Serial(); got != c.want {
			t.Errorf("Serial of %q = %q, want %q", c.attrs, got, c.want)
		}
	}
}

func FuzzVPDSerial(f *testing.F) {
	f.Add("\x00\x80\x00\x0cgi-rw-0-of-1")
	f.Add("\x00\x80\xff\xff")
	f.Fuzz(func(t *testing.T, page string) {
		s := vpdSerial(page)
		if len(s) > len(page) || (s != "" && !strings.Contains(page, s)) {
			t.Fatalf("vpdSerial(%q) = %q", page, s)
		}
	})
}
