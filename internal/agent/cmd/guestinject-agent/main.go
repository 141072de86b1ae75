// Command guestinject-agent is the /init of the guestinject appliance: it
// sets up the VM, mounts the guest root and serves it to the host over a
// virtio-serial port, then powers the VM off. It refuses to run as
// anything but process 1, since it mounts filesystems and powers off the
// machine it runs on.
//
// The initramfs builder (internal/initramfs) builds it with CGO_ENABLED=0.
// What it shares with the host is in internal/guestabi; it links no host
// code (TestLinksNoHostCode).
package main

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"net/netip"
	"os"
	"strings"
	"time"

	"golang.org/x/sys/unix"

	"github.com/guestinject/guestinject/internal/agent"
	"github.com/guestinject/guestinject/internal/agent/guest"
	"github.com/guestinject/guestinject/internal/guestabi"
	"github.com/guestinject/guestinject/internal/wire"
	"github.com/guestinject/guestinject/vfs"
)

// portWait bounds the wait for the virtio-serial port and the disks to
// appear after their modules are loaded.
const portWait = 10 * time.Second

// shutdownGrace is how long the agent waits, after answering Shutdown, for
// the host to hang up before it powers off by itself.
const shutdownGrace = 2 * time.Second

// cgroupDir is where the agent mounts cgroup v2 to bound each command's
// processes.
const cgroupDir = "/sys/fs/cgroup"

// warmupDir holds the warm-up disk's copy while a pooled VM warms up; the
// root is a tmpfs.
const warmupDir = "/run/guestinject"

func main() {
	if os.Args[0] == guest.CommandHelper {
		// Started by the agent itself, as process 1 of a command's own
		// namespaces.
		guest.RunCommandHelper()
	}
	if os.Getpid() != 1 {
		fmt.Fprintln(os.Stderr, "guestinject-agent: runs only as /init of the guestinject appliance")
		os.Exit(2)
	}
	if err := run(); err != nil {
		// The console is the serial port the host logs.
		fmt.Fprintf(os.Stderr, "guestinject-agent: fatal: %v\n", err)
	}
	if err := guest.PowerOff(); err != nil {
		fmt.Fprintf(os.Stderr, "guestinject-agent: power off: %v\n", err)
	}
	// Exiting makes the kernel panic, and panic=-1 resets the VM, which
	// -no-reboot turns into QEMU exiting.
	os.Exit(1)
}

type stepTimer struct {
	on   bool
	last time.Time
}

func (s *stepTimer) step(what string) {
	if s.on {
		now := time.Now()
		fmt.Fprintf(os.Stderr, "guestinject-agent: %s: %v\n", what, now.Sub(s.last).Round(time.Millisecond))
		s.last = now
	}
}

