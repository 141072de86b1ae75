package bytesize

import (
	"errors"
	"math"
	"math/big"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

func TestParse(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want int64
	}{
		{"0", 0},
		{"1", 1},
		{"007", 7},
		{"512", 512},
		{"512B", 512},
		{"512b", 512},
		{"1073741824", 1 << 30},
		{"4k", 4 << 10},
		{"4K", 4 << 10},
		{"4KiB", 4 << 10},
		{"4kib", 4 << 10},
		{"4KB", 4000},
		{"4kB", 4000},
		{"64M", 64 << 20},
		{"64MiB", 64 << 20},
		{"64MB", 64_000_000},
		{"50G", 50 << 30},
		{"50GiB", 50 << 30},
		{"50GB", 50_000_000_000},
		{"1T", 1 << 40},
		{"1TB", 1_000_000_000_000},
		{"2P", 2 << 50},
		{"2PB", 2_000_000_000_000_000},
		{"7E", 7 << 60},
		{"9EB", 9_000_000_000_000_000_000},
		{"1.5G", 3 << 29},
		{"1.50G", 3 << 29},
		{"0.5K", 512},
		{"0.001KB", 1},
		{"2.0", 2},
		{"1.25MiB", 5 << 18},
		{"0.000000000000000000867361737988403547205962240695953369140625E", 1}, // 2^-60 EiB
		{"9223372036854775807", math.MaxInt64},
		{"9223372036854775807B", math.MaxInt64},
		{"7.999999999999999999132638262011596452794037759304046630859375E", math.MaxInt64}, // 8 - 2^-60 EiB
	} {
		got, err := Parse(tc.in)
		if err != nil || got != tc.want {
			t.Errorf("Parse(%q) = %d, %v; want %d", tc.in, got, err, tc.want)
		}
	}
}

func TestParseRefuses(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want error
	}{
		{"", ErrSyntax},
		{"G", ErrSyntax},
		{"-1", ErrSyntax},
		{"+1", ErrSyntax},
		{" 1", ErrSyntax},
		{"1 ", ErrSyntax},
		{"1 G", ErrSyntax},
		{"1_000", ErrSyntax},
		{"1e3", ErrSyntax},
		{"0x10", ErrSyntax},
		{".5G", ErrSyntax},
		{"1.G", ErrSyntax},
		{"1..5G", ErrSyntax},
		{"1.5.0G", ErrSyntax},
		{"12X", ErrSyntax},
		{"5GG", ErrSyntax},
		{"5GiBB", ErrSyntax},
		{"5iB", ErrSyntax},
		{"5Gi", ErrSyntax},
		{"5KıB", ErrSyntax}, // dotless i upper-cases to I
		{"٣", ErrSyntax},    // a non-ASCII digit
		{"1" + strings.Repeat("0", MaxLen), ErrSyntax},
		{"1.5", ErrInexact},
		{"0.1K", ErrInexact},
		{"1.0001KiB", ErrInexact},
		{"0.0001KB", ErrInexact},
		{"9223372036854775808", ErrRange},
		{"8E", ErrRange},
		{"8EiB", ErrRange},
		{"10EB", ErrRange},
		{"9999999P", ErrRange},
		{"99999999999999999999999999999999", ErrRange},
	} {
		got, err := Parse(tc.in)
		if !errors.Is(err, tc.want) {
			t.Errorf("Parse(%q) = %d, %v; want %v", tc.in, got, err, tc.want)
			continue
		}
		if !strings.Contains(err.Error(), strconv.Quote(tc.in)) {
			t.Errorf("Parse(%q): %q does not quote the input", tc.in, err)
		}
	}
}

// oracleUnits are the multipliers, written out.
var oracleUnits = map[string]int64{
	"": 1, "B": 1,
	"K": 1 << 10, "KIB": 1 << 10, "KB": 1e3,
	"M": 1 << 20, "MIB": 1 << 20, "MB": 1e6,
	"G": 1 << 30, "GIB": 1 << 30, "GB": 1e9,
	"T": 1 << 40, "TIB": 1 << 40, "TB": 1e12,
	"P": 1 << 50, "PIB": 1 << 50, "PB": 1e15,
	"E": 1 << 60, "EIB": 1 << 60, "EB": 1e18,
}

var oracleSyntax = regexp.MustCompile(`^([0-9]+(?:\.[0-9]+)?)([A-Za-z]*)$`)

// oracle computes Parse's answer another way: a regular expression, a
// table and big.Rat. ok is false for text Parse must refuse.
func oracle(s string) (n int64, ok bool) {
	m := oracleSyntax.FindStringSubmatch(s)
	if m == nil || len(s) > MaxLen {
		return 0, false
	}
	mult, known := oracleUnits[strings.ToUpper(m[2])]
	if !known {
		return 0, false
	}
	r, valid := new(big.Rat).SetString(m[1])
	if !valid {
		return 0, false
	}
	r.Mul(r, new(big.Rat).SetInt64(mult))
	if !r.IsInt() || !r.Num().IsInt64() {
		return 0, false
	}
	return r.Num().Int64(), true
}

func FuzzParseSize(f *testing.F) {
	for _, s := range []string{
		"0", "512", "4k", "64MiB", "50GB", "1.5G", "0.1K", "8E", "9223372036854775807", "9223372036854775808",
		"1.", ".5", "1e3", "-1", "5KıB", "1.25MiB", "0.000000000000000000867361737988403547205962240695953369140625E",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		n, err := Parse(s)
		want, ok := oracle(s)
		if ok != (err == nil) || n != want {
			t.Fatalf("Parse(%q) = %d, %v; the oracle says %d, %v", s, n, err, want, ok)
		}
		if err != nil {
			kinds := 0
			for _, e := range []error{ErrSyntax, ErrRange, ErrInexact} {
				if errors.Is(err, e) {
					kinds++
				}
			}
			if kinds != 1 || n != 0 {
				t.Fatalf("Parse(%q) = %d, %v: want 0 and one kind of error", s, n, err)
			}
			return
		}
		if n < 0 {
			t.Fatalf("Parse(%q) = %d", s, n)
		}
		if back, err := Parse(strconv.FormatInt(n, 10)); err != nil || back != n {
			t.Fatalf("Parse(%q) = %d, but Parse(%d) = %d, %v", s, n, n, back, err)
		}
		for _, c := range []string{strings.ToUpper(s), strings.ToLower(s)} {
			if m, err := Parse(c); err != nil || m != n {
				t.Fatalf("Parse(%q) = %d, but Parse(%q) = %d, %v", s, n, c, m, err)
			}
		}
	})
}
