package guestabi_test

import (
	"strings"
	"testing"

	"github.com/guestinject/guestinject/internal/guestabi"
)

func TestRootParamRoundTrip(t *testing.T) {
	for _, n := range []guestabi.RootName{
		{Kind: guestabi.RootByPartition, Disk: 1, Partition: 2},
		{Kind: guestabi.RootByPartition},
		{Kind: guestabi.RootByPartition, Disk: guestabi.MaxDisk, Partition: guestabi.MaxPartition},
		{Kind: guestabi.RootByLabel, Value: "my root fs=\"x\" guestinject.root=lv.00"},
		{Kind: guestabi.RootByLabel, Value: "é" + strings.Repeat("x", guestabi.MaxRootName-2)},
		{Kind: guestabi.RootByUUID, Value: "11111111-2222-3333-4444-555555555555"},
		{Kind: guestabi.RootByLV, Value: "vg0/root"},
	} {
		if err := n.Validate(); err != nil {
			t.Fatalf("%+v: %v", n, err)
		}
		p := n.Param()
		k, v, _ := strings.Cut(p, "=")
		if k != guestabi.RootParam || strings.ContainsAny(v, " \t\"=") {
			t.Fatalf("param %q is not a single safe word", p)
		}
		got, err := guestabi.ParseRootParam(v)
		if err != nil || got == nil || *got != n {
			t.Errorf("round trip of %+v = %+v, %v", n, got, err)
		}
	}
	for _, bad := range []string{"label", "label.zz", "label.", "disk.00", "part.303a", "part.2b313a32", "lv.6162", "uuid.7a", "label.4A"} {
		if n, err := guestabi.ParseRootParam(bad); err == nil {
			t.Errorf("ParseRootParam(%q) = %+v", bad, n)
		}
	}
	if n, err := guestabi.ParseRootParam(""); n != nil || err != nil {
		t.Errorf(`ParseRootParam("") = %+v, %v; want no name`, n, err)
	}
}

func TestRootNameRejects(t *testing.T) {
	for _, n := range []guestabi.RootName{
		{},
		{Kind: "disk", Value: "x"},
		{Kind: guestabi.RootByPartition, Disk: -1},
		{Kind: guestabi.RootByPartition, Disk: guestabi.MaxDisk + 1},
		{Kind: guestabi.RootByPartition, Partition: guestabi.MaxPartition + 1},
		{Kind: guestabi.RootByLabel},
		{Kind: guestabi.RootByLabel, Value: strings.Repeat("x", guestabi.MaxRootName+1)},
		{Kind: guestabi.RootByLabel, Value: "a\nb"},
		{Kind: guestabi.RootByLabel, Value: "\xff"},
		{Kind: guestabi.RootByUUID, Value: "1234-xyz"},
		{Kind: guestabi.RootByLV, Value: "root"},
		{Kind: guestabi.RootByLV, Value: "vg/-lv"},
		{Kind: guestabi.RootByLV, Value: "vg/lv/x"},
		{Kind: guestabi.RootByLV, Value: "../lv"},
	} {
		if err := n.Validate(); err == nil {
			t.Errorf("Validate(%+v) accepted it", n)
		}
	}
}

func TestValidLVMName(t *testing.T) {
	for _, s := range []string{"vg0", "my-vg", "a+b_c.d", "...", strings.Repeat("a", 127)} {
		if !guestabi.ValidLVMName(s) {
			t.Errorf("ValidLVMName(%q) = false", s)
		}
	}
	for _, s := range []string{"", ".", "..", "-vg", "a/b", "a b", "é", strings.Repeat("a", 128)} {
		if guestabi.ValidLVMName(s) {
			t.Errorf("ValidLVMName(%q) = true", s)
		}
	}
}

func TestRootNameString(t *testing.T) {
	for n, want := range map[guestabi.RootName]string{
		{Kind: guestabi.RootByPartition, Disk: 1}:               "disk 1 (whole disk)",
		{Kind: guestabi.RootByPartition, Disk: 0, Partition: 2}: "disk 0 partition 2",
		{Kind: guestabi.RootByLabel, Value: "root"}:             `filesystem label "root"`,
		{Kind: guestabi.RootByLV, Value: "vg/lv"}:               "logical volume vg/lv",
	} {
		if got := n.String(); got != want {
			t.Errorf("%+v.String() = %q, want %q", n, got, want)
		}
	}
}

func FuzzParseRootParam(f *testing.F) {
	for _, n := range []guestabi.RootName{
		{Kind: guestabi.RootByPartition, Disk: 1, Partition: 2},
		{Kind: guestabi.RootByLabel, Value: "root"},
		{Kind: guestabi.RootByUUID, Value: "11111111-2222-3333-4444-555555555555"},
		{Kind: guestabi.RootByLV, Value: "vg0/root"},
	} {
		_, v, _ := strings.Cut(n.Param(), "=")
		f.Add(v)
	}
	f.Add("part.303a30")
	f.Add("label.")
	f.Fuzz(func(t *testing.T, s string) {
		n, err := guestabi.ParseRootParam(s)
		if err != nil || n == nil {
			return
		}
		if err := n.Validate(); err != nil {
			t.Fatalf("ParseRootParam(%q) = %+v, which Validate refuses: %v", s, n, err)
		}
		// Only what Param makes is accepted, so the host's and the
		// agent's view of a name cannot differ.
		if p := n.Param(); p != guestabi.RootParam+"="+s {
			t.Fatalf("ParseRootParam(%q) = %+v, whose Param is %q", s, n, p)
		}
	})
}
