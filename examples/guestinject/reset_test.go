package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io/fs"
	"log/slog"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/guestinject/guestinject/inject"
	"github.com/guestinject/guestinject/vfs"
	"github.com/guestinject/guestinject/vfs/memfs"
)

func TestSelectResetOperations(t *testing.T) {
	all := func() []string {
		var out []string
		for _, op := range inject.ResetOperations() {
			out = append(out, op.Name)
		}
		return out
	}()
	without := func(list []string, drop ...string) []string {
		var out []string
		for _, n := range list {
			if !strings.Contains(","+strings.Join(drop, ",")+",", ","+n+",") {
				out = append(out, n)
			}
		}
		return out
	}
	for _, c := range []struct {
		values []string
		want   []string
	}{
		{nil, nil},
		{[]string{"ssh-hostkeys,machine-id"}, []string{"machine-id", "ssh-hostkeys"}},
		{[]string{"defaults,-logfiles"}, without(inject.DefaultResetOperations(), "logfiles")},
		{[]string{"all,-tmp-files,-bash-history"}, without(all, "tmp-files", "bash-history")},
		{[]string{"all", "-defaults,machine-id"}, []string{"machine-id"}},
		{[]string{"logfiles", "tmp-files"}, []string{"logfiles", "tmp-files"}}, // repeated options add up
		{[]string{"-logfiles,logfiles"}, []string{"logfiles"}},                 // left to right
	} {
		got, err := selectResetOperations(c.values)
		if err != nil {
			t.Errorf("%q: %v", c.values, err)
			continue
		}
		if d := cmp.Diff(c.want, got); d != "" {
			t.Errorf("%q (-want +got):\n%s", c.values, d)
		}
	}
	for _, bad := range [][]string{{""}, {"machine-id,,logfiles"}, {"-"}, {"no-such-op"}, {"-all"}, {"logfiles,-logfiles"}} {
		_, err := selectResetOperations(bad)
		var usage *usageError
		if !errors.As(err, &usage) {
			t.Errorf("%q: %v, want a usage error", bad, err)
		}
	}
}

func TestResetListOperations(t *testing.T) {
	var out, errOut bytes.Buffer
	if code := run(context.Background(), []string{"reset", "--list-operations"}, stdio{out: &out, err: &errOut}); code != exitOK {
		t.Fatalf("exit %d: %s", code, errOut.String())
	}
	lines := strings.Split(strings.TrimSuffix(out.String(), "\n"), "\n")
	ops := inject.ResetOperations()
	if len(lines) != len(ops) {
		t.Fatalf("%d lines for %d operations:\n%s", len(lines), len(ops), out.String())
	}
	for i, op := range ops {
		star := " "
		if op.Default {
			star = "*"
		}
		if want := op.Name + " " + star + " " + op.Description; lines[i] != want {
			t.Errorf("line %d = %q, want %q", i, lines[i], want)
		}
	}

	out.Reset()
	if code := run(context.Background(), []string{"reset", "--list-operations", "--json"}, stdio{out: &out, err: &errOut}); code != exitOK {
		t.Fatalf("exit %d: %s", code, errOut.String())
	}
	var got []inject.ResetOperation
	if err := json.Unmarshal(out.Bytes(), &got); err != nil || !cmp.Equal(got, ops) {
		t.Errorf("JSON list %s read back as %+v, %v", out.String(), got, err)
	}
	if code := run(context.Background(), []string{"reset", "img", "--list-operations"}, stdio{out: &out, err: &errOut}); code != exitUsage {
		t.Errorf("--list-operations with an image: exit %d, want %d", code, exitUsage)
	}
}

// resetGuest stands a small used guest in for the image.
func resetGuest(t *testing.T) *memfs.FS {
	t.Helper()
	m := memfs.New()
	for _, n := range []memfs.Node{
		{Path: "/etc", Mode: fs.ModeDir | 0o755},
		{Path: "/etc/machine-id", Mode: 0o444, Data: []byte("0123456789abcdef0123456789abcdef\n")},
		{Path: "/etc/ssh", Mode: fs.ModeDir | 0o755},
		{Path: "/etc/ssh/ssh_host_ed25519_key", Mode: 0o600, Data: []byte("key\n")},
		{Path: "/tmp", Mode: fs.ModeDir | 0o777},
		{Path: "/tmp/junk", Mode: 0o644, Data: []byte("x")},
		{Path: "/var", Mode: fs.ModeDir | 0o755},
		{Path: "/var/log", Mode: fs.ModeDir | 0o755},
		{Path: "/var/log/syslog", Mode: 0o640, Data: []byte("boot\n")},
	} {
		if err := m.Add(n); err != nil {
			t.Fatal(err)
		}
	}
	saved := openSession
	openSession = func(context.Context, backendArgs, target, *slog.Logger) (vfs.Session, error) {
		return reusedSession{memSession{m}}, nil
	}
	t.Cleanup(func() { openSession = saved })
	return m
}

