package hotplugprobe_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/guestinject/guestinject/internal/guestabi"
	"github.com/guestinject/guestinject/internal/testsupport/hotplugprobe"
)

// rawImage writes an empty 1 MiB raw image.
func rawImage(t *testing.T) string {
	t.Helper()
	img := filepath.Join(t.TempDir(), "disk.raw")
	if err := os.WriteFile(img, make([]byte, 1<<20), 0o644); err != nil {
		t.Fatal(err)
	}
	return img
}

// TestHarness boots each variant and checks that the harness sees no
// disk while none is plugged, giving up within the wait's bound, and
// then sees the plugged one, by the variant's name and with the serial
// the host gave it.
func TestHarness(t *testing.T) {
	h := hotplugprobe.New(t)
	img := rawImage(t)
	serial := guestabi.HotplugDiskSerial(0, 1, false)
	for _, v := range hotplugprobe.Variants() {
		t.Run(v.Name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
			defer cancel()
			vm, err := h.Boot(ctx, v)
			if err != nil {
				t.Fatal(err)
			}
			defer vm.Close()
			if vm.KernelBoot <= 0 || vm.Boot < vm.KernelBoot || vm.Ready < vm.Boot {
				t.Errorf("kernel boot %v, boot %v, ready %v", vm.KernelBoot, vm.Boot, vm.Ready)
			}
			if (vm.ModuleBytes > 0) != (len(v.Modules) > 0 && !h.BuiltIn) {
				t.Errorf("%d module bytes loaded for modules %v (built in: %v)", vm.ModuleBytes, v.Modules, h.BuiltIn)
			}
			var sum int64
			for _, m := range vm.Modules {
				sum += m.Bytes
				t.Logf("%s: module %s, %d bytes, %v", v.Name, m.Name, m.Bytes, m.Took)
			}
			if sum != vm.ModuleBytes {
				t.Errorf("modules %+v sum to %d bytes, ready line says %d", vm.Modules, sum, vm.ModuleBytes)
			}

			const bound = 1500 * time.Millisecond
			wctx, wcancel := context.WithTimeout(ctx, bound)
			start := time.Now()
			_, err = vm.WaitDisk(wctx)
			wcancel()
			if !errors.Is(err, hotplugprobe.ErrNoDisk) {
				t.Fatalf("WaitDisk with nothing plugged = %v, want ErrNoDisk\n%s", err, vm.Transcript())
			}
			if took := time.Since(start); took > bound+time.Second {
				t.Errorf("WaitDisk gave up after %v, bound %v", took, bound)
			}

			d, err := vm.Plug(ctx, 0, img, serial)
			if v.Device == nil {
				if err == nil {
					t.Errorf("variant %s plugged %+v", v.Name, d)
				}
				return
			}
			if err != nil {
				t.Fatalf("%v\n%s", err, vm.Transcript())
			}
			t.Logf("%s: %s in %v, attrs %q; boot %v (kernel %v), modules %d bytes in %v", v.Name, d.Name, d.Latency, d.Attrs, vm.Boot, vm.KernelBoot, vm.ModuleBytes, vm.ModuleLoad)
			if !strings.HasPrefix(d.Name, v.DiskPrefix) || d.Latency <= 0 {
				t.Errorf("disk %q after %v, want a %s* disk", d.Name, d.Latency, v.DiskPrefix)
			}
			if got := d.Serial(); got != serial {
				t.Errorf("the guest reads serial %q of %s (attributes %q), want %q", got, d.Name, d.Attrs, serial)
			}
		})
	}
}
