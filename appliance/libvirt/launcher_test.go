package libvirt_test

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/guestinject/guestinject/appliance"
	applibvirt "github.com/guestinject/guestinject/appliance/libvirt"
	"github.com/guestinject/guestinject/internal/accel"
	"github.com/guestinject/guestinject/internal/testsupport/appliancetest"
	"github.com/guestinject/guestinject/internal/testsupport/testimage"
	"github.com/guestinject/guestinject/vfs"
)

// TestWriteCommit injects through a libvirt-launched appliance and reads
// the result back from the image with debugfs.
func TestWriteCommit(t *testing.T) {
	launcher := needLibvirt(t)
	img := filepath.Join(imageDir(t), "disk.raw")
	ext4Image(t, img, map[string]string{"etc/hostname": "old-host\n", "root/": ""})
	owner := ownerOf(t, img)

	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	// At debug level the agent reports its boot steps on the console.
	debug := slog.New(slog.NewTextHandler(io.Discard, &slog.HandlerOptions{Level: slog.LevelDebug}))
	s, err := appliance.Open(ctx, rawDisk(img), appliance.WithLauncher(launcher), appliance.WithLogger(debug))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if !strings.Contains(s.Console(), "guestinject-agent: root mounted") {
		t.Errorf("console log not copied to the session; got %q", s.Console())
	}
	appliancetest.ReadWriteCommit(ctx, t, s, img)
	// libvirt hands the image to its QEMU user while the VM runs and
	// must give it back.
	if now := ownerOf(t, img); now != owner {
		t.Errorf("image owner after the session = %v, before = %v", now, owner)
	}
}

// TestCloseDiscards checks that a session closed without Commit leaves
// the image byte for byte as it was and no domain behind.
func TestCloseDiscards(t *testing.T) {
	launcher := needLibvirt(t)
	img := filepath.Join(imageDir(t), "disk.raw")
	ext4Image(t, img, map[string]string{"etc/hostname": "keep\n"})
	before := testimage.FileHash(t, img)

	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	s, err := appliance.Open(ctx, rawDisk(img), appliance.WithLauncher(launcher))
	if err != nil {
		t.Fatal(err)
	}
	if err := s.WriteFile(ctx, "/etc/hostname", strings.NewReader("changed\n"), vfs.WriteOptions{Perm: 0o644, UID: -1, GID: -1}); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if after := testimage.FileHash(t, img); after != before {
		t.Error("image changed by a session closed without Commit")
	}
	if names := applianceDomains(t); len(names) > 0 {
		t.Errorf("domains left running: %v", names)
	}
}

// applianceDomains lists the running appliance domains on qemu:///system.
func applianceDomains(t testing.TB) []string {
	t.Helper()
	var names []string
	for _, name := range strings.Fields(testimage.Run(t, "virsh", "-q", "-c", "qemu:///system", "list", "--name")) {
		if strings.HasPrefix(name, "guestinject-") {
			names = append(names, name)
		}
	}
	return names
}

type owner struct{ uid, gid uint32 }

func ownerOf(t testing.TB, path string) owner {
	t.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	uid, gid := statOwner(fi)
	return owner{uid, gid}
}

// TestUnreadableImage: an image QEMU's user cannot reach is refused
// before boot, naming the directory in the way.
func TestUnreadableImage(t *testing.T) {
	launcher := needLibvirt(t)
	private := filepath.Join(imageDir(t), "private")
	if err := os.Mkdir(private, 0o700); err != nil {
		t.Fatal(err)
	}
	img := filepath.Join(private, "disk.raw")
	ext4Image(t, img, map[string]string{"etc/hostname": "x\n"})
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	_, err := appliance.Open(ctx, rawDisk(img), appliance.WithLauncher(launcher))
	var aerr *applibvirt.AccessError
	if !errors.Is(err, applibvirt.ErrNotAccessible) || !errors.As(err, &aerr) || aerr.Blocker != private {
		t.Fatalf("Open = %v, want an AccessError naming %s", err, private)
	}
}