// reusedSession outlives Close, so that one guest serves several runs.
type reusedSession struct{ memSession }

func (reusedSession) Close() error { return nil }

func TestResetCommand(t *testing.T) {
	m := resetGuest(t)
	ctx := context.Background()
	reset := func(args ...string) (int, string, string) {
		var out, errOut bytes.Buffer
		code := run(ctx, append([]string{"reset", "guest.img", "--format", "raw", "--quiet"}, args...), stdio{in: strings.NewReader(""), out: &out, err: &errOut})
		return code, out.String(), errOut.String()
	}

	// A dry run lists the plan and changes nothing.
	code, out, errOut := reset("--dry-run")
	if code != exitOK {
		t.Fatalf("exit %d\n%s%s", code, out, errOut)
	}
	for _, want := range []string{
		"dry run: 4 changes planned, none made",
		"/etc/machine-id", "(truncated from 33 bytes)  [reset (machine-id)]",
		"delete  /etc/ssh/ssh_host_ed25519_key", "[reset (ssh-hostkeys)]",
		"delete  /tmp/junk", "[reset (tmp-files)]",
		"/var/log/syslog", "[reset (logfiles)]",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("dry run output lacks %q:\n%s", want, out)
		}
	}
	if _, err := m.Lstat(ctx, "/tmp/junk"); err != nil {
		t.Errorf("the dry run removed /tmp/junk: %v", err)
	}

	// Only the operations named, reported as JSON.
	code, out, errOut = reset("--operations", "defaults,-logfiles,-machine-id,-tmp-files", "--json")
	if code != exitOK {
		t.Fatalf("exit %d\n%s%s", code, out, errOut)
	}
	var got changesOutput
	if err := json.Unmarshal([]byte(out), &got); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	if got.DryRun || len(got.Changes) != 1 || got.Changes[0].Path != "/etc/ssh/ssh_host_ed25519_key" ||
		got.Changes[0].Item != (inject.Item{Field: inject.FieldReset, Index: -1, Name: "ssh-hostkeys"}) {
		t.Errorf("JSON report: %+v", got)
	}
	if _, err := m.Lstat(ctx, "/etc/ssh/ssh_host_ed25519_key"); err == nil {
		t.Error("the host key is still there")
	}
	if _, err := m.Lstat(ctx, "/tmp/junk"); err != nil {
		t.Errorf("tmp-files was left out, yet /tmp/junk is gone: %v", err)
	}

	// The bound is the caller's: a guest over it is refused, unchanged.
	code, out, errOut = reset("--max-entries", "1")
	if code != exitFailed || !strings.Contains(errOut, "more than 1 directory entries") || !strings.Contains(errOut, "image is unchanged") {
		t.Errorf("over the bound: exit %d\n%s%s", code, out, errOut)
	}
	if data, err := vfs.ReadFile(ctx, m, "/var/log/syslog", 100); err != nil || string(data) != "boot\n" {
		t.Errorf("syslog after a refused reset: %q, %v", data, err)
	}

	for _, bad := range [][]string{{"--operations", "nope"}, {"--operations", "-all"}, {"--max-entries", "-1"}} {
		if code, out, errOut := reset(bad...); code != exitUsage {
			t.Errorf("%q: exit %d, want %d\n%s%s", bad, code, exitUsage, out, errOut)
		}
	}
}

// Whatever --operations says, the selection is nil (the defaults), a
// usage error, or known operations in table order, each once.
func FuzzSelectResetOperations(f *testing.F) {
	for _, s := range []string{"", "defaults", "defaults,-logfiles", "all,-all,machine-id", "-", ",", "nope", "machine-id\x00"} {
		f.Add(s, "logfiles")
	}
	f.Fuzz(func(t *testing.T, a, b string) {
		got, err := selectResetOperations([]string{a, b})
		var usage *usageError
		if err != nil {
			if !errors.As(err, &usage) {
				t.Fatalf("%q %q: %v, want a usage error", a, b, err)
			}
			return
		}
		if len(got) == 0 {
			t.Fatalf("%q %q selected nothing without an error", a, b)
		}
		i := 0
		for _, op := range inject.ResetOperations() {
			if i < len(got) && got[i] == op.Name {
				i++
			}
		}
		if i != len(got) {
			t.Fatalf("%q %q selected %q: unknown, repeated or out of order", a, b, got)
		}
	})
}
