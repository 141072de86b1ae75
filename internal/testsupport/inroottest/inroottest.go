package inroottest

import (
	"context"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// Nobody is the user and group the tests re-run as.
const Nobody = 65534

// childEnv marks the re-run process.
const childEnv = "GUESTINJECT_UNPRIVILEGED_CHILD"

// E2E reports whether GUESTINJECT_E2E=1 asks tests to fail, not skip, when
// a prerequisite is missing.
func E2E() bool { return os.Getenv("GUESTINJECT_E2E") == "1" }

// RequireRoot skips t, or fails it under GUESTINJECT_E2E=1, when the
// process is not root. In a re-run started by RerunUnprivileged it always
// skips: that run is meant to lack root.
func RequireRoot(t testing.TB) {
	t.Helper()
	if os.Geteuid() == 0 {
		return
	}
	if E2E() && os.Getenv(childEnv) == "" {
		t.Fatal("this test needs root (GUESTINJECT_E2E=1)")
	}
	t.Skip("this test needs root")
}

// IsRerun reports whether the process was started by RerunUnprivileged.
func IsRerun() bool { return os.Getenv(childEnv) != "" }

// RerunUnprivileged runs the tests matching pattern (a -test.run value),
// except those matching skip (a -test.skip value, "" for none), again in a copy of the current test binary as uid and gid Nobody with no
// supplementary groups, with TMPDIR in a directory that user owns. It
// fails t when they fail or when none of them passed. Without root it
// skips: the tests have just run unprivileged anyway; GUESTINJECT_E2E
// does not change that.
func RerunUnprivileged(t *testing.T, pattern, skip string) {
	t.Helper()
	if IsRerun() {
		t.Skip("already the unprivileged re-run")
	}
	if os.Geteuid() != 0 {
		t.Skipf("running as uid %d already: the tests ran unprivileged", os.Geteuid())
	}
	dir, err := os.MkdirTemp("", "guestinject-unprivileged-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	tmp := filepath.Join(dir, "tmp")
	if err := os.Mkdir(tmp, 0o700); err != nil {
		t.Fatal(err)
	}
	for _, step := range []error{os.Chmod(dir, 0o755), os.Chown(tmp, Nobody, Nobody)} {
		if step != nil {
			t.Fatal(step)
		}
	}
	bin := filepath.Join(dir, "test.bin")
	if err := copyExecutable(bin); err != nil {
		t.Fatal(err)
	}
	ctx := t.Context()
	if deadline, ok := t.Deadline(); ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithDeadline(ctx, deadline)
		defer cancel()
	}
	cmd := exec.CommandContext(ctx, bin, "-test.run="+pattern, "-test.skip="+skip, "-test.v", "-test.count=1")
	cmd.Dir = tmp
	cmd.Env = append(os.Environ(), childEnv+"=1", "TMPDIR="+tmp, "HOME="+tmp)
	cmd.SysProcAttr = &syscall.SysProcAttr{
		Credential: &syscall.Credential{Uid: Nobody, Gid: Nobody, Groups: []uint32{}},
	}
	out, err := cmd.CombinedOutput()
	t.Logf("tests %s as uid %d:\n%s", pattern, Nobody, out)
	if err != nil {
		t.Fatalf("unprivileged re-run failed: %v", err)
	}
	if !strings.Contains(string(out), "--- PASS: ") {
		t.Fatalf("unprivileged re-run passed no test matching %s", pattern)
	}
}

func copyExecutable(dst string) error {
	src, err := os.Executable()
	if err != nil {
		return err
	}
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o755)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}
