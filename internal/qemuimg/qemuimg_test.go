package qemuimg

import (
	"context"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"testing"
)

// Command's process runs under the limits, with the environment and the
// files as descriptors from 3; sh stands in for qemu-img.
func TestCommandLimitsEnvAndFiles(t *testing.T) {
	f, err := os.Create(filepath.Join(t.TempDir(), "file"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.WriteString("inherited\n"); err != nil {
		t.Fatal(err)
	}
	cmd, err := Command(context.Background(), "sh", Limits{AddressSpace: 1 << 30, CPUSeconds: 7, FileSize: 1 << 20}, []*os.File{f},
		"-c", `cat /proc/$$/limits; env; cat `+FD(0))
	if err != nil {
		t.Skipf("no prlimit or sh: %v", err)
	}
	out, err := cmd.Output()
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		`(?m)^Max cpu time\s+7\s+7\s`,
		`(?m)^Max address space\s+1073741824\s+1073741824\s`,
		`(?m)^Max file size\s+1048576\s+1048576\s`,
		`(?m)^Max core file size\s+0\s+0\s`,
		`(?m)^MALLOC_ARENA_MAX=1$`,
		`(?m)^inherited$`,
	} {
		if !regexp.MustCompile(want).Match(out) {
			t.Errorf("no %s in:\n%s", want, out)
		}
	}
	if !slices.Equal(cmd.Env, env) {
		t.Errorf("env %q", cmd.Env)
	}
	cmd, err = Command(context.Background(), "sh", Limits{AddressSpace: 1 << 30, CPUSeconds: 7}, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range cmd.Args {
		if regexp.MustCompile(`^--fsize`).MatchString(a) {
			t.Errorf("FileSize 0 gave %s", a)
		}
	}
}
