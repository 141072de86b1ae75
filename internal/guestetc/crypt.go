package guestetc

import (
	"crypto/rand"
	"crypto/sha512"
	"crypto/subtle"
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// ErrBadHash: a string is not a crypt(3) hash this package accepts.
var ErrBadHash = errors.New("not an accepted crypt hash")

// SHA-512 crypt parameters, from the published SHA-crypt specification.
const (
	SHA512DefaultRounds = 5000
	sha512MinRounds     = 1000
	sha512MaxRounds     = 999999999
	sha512MaxSalt       = 16
)

const cryptAlphabet = "./0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"

// NewSHA512Hash hashes password with SHA-512 crypt ("$6$") and a 16-char
// salt from the system's CSPRNG, with the default rounds.
func NewSHA512Hash(password string) (string, error) {
	var raw [sha512MaxSalt]byte
	if _, err := rand.Read(raw[:]); err != nil {
		return "", fmt.Errorf("salt: %w", err)
	}
	salt := make([]byte, len(raw))
	for i, b := range raw {
		salt[i] = cryptAlphabet[b&0x3f] // 64 symbols: masking keeps them uniform
	}
	return SHA512Crypt(password, string(salt), 0), nil
}

// SHA512Crypt returns the "$6$" crypt(3) hash of password with salt (its
// first 16 bytes up to any '$'). rounds 0 means the default and leaves the
// rounds out of the result; other values are clamped to [1000, 999999999]
// and written as "rounds=N$".
func SHA512Crypt(password, salt string, rounds int) string {
	if i := strings.IndexByte(salt, '$'); i >= 0 {
		salt = salt[:i]
	}
	if len(salt) > sha512MaxSalt {
		salt = salt[:sha512MaxSalt]
	}
	explicitRounds := rounds != 0
	if !explicitRounds {
		rounds = SHA512DefaultRounds
	}
	rounds = min(max(rounds, sha512MinRounds), sha512MaxRounds)

	pw, s := []byte(password), []byte(salt)

	// Digest B: password, salt, password.
	h := sha512.New()
	h.Write(pw)
	h.Write(s)
	h.Write(pw)
	b := h.Sum(nil)

	// Digest A: password, salt, B stretched to len(password), then per bit
	// of len(password) either B or the password.
	h.Reset()
	h.Write(pw)
	h.Write(s)
	h.Write(repeatTo(b, len(pw)))
	for n := len(pw); n > 0; n >>= 1 {
		if n&1 != 0 {
			h.Write(b)
		} else {
			h.Write(pw)
		}
	}
	a := h.Sum(nil)

	// P: digest of the password repeated len(password) times, stretched.
	h.Reset()
	for range len(pw) {
		h.Write(pw)
	}
	p := repeatTo(h.Sum(nil), len(pw))

	// S: digest of the salt repeated 16+A[0] times, stretched.
	h.Reset()
	for range 16 + int(a[0]) {
		h.Write(s)
	}
	sb := repeatTo(h.Sum(nil), len(s))

	c := a
	for i := range rounds {
		h.Reset()
		if i&1 != 0 {
			h.Write(p)
		} else {
			h.Write(c)
		}
		if i%3 != 0 {
			h.Write(sb)
		}
		if i%7 != 0 {
			h.Write(p)
		}
		if i&1 != 0 {
			h.Write(c)
		} else {
			h.Write(p)
		}
		c = h.Sum(c[:0])
	}

	var out strings.Builder
	out.WriteString("$6$")
	if explicitRounds {
		out.WriteString("rounds=" + strconv.Itoa(rounds) + "$")
	}
	out.WriteString(salt)
	out.WriteByte('$')
	// The specification's byte permutation: 21 groups of three, then one.
	for i := range 21 {
		x, y, z := i, i+21, i+42
		switch i % 3 {
		case 1:
			x, y, z = i+21, i+42, i
		case 2:
			x, y, z = i+42, i, i+21
		}
		encode24(&out, c[x], c[y], c[z], 4)
	}
	encode24(&out, 0, 0, c[63], 2)
	return out.String()
}

func repeatTo(src []byte, n int) []byte {
	out := make([]byte, 0, n)
	for len(out) < n {
		out = append(out, src[:min(len(src), n-len(out))]...)
	}
	return out
}

func encode24(out *strings.Builder, b2, b1, b0 byte, n int) {
	w := uint(b2)<<16 | uint(b1)<<8 | uint(b0)
	for range n {
		out.WriteByte(cryptAlphabet[w&0x3f])
		w >>= 6
	}
}

// VerifySHA512 reports whether password matches the "$6$" hash.
func VerifySHA512(password, hash string) bool {
	rest, ok := strings.CutPrefix(hash, "$6$")
	if !ok {
		return false
	}
	rounds := 0
	if r, ok := strings.CutPrefix(rest, "rounds="); ok {
		num, after, ok := strings.Cut(r, "$")
		if !ok {
			return false
		}
		n, err := strconv.Atoi(num)
		if err != nil {
			return false
		}
		rounds, rest = max(n, 1), after
	}
	salt, _, ok := strings.Cut(rest, "$")
	if !ok {
		return false
	}
	return subtle.ConstantTimeCompare([]byte(SHA512Crypt(password, salt, rounds)), []byte(hash)) == 1
}

// CheckHash reports whether hash is a crypt(3) hash of a scheme current
// Linux distributions verify and that is not broken: SHA-512 ("$6$"),
// SHA-256 ("$5$"), yescrypt ("$y$"), or bcrypt ("$2b$", "$2a$", "$2y$").
// DES and MD5 hashes are refused as too weak. Only the syntax is checked.
func CheckHash(hash string) error {
	bad := func(why string) error { return fmt.Errorf("%w: %s", ErrBadHash, why) }
	for _, c := range []byte(hash) {
		if c != '$' && c != '=' && c != ',' && !strings.ContainsRune(cryptAlphabet, rune(c)) {
			return bad(fmt.Sprintf("character %q", c))
		}
	}
	parts := strings.Split(hash, "$")
	if len(parts) < 4 || parts[0] != "" {
		return bad("not a $id$ hash")
	}
	switch parts[1] {
	case "5", "6":
		digestLen := map[string]int{"5": 43, "6": 86}[parts[1]]
		fields := parts[2:]
		if strings.HasPrefix(fields[0], "rounds=") {
			n, err := strconv.Atoi(strings.TrimPrefix(fields[0], "rounds="))
			if err != nil || n < sha512MinRounds || n > sha512MaxRounds {
				return bad("rounds out of range")
			}
			fields = fields[1:]
		}
		if len(fields) != 2 || len(fields[0]) > sha512MaxSalt || len(fields[1]) != digestLen || strings.ContainsAny(fields[0]+fields[1], "=,") {
			return bad("wrong salt or digest length")
		}
	case "y":
		if len(parts) != 5 || parts[2] == "" || parts[3] == "" || len(parts[4]) != 43 {
			return bad("malformed yescrypt hash")
		}
	case "2a", "2b", "2y":
		if len(parts) != 4 || len(parts[2]) != 2 || parts[2] < "04" || parts[2] > "31" || len(parts[3]) != 53 {
			return bad("malformed bcrypt hash")
		}
	case "1":
		return bad("MD5 crypt is too weak")
	default:
		return bad("unknown scheme $" + parts[1] + "$")
	}
	return nil
}