func run() error {
	if err := guest.MountPseudo(); err != nil {
		return err
	}
	timer := &stepTimer{on: guest.Cmdline(guestabi.DebugParam) == guestabi.DebugOn, last: time.Now()}
	if timer.on {
		// How long the kernel took before it ran the agent: the boot's
		// first phase, which the host cannot see from outside.
		if up, err := os.ReadFile("/proc/uptime"); err == nil {
			fmt.Fprintf(os.Stderr, "guestinject-agent: started at uptime %s\n", strings.Fields(string(up))[0])
		}
	}
	mods, err := guest.ReadModules()
	if err != nil {
		return err
	}
	if err := mods.Load(guestabi.CoreGroup); err != nil {
		return err
	}
	timer.step("core modules loaded")
	proxy := ""
	if guest.Cmdline(guestabi.NetworkParam) == guestabi.NetworkOn {
		if err := setupNetwork(mods); err != nil {
			return err
		}
		proxy = guestabi.ProxyURL
		timer.step("network configured")
	}
	portPath, err := waitFor("virtio-serial port "+guestabi.PortName, func() string {
		return guest.FindPort("/sys/class/virtio-ports", "/dev", guestabi.PortName)
	})
	if err != nil {
		return err
	}
	port, err := os.OpenFile(portPath, os.O_RDWR, 0)
	if err != nil {
		return err
	}
	defer port.Close()
	timer.step("port found")

	// Before the disks: a pooled VM does it while it waits for them.
	cgErr := guest.SetupCgroups(cgroupDir)
	// A pooled VM's disks are plugged in when a session takes it, however
	// long after the boot, within the bound the host set.
	hotplugWait, hotplug, err := guestabi.ParseHotplugParam(guest.Cmdline(guestabi.HotplugParam))
	if err != nil {
		return err
	}
	var conn *agent.Conn
	if hotplug {
		// A VM asked to warm up does it all before the hello, which tells
		// the host it is ready: the session that takes it must not wait
		// for any of it. One booted in a hurry says hello first.
		warm := guest.Cmdline(guestabi.WarmUpParam) == guestabi.WarmUpOn
		if warm {
			agent.WarmUp()
			timer.step("protocol warmed up")
			if err := guest.WarmUp(context.Background(), warmupDir, mods); err != nil {
				// Not fatal: the session pays what a VM without it would.
				fmt.Fprintf(os.Stderr, "guestinject-agent: warm-up: %v\n", err)
			}
			timer.step("setup warmed up")
		}
		// A pooled VM says hello now, while it waits for disks: a
		// session's first request then waits only for the disks.
		if conn, err = agent.Hello(port); err != nil {
			return err
		}
		timer.step("hello answered")
		if !warm {
			agent.WarmUp()
			timer.step("protocol warmed up")
		}
	}
	g := setupRoot(mods, hotplugWait, timer)
	timer.step("root mounted")
	setupErr := g.Err
	// Without a root, fsys stays nil: Serve then answers the inspection,
	// which says why, and refuses every filesystem request.
	var fsys vfs.FS
	if setupErr == nil {
		fsys = g.FS
	} else {
		fmt.Fprintf(os.Stderr, "guestinject-agent: %v\n", setupErr)
	}
	inspection := g.Inspection()
	// One line on every boot, so the console tail of any later error
	// shows the agent got this far.
	fmt.Fprintln(os.Stderr, "guestinject-agent: serving")
	shutdown := false
	hooks := agent.Hooks{
		Sync: func(ctx context.Context) error {
			unix.Sync()
			return nil
		},
		Shutdown: func(ctx context.Context) error {
			shutdown = true
			if setupErr != nil {
				return nil
			}
			if err := fsys.Close(); err != nil {
				return err
			}
			if err := g.Unmount(); err != nil {
				return err
			}
			// The host hangs up once it has the answer; should it not,
			// power off anyway, the filesystems being safe on disk.
			time.AfterFunc(shutdownGrace, func() {
				fmt.Fprintln(os.Stderr, "guestinject-agent: host did not hang up after shutdown")
				guest.PowerOff()
			})
			return nil
		},
		Inspect: func(ctx context.Context) *wire.Inspection { return inspection },
	}
	if setupErr == nil {
		runner := &guest.Runner{Root: g.FS, Dir: guest.RootMount, Cgroups: cgroupDir, Proxy: proxy}
		hooks.Run = func(ctx context.Context, c vfs.Command) (*wire.CommandResult, error) {
			if cgErr != nil {
				// No command runs without its process bound.
				return nil, &fs.PathError{Op: "run", Path: "/", Err: fmt.Errorf("%w: %v", vfs.ErrNotSupported, cgErr)}
			}
			return runner.Run(ctx, c)
		}
	}
	var serveErr error
	if conn == nil {
		conn, serveErr = agent.Hello(port)
	}
	if serveErr == nil {
		serveErr = conn.Serve(context.Background(), fsys, hooks)
	}
	if !shutdown && setupErr == nil {
		// The host went away without Shutdown: nothing it wrote will be
		// kept, but the mounts still come down in order.
		fsys.Close()
		g.Unmount()
	}
	if serveErr != nil && !errors.Is(serveErr, os.ErrClosed) {
		return fmt.Errorf("serving: %w", serveErr)
	}
	return setupErr
}

// setupRoot finds the volumes, chooses and mounts the guest root and the
// filesystems its fstab names, and opens it in-root, first waiting up to
// hotplugWait for hot-plugged disks when it is not 0. The result always
// describes what was found; its Err says why there is no root.
func setupRoot(mods guest.Modules, hotplugWait time.Duration, timer *stepTimer) *guest.Guest {
	name, err := guestabi.ParseRootParam(guest.Cmdline(guestabi.RootParam))
	if err != nil {
		return &guest.Guest{Err: err}
	}
	if hotplugWait > 0 {
		fmt.Fprintln(os.Stderr, "guestinject-agent: waiting for disks")
		timer.step("booted")
		if err := guest.WaitHotplugDisks("/sys/block", hotplugWait); err != nil {
			return &guest.Guest{Err: err}
		}
		timer.step("disks plugged")
	}
	var vols []guest.Volume
	_, err = waitFor("disks", func() string {
		var err error
		vols, err = guest.ScanVolumes("/sys/block", "/dev")
		if err != nil || len(vols) == 0 {
			return ""
		}
		return "ok"
	})
	if err != nil {
		return &guest.Guest{Err: err}
	}
	timer.step("volumes scanned")
	g := guest.Setup(context.Background(), vols, name, mods)
	if g.LVMErr != nil {
		fmt.Fprintf(os.Stderr, "guestinject-agent: %v\n", g.LVMErr)
	}
	return g
}

// setupNetwork loads the network device's modules and configures the
// device the host asked for with guestabi.NetworkParam.
func setupNetwork(mods guest.Modules) error {
	if err := mods.Load(guestabi.NetGroup); err != nil {
		return err
	}
	dev, err := waitFor("network device", func() string { return guest.FindNetDevice("/sys/class/net") })
	if err != nil {
		return err
	}
	prefix := netip.PrefixFrom(netip.MustParseAddr(guestabi.GuestAddr), guestabi.NetPrefixLen)
	return guest.ConfigureNetDevice(dev, prefix)
}

// waitFor polls find until it returns something or portWait passes.
func waitFor(what string, find func() string) (string, error) {
	deadline := time.Now().Add(portWait)
	for {
		if s := find(); s != "" {
			return s, nil
		}
		if time.Now().After(deadline) {
			return "", fmt.Errorf("no %s after %v", what, portWait)
		}
		time.Sleep(5 * time.Millisecond)
	}
}
