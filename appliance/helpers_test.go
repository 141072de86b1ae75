package appliance_test

import (
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/guestinject/guestinject/appliance"
	"github.com/guestinject/guestinject/internal/testsupport/testimage"
	"github.com/guestinject/guestinject/vfs"
)

// needE2E skips the test when a prerequisite (QEMU, a kernel, mkfs) is
// missing, or fails it when GUESTINJECT_E2E=1 says the machine must have
// them.
func needE2E(t testing.TB) {
	t.Helper()
	var missing []string
	for _, tool := range []string{"qemu-system-x86_64", "qemu-img", "mkfs.ext4", "debugfs"} {
		if tool := sbinPath(tool); tool == "" {
			missing = append(missing, tool)
		}
	}
	if kernels, _ := filepath.Glob("/boot/vmlinuz-*"); len(kernels) == 0 && os.Getenv("GUESTINJECT_KERNEL") == "" {
		missing = append(missing, "a kernel in /boot")
	}
	testimage.Need(t, missing...)
}

func sbinPath(tool string) string { return testimage.Tool(tool) }

func run(t testing.TB, name string, args ...string) string {
	t.Helper()
	return testimage.Run(t, name, args...)
}

// writeTree creates files (path -> content) under dir; a path ending in
// "/" is a directory.
func writeTree(t testing.TB, dir string, files map[string]string) {
	t.Helper()
	testimage.WriteTree(t, dir, files)
}

// ext4Image builds a raw ext4 image of sizeMiB from the tree in dir,
// without mounting anything.
func ext4Image(t testing.TB, img, dir string, sizeMiB int) {
	t.Helper()
	testimage.Ext4(t, img, dir, int64(sizeMiB))
}

func fileHash(t testing.TB, p string) string {
	t.Helper()
	return testimage.FileHash(t, p)
}

// debugfsCat reads a file from an ext4 image with debugfs, independently
// of guestinject. offset is the filesystem's byte offset in the image.
func debugfs(t testing.TB, img, request string) string {
	t.Helper()
	return run(t, "debugfs", "-R", request, img)
}

// openRaw boots an appliance on the raw image img and closes it when the
// test ends; the returned ctx bounds the test's calls.
func openRaw(t *testing.T, img string, opts ...appliance.Option) (context.Context, *appliance.Session) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	t.Cleanup(cancel)
	s, err := appliance.Open(ctx, []vfs.Disk{{Path: img, Format: "raw"}}, opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return ctx, s
}

// consoleRecorder is a slog handler that keeps the appliance's console
// lines, which a debug logger (WithLogger) receives, with the agent's
// step timings.
type consoleRecorder struct {
	mu   sync.Mutex
	seen []string
}

func (c *consoleRecorder) Enabled(context.Context, slog.Level) bool { return true }
func (c *consoleRecorder) WithAttrs([]slog.Attr) slog.Handler       { return c }
func (c *consoleRecorder) WithGroup(string) slog.Handler            { return c }

func (c *consoleRecorder) Handle(_ context.Context, r slog.Record) error {
	r.Attrs(func(a slog.Attr) bool {
		if a.Key == "line" {
			c.mu.Lock()
			c.seen = append(c.seen, a.Value.String())
			c.mu.Unlock()
		}
		return true
	})
	return nil
}

// lines are the console lines so far.
func (c *consoleRecorder) lines() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return slices.Clone(c.seen)
}
