package debianimage_test

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/guestinject/guestinject/internal/testsupport/debianimage"
)

// TestPackagesHaveSetfilesAndPolicy checks the shared guest has what the
// SELinux tests rely on: setfiles, the default policy's file contexts and
// a config naming that policy.
func TestPackagesHaveSetfilesAndPolicy(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Minute)
	defer cancel()
	tree := debianimage.Tree(ctx, t, debianimage.Packages)
	for _, p := range []string{"sbin/setfiles", "etc/selinux/config", "etc/selinux/default/contexts/files/file_contexts", "boot"} {
		if _, err := os.Stat(filepath.Join(tree, p)); err != nil {
			t.Error(err)
		}
	}
}
