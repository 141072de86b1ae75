package guestetc

import (
	"errors"
	"os/exec"
	"strings"
	"testing"

	"github.com/guestinject/guestinject/internal/testsupport/testimage"
)

func opensslSHA512(t *testing.T, openssl, password, salt string) string {
	t.Helper()
	cmd := exec.Command(openssl, "passwd", "-6", "-salt", salt, "-stdin")
	cmd.Stdin = strings.NewReader(password + "\n")
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("openssl passwd: %v", err)
	}
	return strings.TrimSpace(string(out))
}

func TestSHA512CryptMatchesOpenSSL(t *testing.T) {
	openssl := testimage.NeedTool(t, "openssl")
	cases := []struct{ password, salt string }{
		{"Hello world!", "saltstring"},
		{"-", "abc"},
		{"x", "0123456789abcdef"},
		{strings.Repeat("long password ", 12), "./AZaz09"},
		{"pässwörd ✓", "unicode"},
		{"Hello world!", "rounds=10000$saltstringsaltstring"},
		{"Hello world!", "rounds=1000$s"},
		{strings.Repeat("z", 64), "sixtyfour"},
		{strings.Repeat("z", 65), "sixtyfive"},
	}
	for _, c := range cases {
		want := opensslSHA512(t, openssl, c.password, c.salt)
		salt, rounds := c.salt, 0
		if r, ok := strings.CutPrefix(salt, "rounds="); ok {
			n, rest, _ := strings.Cut(r, "$")
			for _, ch := range n {
				rounds = rounds*10 + int(ch-'0')
			}
			salt = rest
		}
		if got := SHA512Crypt(c.password, salt, rounds); got != want {
			t.Errorf("SHA512Crypt(%q, %q, %d) = %s, openssl says %s", c.password, salt, rounds, got, want)
		}
		if !VerifySHA512(c.password, want) {
			t.Errorf("VerifySHA512(%q, %s) = false", c.password, want)
		}
		if VerifySHA512(c.password+"x", want) {
			t.Errorf("VerifySHA512 accepted a wrong password for %s", want)
		}
		if err := CheckHash(want); err != nil {
			t.Errorf("CheckHash(%s): %v", want, err)
		}
	}
}

func TestNewSHA512HashVerifiedByOpenSSL(t *testing.T) {
	openssl := testimage.NeedTool(t, "openssl")
	h1, err := NewSHA512Hash("correct horse")
	if err != nil {
		t.Fatal(err)
	}
	h2, err := NewSHA512Hash("correct horse")
	if err != nil {
		t.Fatal(err)
	}
	if h1 == h2 {
		t.Fatalf("two hashes share a salt: %s", h1)
	}
	parts := strings.Split(h1, "$")
	if len(parts) != 4 || len(parts[2]) != 16 {
		t.Fatalf("hash %q: want $6$<16-char salt>$digest", h1)
	}
	if want := opensslSHA512(t, openssl, "correct horse", parts[2]); h1 != want {
		t.Fatalf("hash %s, openssl with the same salt says %s", h1, want)
	}
}

func TestSHA512CryptClampsRounds(t *testing.T) {
	low := SHA512Crypt("pw", "salt", 10)
	if !strings.HasPrefix(low, "$6$rounds=1000$salt$") {
		t.Errorf("rounds 10 gave %s, want rounds clamped to 1000", low)
	}
	if SHA512Crypt("pw", "salt", 10) != SHA512Crypt("pw", "salt", 1000) {
		t.Error("rounds 10 and 1000 differ")
	}
	long := SHA512Crypt("pw", "0123456789abcdefTAIL", 0)
	if !strings.HasPrefix(long, "$6$0123456789abcdef$") {
		t.Errorf("long salt gave %s, want it cut to 16 chars", long)
	}
}

func TestCheckHash(t *testing.T) {
	good := []string{
		SHA512Crypt("a", "salt", 0),
		SHA512Crypt("a", "salt", 20000),
		"$5$saltsalt$" + strings.Repeat("A", 43),
		"$y$j9T$F5Jx5fExrKuPp53xLKQ..1$X3DX6M94c7o.9agCG9G317fhZg9SqC.5i5rd.RhAtQ7",
		"$2b$12$" + strings.Repeat("a", 53),
	}
	for _, h := range good {
		if err := CheckHash(h); err != nil {
			t.Errorf("CheckHash(%q) = %v, want nil", h, err)
		}
	}
	bad := []string{
		"", "x", "plaintext", "$1$salt$qJH7.N4xYta3aEG/dfqo/0", "abJnggxhB/yWI",
		"$6$salt$short", "$6$salt$" + strings.Repeat("A", 85) + ":",
		"$6$salt$" + strings.Repeat("A", 85) + "\n",
		"$6$rounds=5$salt$" + strings.Repeat("A", 86),
		"$7$salt$" + strings.Repeat("A", 86),
		"$2b$99$" + strings.Repeat("a", 53),
	}
	for _, h := range bad {
		if err := CheckHash(h); !errors.Is(err, ErrBadHash) {
			t.Errorf("CheckHash(%q) = %v, want ErrBadHash", h, err)
		}
	}
}

func FuzzCheckHash(f *testing.F) {
	f.Add(SHA512Crypt("a", "salt", 0))
	f.Add("$y$j9T$F5Jx5fExrKuPp53xLKQ..1$X3DX6M94c7o.9agCG9G317fhZg9SqC.5i5rd.RhAtQ7")
	f.Add("$6$rounds=1000$$")
	f.Fuzz(func(t *testing.T, h string) {
		if CheckHash(h) == nil && strings.ContainsAny(h, ":\n\x00 ") {
			t.Fatalf("CheckHash accepted %q, which cannot live in /etc/shadow", h)
		}
	})
}
