package appliance_test

import (
	"context"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/guestinject/guestinject/appliance"
	"github.com/guestinject/guestinject/internal/guestabi"
	"github.com/guestinject/guestinject/internal/testsupport/hotplugprobe"
)

// BenchmarkHotplugBus compares the buses a pooled VM could get its disks
// on (hotplugprobe.Variants: virtio-blk on the pool's PCIe root ports
// with ACPI or native PCIe hot-plug, scsi-hd on a virtio-scsi controller
// present at boot, and a bare machine for the boot time), booting the
// appliance's kernel with a probe init that polls /sys/block instead of
// the agent. Each iteration boots every variant once, in an order that
// rotates, since the machine is shared and its load drifts. Per variant
// NAME it reports medians: NAME-hotplug-ms from the start of
// blockdev-add+device_add to the guest naming the disk, NAME-boot-ms from
// starting QEMU to the init's first line, NAME-kernel-ms the guest
// kernel's uptime then (its part of the boot), NAME-ready-ms to the init
// having loaded the variant's modules (the driver's probe of what is
// there at boot included), NAME-modload-ms the guest's time in
// finit_module, and NAME-module-KiB the modules' size.
func BenchmarkHotplugBus(b *testing.B) {
	needE2E(b)
	h := hotplugprobe.New(b)
	h.Cmdline = appliance.KernelCmdline
	img := filepath.Join(b.TempDir(), "disk.raw")
	if err := os.WriteFile(img, make([]byte, 1<<20), 0o644); err != nil {
		b.Fatal(err)
	}
	serial := guestabi.HotplugDiskSerial(0, 1, false)
	variants := hotplugprobe.Variants()
	type samples struct{ boot, kernel, ready, modload, hotplug []time.Duration }
	got := make([]samples, len(variants))
	moduleBytes := make([]int64, len(variants))
	perModule := make([]map[string][]time.Duration, len(variants))
	for i := range perModule {
		perModule[i] = map[string][]time.Duration{}
	}
	b.ResetTimer()
	for n := range b.N {
		for k := range variants {
			i := (n + k) % len(variants)
			v := variants[i]
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
			vm, err := h.Boot(ctx, v)
			if err != nil {
				cancel()
				b.Fatal(err)
			}
			s := &got[i]
			s.boot, s.kernel = append(s.boot, vm.Boot), append(s.kernel, vm.KernelBoot)
			s.ready, s.modload = append(s.ready, vm.Ready), append(s.modload, vm.ModuleLoad)
			moduleBytes[i] = vm.ModuleBytes
			for _, m := range vm.Modules {
				perModule[i][m.Name] = append(perModule[i][m.Name], m.Took)
			}
			if v.Device != nil {
				d, err := vm.Plug(ctx, 0, img, serial)
				if err != nil {
					b.Fatalf("%s: %v\n%s", v.Name, err, vm.Transcript())
				}
				if d.Serial() != serial {
					b.Fatalf("%s: the guest reads serial %q, want %q", v.Name, d.Serial(), serial)
				}
				s.hotplug = append(s.hotplug, d.Latency)
			}
			vm.Close()
			cancel()
		}
	}
	b.StopTimer()
	for i, v := range variants {
		s := got[i]
		b.ReportMetric(medianMs(s.boot), v.Name+"-boot-ms")
		b.ReportMetric(medianMs(s.kernel), v.Name+"-kernel-ms")
		b.ReportMetric(medianMs(s.ready), v.Name+"-ready-ms")
		if len(v.Modules) > 0 {
			b.ReportMetric(medianMs(s.modload), v.Name+"-modload-ms")
			b.ReportMetric(float64(moduleBytes[i])/1024, v.Name+"-module-KiB")
		}
		if len(s.hotplug) > 0 {
			b.ReportMetric(medianMs(s.hotplug), v.Name+"-hotplug-ms")
		}
		b.Logf("%s: hotplug %v; kernel %v; modules %v", v.Name, sorted(s.hotplug), sorted(s.kernel), sorted(s.modload))
		for _, m := range slices.Sorted(maps.Keys(perModule[i])) {
			b.Logf("%s: module %s: median %.1f ms", v.Name, m, medianMs(perModule[i][m]))
		}
	}
}

// sorted returns ds rounded to the millisecond, in order.
func sorted(ds []time.Duration) []time.Duration {
	out := make([]time.Duration, len(ds))
	for i, d := range ds {
		out[i] = d.Round(time.Millisecond)
	}
	slices.Sort(out)
	return out
}

// medianMs is the median of ds in milliseconds.
func medianMs(ds []time.Duration) float64 {
	ds = slices.Clone(ds)
	slices.Sort(ds)
	return float64(ds[len(ds)/2].Microseconds()) / 1000
}
