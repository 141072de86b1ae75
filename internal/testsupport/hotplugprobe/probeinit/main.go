// Command probeinit is the /init of the VMs of the hot-plug bus harness
// (package hotplugprobe). It runs nothing else and writes only to the
// console, one line per event, each starting with "probe: ":
//
//	probe: init boot-us=T                          first thing, for the boot time
//	probe: module NAME bytes=N us=T                each module of the group loaded
//	probe: ready modules=K bytes=N us=T disks=A,B  modules loaded, disks at boot
//	probe: disk NAME us=T                          a new disk, bound to its driver
//	probe: attr NAME FILE "VALUE"                  what the kernel says of its serial
//	probe: done NAME
//
// The group is the one named by the probe.modules kernel parameter in
// the initramfs's module list (none when absent); us= are guest
// microseconds, for a module the time its finit_module took, for a disk
// the time since ready, and boot-us the kernel's CLOCK_BOOTTIME when the
// init starts (the kernel's part of the boot: no firmware, no QEMU). It polls /sys/block every millisecond, as a
// minimal agent would, and never powers off: the host kills the VM.
package main

import (
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"golang.org/x/sys/unix"

	"github.com/guestinject/guestinject/internal/agent/guest"
	"github.com/guestinject/guestinject/internal/guestabi"
)

// ModulesParam names the module group to load.
const ModulesParam = "probe.modules"

// serialFiles are the files under /sys/block/NAME that may carry a
// disk's serial: virtio-blk's serial, and a SCSI disk's unit serial
// number (VPD page 0x80), device identification (0x83) and the
// identifier the kernel makes of them.
var serialFiles = []string{"serial", "device/serial", "device/vpd_pg80", "device/vpd_pg83", "device/wwid"}

func main() {
	var boot unix.Timespec
	_ = unix.ClockGettime(unix.CLOCK_BOOTTIME, &boot)
	fmt.Printf("probe: init boot-us=%d\n", time.Duration(boot.Nano()).Microseconds())
	fmt.Printf("probe: error %v\n", run())
	for {
		time.Sleep(time.Hour)
	}
}

// run loads the modules and reports disks; it returns only on failure.
func run() error {
	if os.Getpid() != 1 {
		return fmt.Errorf("runs only as /init")
	}
	if err := guest.MountPseudo(); err != nil {
		return err
	}
	mods, err := guest.ReadModules()
	if err != nil {
		return err
	}
	group := guest.Cmdline(ModulesParam)
	var (
		count int
		bytes int64
		took  time.Duration
	)
	for _, m := range mods.List {
		if group == "" || m.Group != group {
			continue
		}
		fi, err := os.Stat(m.Path)
		if err != nil {
			return err
		}
		start := time.Now()
		// One module at a time, through the agent's own loader.
		if err := (guest.Modules{List: []guestabi.Module{m}}).Load(group); err != nil {
			return err
		}
		d := time.Since(start)
		fmt.Printf("probe: module %s bytes=%d us=%d\n", filepath.Base(m.Path), fi.Size(), d.Microseconds())
		count, bytes, took = count+1, bytes+fi.Size(), took+d
	}
	seen := map[string]bool{}
	for _, d := range disks() {
		seen[d] = true
	}
	ready := time.Now()
	fmt.Printf("probe: ready modules=%d bytes=%d us=%d disks=%s\n", count, bytes, took.Microseconds(), strings.Join(slices.Sorted(maps.Keys(seen)), ","))
	for {
		for _, d := range disks() {
			if seen[d] {
				continue
			}
			// The agent takes a disk once its device is bound to its
			// driver; so does the probe.
			if _, err := os.Stat(filepath.Join("/sys/block", d, "device", "driver")); err != nil {
				continue
			}
			seen[d] = true
			fmt.Printf("probe: disk %s us=%d\n", d, time.Since(ready).Microseconds())
			for _, f := range serialFiles {
				if b, err := os.ReadFile(filepath.Join("/sys/block", d, f)); err == nil {
					fmt.Printf("probe: attr %s %s %q\n", d, f, b)
				}
			}
			fmt.Printf("probe: done %s\n", d)
		}
		time.Sleep(time.Millisecond)
	}
}

// disks lists /sys/block.
func disks() []string {
	entries, _ := os.ReadDir("/sys/block")
	names := make([]string, 0, len(entries))
	for _, e := range entries {
		names = append(names, e.Name())
	}
	return names
}
