// Package bytesize reads byte counts written by people: "1073741824",
// "512M", "50GiB", "1.5G", "20GB". It is the one size parser of the module;
// the command-line tool and the vfstest layouts use it.
//
// The syntax is
//
//	size   = digits [ "." digits ] [ unit ]
//	unit   = "B" | prefix | prefix "iB" | prefix "B"
//	prefix = "K" | "M" | "G" | "T" | "P" | "E"
//
// with ASCII digits and case-insensitive units. A bare prefix or one
// followed by "iB" is a power of 1024 ("50G" and "50GiB" are 50×2³⁰ bytes,
// as qemu-img reads "50G"); a prefix followed by "B" is a power of 1000
// ("50GB" is 50×10⁹ bytes), the convention of GNU coreutils. No sign,
// space, exponent or digit separator is accepted.
//
// Arithmetic is exact: a fraction is accepted only when the size it names
// is a whole number of bytes ("1.5G" is 1610612736, "0.5K" is 512, "0.1K"
// is refused), and a size above math.MaxInt64 bytes is refused, never
// rounded or wrapped.
package bytesize

import (
	"errors"
	"fmt"
	"math"
	"math/big"
	"strings"
)

// MaxLen bounds the length of the text Parse reads; longer text is a
// syntax error. It leaves room for every exact fraction of an int64 size.
const MaxLen = 100

// Errors Parse wraps, for errors.Is.
var (
	ErrSyntax  = errors.New("not a byte count")
	ErrRange   = errors.New("out of range")
	ErrInexact = errors.New("not a whole number of bytes")
)

// Units lists the unit suffixes Parse accepts, for messages.
const Units = "K or KiB, M or MiB, G or GiB, T or TiB, P or PiB, E or EiB (powers of 1024); KB, MB, GB, TB, PB, EB (powers of 1000); B"

const prefixes = "KMGTPE"

// Parse returns the number of bytes s names. The error, when there is one,
// quotes s and wraps ErrSyntax, ErrRange or ErrInexact.
func Parse(s string) (int64, error) {
	fail := func(err error, why string) (int64, error) {
		return 0, fmt.Errorf("invalid size %q: %w%s", s, err, why)
	}
	if len(s) > MaxLen {
		return fail(ErrSyntax, fmt.Sprintf(" (longer than %d characters)", MaxLen))
	}
	intPart, rest := leadingDigits(s)
	var fracPart string
	if strings.HasPrefix(rest, ".") {
		fracPart, rest = leadingDigits(rest[1:])
		if fracPart == "" {
			return fail(ErrSyntax, ": no digit after the decimal point")
		}
	}
	if intPart == "" {
		return fail(ErrSyntax, ": want digits, optionally followed by a unit: "+Units)
	}
	mult, ok := unit(rest)
	if !ok {
		return fail(ErrSyntax, fmt.Sprintf(": unknown unit %q; want %s", rest, Units))
	}

	// n = (intPart.fracPart × mult), computed as
	// (intPart fracPart as one integer) × mult / 10^len(fracPart).
	var n, den big.Int
	n.SetString(intPart+fracPart, 10) // digits only: cannot fail
	n.Mul(&n, mult)
	den.Exp(big.NewInt(10), big.NewInt(int64(len(fracPart))), nil)
	var rem big.Int
	n.QuoRem(&n, &den, &rem)
	if rem.Sign() != 0 {
		return fail(ErrInexact, "")
	}
	if !n.IsInt64() {
		return fail(ErrRange, fmt.Sprintf(": more than %d bytes", int64(math.MaxInt64)))
	}
	return n.Int64(), nil
}

// leadingDigits splits s after its leading ASCII digits.
func leadingDigits(s string) (digits, rest string) {
	i := 0
	for i < len(s) && '0' <= s[i] && s[i] <= '9' {
		i++
	}
	return s[:i], s[i:]
}

// unit returns the multiplier a unit suffix names.
func unit(u string) (*big.Int, bool) {
	if len(u) > 3 || strings.ContainsFunc(u, func(r rune) bool { return !('a' <= r && r <= 'z' || 'A' <= r && r <= 'Z') }) {
		return nil, false
	}
	u = strings.ToUpper(u) // ASCII letters only, checked above
	if u == "" || u == "B" {
		return big.NewInt(1), true
	}
	p := strings.IndexByte(prefixes, u[0])
	if p < 0 {
		return nil, false
	}
	exp := big.NewInt(int64(p + 1))
	switch u[1:] {
	case "", "IB":
		return new(big.Int).Exp(big.NewInt(1024), exp, nil), true
	case "B":
		return new(big.Int).Exp(big.NewInt(1000), exp, nil), true
	}
	return nil, false
}
