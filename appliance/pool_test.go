package appliance_test

import (
	"context"
	"testing"
	"time"

	"github.com/guestinject/guestinject/appliance"
	"github.com/guestinject/guestinject/vfs"
)

// newPool makes a pool of size VMs, waits until they are booted and
// closes it when the test ends.
func newPool(t testing.TB, size int, opts ...appliance.Option) *appliance.Pool {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	p, err := appliance.NewPool(ctx, size, opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	if err := p.Wait(ctx); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestPoolOpen(t *testing.T) {
	needE2E(t)
	img := smallImage(t)
	p := newPool(t, 1)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	start := time.Now()
	s, err := p.Open(ctx, []vfs.Disk{{Path: img, Format: "raw"}})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	t.Logf("pooled open took %v", time.Since(start))
	if got, err := vfs.ReadFile(ctx, s, "/etc/hostname", 1<<10); err != nil || string(got) != "guest\n" {
		t.Errorf("ReadFile = %q, %v", got, err)
	}
}
