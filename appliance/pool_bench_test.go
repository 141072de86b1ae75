package appliance_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/guestinject/guestinject/appliance"
	"github.com/guestinject/guestinject/internal/qmp"
	"github.com/guestinject/guestinject/internal/testsupport/appliancetest"
	"github.com/guestinject/guestinject/vfs"
)

// BenchmarkPoolOpen measures a pooled session from taking a ready VM to
// the answer of its first vfs call: the image check, the hot-plug, the
// agent's setup and inspection, one ReadFile. The replacement's boot is
// not timed. It also reports, as hotplug-ms, the median time from
// device_add to the guest's virtio-blk driver being ready for the disk
// (QEMU's view of the device status, polled from another goroutine).
//
// The sub-benchmarks are the two hot-plug mechanisms of a PCIe root
// port: QEMU's ACPI PCI hot-plug (the pool's) and native PCIe hot-plug.
func BenchmarkPoolOpen(b *testing.B) {
	needE2E(b)
	img := appliancetest.WriteCommitImage(b, b.TempDir())
	for name, q := range map[string]appliance.QEMU{"acpi": {}, "native-pcie": {NativeHotplug: true}} {
		b.Run(name, func(b *testing.B) { benchmarkPoolOpen(b, img, q) })
	}
}

func benchmarkPoolOpen(b *testing.B, img string, q appliance.QEMU) {
	p := newPool(b, 1, appliance.WithLauncher(q))
	var (
		mu      sync.Mutex
		plugged []time.Duration
	)
	appliance.SetAfterPlug(p, func(ctx context.Context, mon *qmp.Monitor, i int) {
		start := time.Now()
		go func() {
			if err := waitDriverOK(ctx, mon, i); err == nil {
				mu.Lock()
				plugged = append(plugged, time.Since(start))
				mu.Unlock()
			}
		}()
	})
	ctx := context.Background()
	var rss []float64
	b.ResetTimer()
	for range b.N {
		b.StopTimer()
		if err := p.Wait(ctx); err != nil {
			b.Fatal(err)
		}
		for _, pid := range appliance.ReadyVMPids(p) {
			if kib, err := vmRSSKiB(pid); err == nil {
				rss = append(rss, float64(kib)/1024)
			}
		}
		b.StartTimer()
		s, err := p.Open(ctx, []vfs.Disk{{Path: img, Format: "raw"}})
		if err != nil {
			b.Fatal(err)
		}
		if _, err := vfs.ReadFile(ctx, s, "/etc/hostname", 1<<10); err != nil {
			b.Fatal(err)
		}
		b.StopTimer()
		s.Close()
	}
	if len(rss) > 0 {
		slices.Sort(rss)
		b.ReportMetric(rss[len(rss)/2], "idle-rss-MiB")
	}
	mu.Lock()
	defer mu.Unlock()
	if len(plugged) > 0 {
		slices.Sort(plugged)
		b.ReportMetric(float64(plugged[len(plugged)/2].Microseconds())/1000, "hotplug-ms")
	}
}

// waitDriverOK polls QEMU until the guest driver of hot-plugged disk i
// has set DRIVER_OK.
func waitDriverOK(ctx context.Context, mon *qmp.Monitor, i int) error {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	path := fmt.Sprintf("/machine/peripheral/vd%d/virtio-backend", i)
	for {
		var status struct {
			Status struct {
				Statuses []string `json:"statuses"`
			} `json:"status"`
		}
		if err := mon.Execute(ctx, "x-query-virtio-status", map[string]any{"path": path}, &status); err != nil {
			return err
		}
		for _, s := range status.Status.Statuses {
			if strings.Contains(s, "DRIVER_OK") {
				return nil
			}
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// BenchmarkPoolWriteCommit is BenchmarkWriteCommit's injection on pooled
// VMs: the replacement's boot is not timed.
func BenchmarkPoolWriteCommit(b *testing.B) {
	needE2E(b)
	img := appliancetest.WriteCommitImage(b, b.TempDir())
	p := newPool(b, 1)
	ctx := context.Background()
	b.ResetTimer()
	for range b.N {
		b.StopTimer()
		if err := p.Wait(ctx); err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
		if err := appliancetest.WriteCommitWith(ctx, p.Open, nil, img); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkPoolThroughput compares how many sessions per second the
// machine completes in a burst of 6 (appliancetest.WriteCommit's small
// injection, each on its own image, 2 at a time) when every session
// boots its own VM ("cold") and through a pool of 2 ("pool-2"), reported
// as sessions/s. The pool is full when a burst starts (the wait for it is
// not timed); its replacement boots during the burst share the CPU with
// the sessions and are timed, and those still booting when the burst ends
// are not. pooled/op is how many of the 6 got a pooled VM; the others
// found none ready and booted their own.
func BenchmarkPoolThroughput(b *testing.B) {
	needE2E(b)
	const sessions, concurrency = 6, 2
	images := make([]string, sessions)
	for i := range images {
		dir := filepath.Join(b.TempDir(), strconv.Itoa(i))
		if err := os.Mkdir(dir, 0o755); err != nil {
			b.Fatal(err)
		}
		images[i] = appliancetest.WriteCommitImage(b, dir)
	}
	b.Run("cold", func(b *testing.B) { benchmarkThroughput(b, nil, images, concurrency) })
	b.Run("pool-2", func(b *testing.B) { benchmarkThroughput(b, newPool(b, 2), images, concurrency) })
}

// benchmarkThroughput runs a burst of one session per image, concurrency
// at a time, per iteration, through p or with cold boots when p is nil.
func benchmarkThroughput(b *testing.B, p *appliance.Pool, images []string, concurrency int) {
	ctx := context.Background()
	var (
		elapsed time.Duration
		pooled  int
		mu      sync.Mutex
	)
	open := func(ctx context.Context, disks []vfs.Disk, opts ...appliance.Option) (*appliance.Session, error) {
		if p == nil {
			return appliance.Open(ctx, disks, opts...)
		}
		s, err := p.Open(ctx, disks, opts...)
		if err == nil && s.Pooled() {
			mu.Lock()
			pooled++
			mu.Unlock()
		}
		return s, err
	}
	b.ResetTimer()
	for range b.N {
		b.StopTimer()
		if p != nil {
			if err := p.Wait(ctx); err != nil {
				b.Fatal(err)
			}
		}
		b.StartTimer()
		start := time.Now()
		slots := make(chan struct{}, concurrency)
		errs := make(chan error, len(images))
		var wg sync.WaitGroup
		for _, img := range images {
			slots <- struct{}{}
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer func() { <-slots }()
				errs <- appliancetest.WriteCommitWith(ctx, open, nil, img)
			}()
		}
		wg.Wait()
		elapsed += time.Since(start)
		close(errs)
		for err := range errs {
			if err != nil {
				b.Fatal(err)
			}
		}
	}
	b.ReportMetric(float64(b.N*len(images))/elapsed.Seconds(), "sessions/s")
	b.ReportMetric(float64(pooled)/float64(b.N), "pooled/op")
}

// vmRSSKiB reads the resident set of process pid.
func vmRSSKiB(pid int) (int, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			return strconv.Atoi(strings.TrimSuffix(strings.TrimSpace(v), " kB"))
		}
	}
	return 0, fmt.Errorf("no VmRSS for %d", pid)
}