// TestOnlyImporter keeps the cgo dependency contained: no other library
// package of the module imports this one; programs under examples/ may.
func TestOnlyImporter(t *testing.T) {
	const self = "github.com/guestinject/guestinject/appliance/libvirt"
	const examples = "github.com/guestinject/guestinject/examples/"
	out, err := exec.Command("go", "list", "-test", "-f", `{{.ImportPath}}:{{join .Imports " "}}`, "github.com/guestinject/guestinject/...").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		pkg, imports, _ := strings.Cut(line, ":")
		if strings.HasPrefix(pkg, self) || strings.HasPrefix(pkg, examples) {
			continue // this package and its tests, and programs
		}
		if slices.Contains(strings.Fields(imports), self) {
			t.Errorf("%s imports %s", pkg, self)
		}
	}
}

// TestAccelerator runs the session's accelerator decision through the
// libvirt launcher on the real host: forced TCG boots a "qemu" domain;
// auto chooses what the host checks allow; forced KVM works exactly when
// KVM can run the appliance and otherwise fails with the typed error.
func TestAccelerator(t *testing.T) {
	launcher := needLibvirt(t)
	img := filepath.Join(imageDir(t), "disk.raw")
	ext4Image(t, img, map[string]string{"etc/hostname": "accel\n"})
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()

	for _, mode := range []appliance.Accelerator{appliance.AccelTCG, appliance.AccelAuto} {
		s, err := appliance.Open(ctx, rawDisk(img), appliance.WithLauncher(launcher), appliance.WithAccelerator(mode))
		if err != nil {
			t.Fatalf("%s: %v", mode, err)
		}
		got, err := vfs.ReadFile(ctx, s, "/etc/hostname", 64)
		c := s.Accelerator()
		s.Close()
		if err != nil || string(got) != "accel\n" {
			t.Errorf("%s: /etc/hostname = %q, %v", mode, got, err)
		}
		if mode == appliance.AccelTCG && c.Name != "tcg" {
			t.Errorf("forced tcg: %+v", c)
		}
		if (accel.Host{}).Check(nil) != nil && c.Name != "tcg" {
			t.Errorf("%s: the host checks fail but the session chose %+v", mode, c)
		}
	}

	s, err := appliance.Open(ctx, rawDisk(img), appliance.WithLauncher(launcher), appliance.WithAccelerator(appliance.AccelKVM))
	if err == nil {
		defer s.Close()
		if c := s.Accelerator(); c.Name != "kvm" {
			t.Errorf("forced kvm: %+v", c)
		}
		return
	}
	var ke *appliance.KVMError
	if !errors.Is(err, appliance.ErrKVMUnusable) || !errors.As(err, &ke) || ke.Reason == "" {
		t.Fatalf("forced kvm: %v; want a *KVMError", err)
	}
}

// TestRefusesPackageNetwork: libvirt's launcher gives no VM the package
// network, and says so before it connects to anything.
func TestRefusesPackageNetwork(t *testing.T) {
	f, err := os.Open(os.DevNull)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	_, err = applibvirt.Launcher{URI: "test:///nonexistent"}.Launch(context.Background(),
		appliance.MachineSpec{Dir: t.TempDir(), PackageProxy: f})
	if !errors.Is(err, appliance.ErrPackageNetwork) {
		t.Errorf("Launch of a VM with the package network = %v, want ErrPackageNetwork", err)
	}
}

// TestRefusesHotplug: libvirt's launcher cannot boot a VM for a pool, and
// says so before it connects to anything.
func TestRefusesHotplug(t *testing.T) {
	_, err := applibvirt.Launcher{URI: "test:///nonexistent"}.Launch(context.Background(),
		appliance.MachineSpec{Dir: t.TempDir(), HotplugSlots: 1})
	if !errors.Is(err, appliance.ErrPoolLauncher) {
		t.Errorf("Launch of a VM with hot-plug slots = %v, want ErrPoolLauncher", err)
	}
	if _, err := appliance.NewPool(context.Background(), 1, appliance.WithLauncher(applibvirt.Launcher{})); !errors.Is(err, appliance.ErrPoolLauncher) {
		t.Errorf("NewPool with the libvirt launcher = %v, want ErrPoolLauncher", err)
	}
}
