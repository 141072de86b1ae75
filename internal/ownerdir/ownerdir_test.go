package ownerdir

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"
)

func TestParseStat(t *testing.T) {
	st, err := ParseStat([]byte("123 (a b) c)) S 1 123 123 0 -1 4194560 1 0 0 0 0 0 0 0 20 0 1 0 98765 1000 10 18446744073709551615"))
	if err != nil || st.State != 'S' || st.Start != 98765 {
		t.Errorf("got %+v, %v", st, err)
	}
}

func FuzzParseStat(f *testing.F) {
	f.Add([]byte("1 (init) S 0 1 1 0 -1 4194560 1 0 0 0 0 0 0 0 20 0 1 0 42 1000 10 0"))
	f.Fuzz(func(t *testing.T, b []byte) {
		ParseStat(b)
	})
}

func TestParseName(t *testing.T) {
	const prefix = "guestinject-mount-"
	for name, want := range map[string]bool{
		"guestinject-mount-12-345-abc": true,
		"guestinject-mount-12-345-":    false,
		"guestinject-mount-012-345-x":  false,
		"guestinject-mount--1-345-x":   false,
		"other-12-345-x":               false,
	} {
		if _, _, ok := ParseName(prefix, name); ok != want {
			t.Errorf("ParseName(%q) ok=%v, want %v", name, ok, want)
		}
	}
}

func FuzzParseName(f *testing.F) {
	f.Add("guestinject-mount-12-345-abc")
	f.Fuzz(func(t *testing.T, name string) {
		pid, _, ok := ParseName("guestinject-mount-", name)
		if ok && pid <= 0 {
			t.Fatalf("%q: pid %d accepted", name, pid)
		}
	})
}

// TestStale checks that only directories of dead owners whose lock is
// free reach the cleanup function.
func TestStale(t *testing.T) {
	const prefix = "test-session-"
	parent := t.TempDir()
	live, err := Create(parent, prefix)
	if err != nil {
		t.Fatal(err)
	}
	defer live.Unlock()
	start, err := ProcessStart(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	// This process under another start time is a dead process that had
	// the same pid.
	dead := filepath.Join(parent, fmt.Sprintf("%s%d-%d-x", prefix, os.Getpid(), start+1))
	// A dead owner's directory that a sweeper in another process holds.
	held := filepath.Join(parent, fmt.Sprintf("%s%d-%d-y", prefix, os.Getpid(), start+2))
	other := filepath.Join(parent, "unrelated")
	for _, d := range []string{dead, held, other} {
		if err := os.Mkdir(d, 0o700); err != nil {
			t.Fatal(err)
		}
	}
	// flock locks belong to the open file: a second open conflicts even
	// within one process, as another sweeper's would.
	lock, err := Lock(held, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer lock.Close()

	var cleaned []string
	err = Stale(context.Background(), parent, prefix, func(_ context.Context, dir string) error {
		cleaned = append(cleaned, dir)
		return os.Remove(dir)
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(cleaned) != 1 || cleaned[0] != dead {
		t.Errorf("cleaned %q, want only %q", cleaned, dead)
	}
	for _, d := range []string{live.Path, held, other} {
		if _, err := os.Stat(d); err != nil {
			t.Errorf("%s: %v", d, err)
		}
	}
}
