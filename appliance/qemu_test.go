package appliance_test

import (
	"context"
	"testing"
	"time"

	"github.com/guestinject/guestinject/appliance"
	"github.com/guestinject/guestinject/vfs"
)

// TestQEMUFallbacks boots the appliance the slower, more conservative
// ways the launcher supports: the pc machine with QEMU's default firmware,
// and the compressed bzImage (no PVH).
func TestQEMUFallbacks(t *testing.T) {
	needE2E(t)
	img := smallImage(t)
	for name, q := range map[string]appliance.Launcher{
		"pc-seabios-bzImage": bzImageOnly{appliance.QEMU{Machine: "pc", Firmware: "default", CPU: "qemu64"}},
		"default":            appliance.QEMU{},
	} {
		t.Run(name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
			defer cancel()
			s, err := appliance.Open(ctx, []vfs.Disk{{Path: img, Format: "raw"}}, appliance.WithLauncher(q))
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			if got, err := vfs.ReadFile(ctx, s, "/etc/hostname", 1<<10); err != nil || string(got) != "guest\n" {
				t.Errorf("ReadFile = %q, %v", got, err)
			}
		})
	}
}

// bzImageOnly boots the compressed kernel even when a PVH copy exists.
type bzImageOnly struct{ appliance.QEMU }

func (l bzImageOnly) Launch(ctx context.Context, spec appliance.MachineSpec) (appliance.Machine, error) {
	spec.KernelELF = ""
	return l.QEMU.Launch(ctx, spec)
}

func TestQEMURejectsUnknownMachine(t *testing.T) {
	img := t.TempDir() + "/none.raw"
	_, err := appliance.QEMU{Machine: "microvm"}.Launch(context.Background(), appliance.MachineSpec{Kernel: "/k", Initramfs: "/i", MemoryMiB: 64, Disks: []appliance.MachineDisk{{Overlay: img, Base: img, BaseFormat: "raw"}}})
	if err == nil {
		t.Fatal("Launch accepted machine type microvm")
	}
}
