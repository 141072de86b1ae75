package appliance_test

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/guestinject/guestinject/appliance"
	"github.com/guestinject/guestinject/inject"
	"github.com/guestinject/guestinject/internal/initramfs"
	"github.com/guestinject/guestinject/internal/testsupport/testimage"
	"github.com/guestinject/guestinject/internal/testsupport/testimage/novaguest"
	"github.com/guestinject/guestinject/vfs"
)

// hostKernel is the kernel the appliance falls back to without its own.
func hostKernel(t *testing.T) string {
	t.Helper()
	k, err := initramfs.HostKernel()
	if err != nil {
		testimage.Need(t, "a kernel in /boot with its modules: "+err.Error())
		return ""
	}
	return k.Path
}

// TestKernels runs a Nova-style injection cold and through a pool on each
// kernel the appliance boots: its own (make kernel), which it prefers, and
// the host's, which it falls back to.
func TestKernels(t *testing.T) {
	needE2E(t)
	for _, c := range []struct {
		name string
		opts []appliance.Option
		own  bool
	}{
		{"own", nil, true},
		{"host", []appliance.Option{appliance.WithKernel(hostKernel(t))}, false},
	} {
		t.Run(c.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
			defer cancel()
			injectWith := func(t *testing.T, open func(img string) (*appliance.Session, error)) {
				img := filepath.Join(t.TempDir(), "debian.raw")
				novaguest.Image(t, img, 128)
				s, err := open(img)
				if err != nil {
					t.Fatal(err)
				}
				defer s.Close()
				if k := s.Kernel(); k.Own != c.own {
					if c.own {
						testimage.Need(t, "the appliance's own kernel (make kernel); booted "+k.Path)
					}
					t.Fatalf("booted %+v, want own=%v", k, c.own)
				}
				if _, err := inject.Apply(ctx, s, novaguest.Spec()); err != nil {
					t.Fatalf("%v\n%s", err, s.Console())
				}
				if err := s.Commit(ctx); err != nil {
					t.Fatal(err)
				}
				novaguest.Check(t, img)
			}
			t.Run("cold", func(t *testing.T) {
				injectWith(t, func(img string) (*appliance.Session, error) {
					return appliance.Open(ctx, []vfs.Disk{{Path: img, Format: "raw"}}, c.opts...)
				})
			})
			t.Run("pooled", func(t *testing.T) {
				p := newPool(t, 1, c.opts...)
				injectWith(t, func(img string) (*appliance.Session, error) {
					return pooledOpen(ctx, t, p, img), nil
				})
			})
		})
	}
}
