package mockvfs

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"strings"

	"github.com/guestinject/guestinject/inject"
	"github.com/guestinject/guestinject/vfs"
)

// MarkerPath records that a guest was provisioned, and for which host.
const MarkerPath = "/etc/fleet/provisioned"

// Bootstrap gives a guest its host name and the deploy user's SSH key,
// then writes MarkerPath. A guest whose marker already names host is left
// alone (the report is empty). The marker is written only after every
// other change succeeded, so a failed run is retried in full.
func Bootstrap(ctx context.Context, fsys vfs.FS, host, deployKey string) (*inject.Report, error) {
	done, err := provisioned(ctx, fsys, host)
	if err != nil || done {
		return &inject.Report{}, err
	}
	report, err := inject.Apply(ctx, fsys, inject.Spec{
		Hostname: host,
		SSHKeys:  []inject.SSHKeys{{User: "deploy", Keys: []string{deployKey}}},
	})
	if err != nil {
		return report, fmt.Errorf("bootstrap %s: %w", host, err)
	}
	err = fsys.WriteFile(ctx, MarkerPath, strings.NewReader(host+"\n"), vfs.WriteOptions{Perm: 0o644, UID: 0, GID: 0})
	if err != nil {
		return report, fmt.Errorf("bootstrap %s: marker: %w", host, err)
	}
	return report, nil
}

func provisioned(ctx context.Context, fsys vfs.FS, host string) (bool, error) {
	data, err := vfs.ReadFile(ctx, fsys, MarkerPath, 4096)
	if errors.Is(err, fs.ErrNotExist) {
		return false, fsys.MkdirAll(ctx, "/etc/fleet", 0o755)
	}
	if err != nil {
		return false, err
	}
	return bytes.Equal(bytes.TrimSpace(data), []byte(host)), nil
}
