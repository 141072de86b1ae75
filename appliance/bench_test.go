package appliance_test

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/guestinject/guestinject/appliance"
	"github.com/guestinject/guestinject/vfs"
)

// BenchmarkBoot measures a session's cost from Open to its first answered
// call (Open returns after one) and Close, with a warm initramfs cache.
func BenchmarkBoot(b *testing.B) {
	needE2E(b)
	dir := b.TempDir()
	writeTree(b, filepath.Join(dir, "tree"), map[string]string{"etc/hostname": "bench\n"})
	img := filepath.Join(dir, "disk.raw")
	ext4Image(b, img, filepath.Join(dir, "tree"), 64)
	ctx := context.Background()
	warm, err := appliance.Open(ctx, []appliance.Disk{{Path: img, Format: "raw"}})
	if err != nil {
		b.Fatal(err)
	}
	warm.Close()
	b.ResetTimer()
	for b.Loop() {
		s, err := appliance.Open(ctx, []appliance.Disk{{Path: img, Format: "raw"}})
		if err != nil {
			b.Fatal(err)
		}
		s.Close()
	}
}

// BenchmarkWriteCommit measures a whole small injection: Open, two writes,
// Commit (agent shutdown, VM exit, overlay merge).
func BenchmarkWriteCommit(b *testing.B) {
	needE2E(b)
	dir := b.TempDir()
	writeTree(b, filepath.Join(dir, "tree"), map[string]string{"etc/hostname": "bench\n", "root/": ""})
	img := filepath.Join(dir, "disk.raw")
	ext4Image(b, img, filepath.Join(dir, "tree"), 64)
	ctx := context.Background()
	for b.Loop() {
		s, err := appliance.Open(ctx, []appliance.Disk{{Path: img, Format: "raw"}})
		if err != nil {
			b.Fatal(err)
		}
		if err := s.WriteFile(ctx, "/etc/hostname", strings.NewReader("host\n"), vfs.WriteOptions{Perm: 0o644}); err != nil {
			b.Fatal(err)
		}
		if err := s.MkdirAll(ctx, "/root/.ssh", 0o700); err != nil {
			b.Fatal(err)
		}
		if err := s.WriteFile(ctx, "/root/.ssh/authorized_keys", strings.NewReader("ssh-ed25519 AAAA k\n"), vfs.WriteOptions{Perm: 0o600}); err != nil {
			b.Fatal(err)
		}
		if err := s.Commit(ctx); err != nil {
			b.Fatal(err)
		}
	}
}

// novaImageMiB is the virtual size of the benchmark's Debian-like image.
const novaImageMiB = 1536

// novaBenchImage builds the benchmark's pristine 1.5 GiB qcow2 image.
func novaBenchImage(b *testing.B) string {
	b.Helper()
	dir := b.TempDir()
	raw := filepath.Join(dir, "debian.raw")
	debianImage(b, raw, novaImageMiB)
	img := filepath.Join(dir, "debian.qcow2")
	run(b, "qemu-img", "convert", "-f", "raw", "-O", "qcow2", raw, img)
	if err := os.Remove(raw); err != nil {
		b.Fatal(err)
	}
	return img
}

// freshCopy copies the pristine image to a new file, outside the timer,
// so every iteration injects into an untouched guest.
func freshCopy(b *testing.B, pristine string) string {
	b.Helper()
	b.StopTimer()
	defer b.StartTimer()
	data, err := os.ReadFile(pristine)
	if err != nil {
		b.Fatal(err)
	}
	work := filepath.Join(b.TempDir(), "work.qcow2")
	if err := os.WriteFile(work, data, 0o644); err != nil {
		b.Fatal(err)
	}
	return work
}

// BenchmarkNovaInjection measures a whole Nova-style injection (SSH keys
// for two users, a password, the host name, a network configuration,
// /meta.js and two files) on a 1.5 GiB Debian-like qcow2 image: through
// the appliance (Open, inject.Apply, Commit, warm initramfs cache) and,
// in the same run, the same writes through guestfish with libguestfs's
// direct backend, when it is installed.
func BenchmarkNovaInjection(b *testing.B) {
	needE2E(b)
	pristine := novaBenchImage(b)
	ctx := context.Background()

	b.Run("appliance", func(b *testing.B) {
		// The first session builds the agent and the initramfs.
		if _, err := injectNova(ctx, freshCopy(b, pristine), "qcow2"); err != nil {
			b.Fatal(err)
		}
		for b.Loop() {
			if _, err := injectNova(ctx, freshCopy(b, pristine), "qcow2"); err != nil {
				b.Fatal(err)
			}
		}
	})

	b.Run("guestfish", func(b *testing.B) {
		gf, err := exec.LookPath("guestfish")
		if err != nil {
			b.Skip("guestfish is not installed (apt-get install libguestfs-tools)")
		}
		script := guestfishScript(b)
		// The first run builds libguestfs's supermin appliance; its
		// result must be the appliance's, read back the same way.
		first := freshCopy(b, pristine)
		guestfishInject(b, gf, first, script)
		check := filepath.Join(b.TempDir(), "check.raw")
		run(b, "qemu-img", "convert", "-f", "qcow2", "-O", "raw", first, check)
		checkNova(b, check)
		for b.Loop() {
			guestfishInject(b, gf, freshCopy(b, pristine), script)
		}
	})
}

// guestfishScript writes the contents the Nova injection produces into
// files and returns a guestfish script that reads what inject reads and
// writes the same files with the same modes and owners.
func guestfishScript(b *testing.B) string {
	b.Helper()
	dir := b.TempDir()
	shadow := strings.Replace(debianFiles["etc/shadow"], "debian:!:19700:", "debian:"+novaPassHash+":19997:", 1)
	files := []struct {
		path, content string
		mode          string
		uid, gid      int
	}{
		{"/root/.ssh/authorized_keys", novaRootKey, "0600", 0, 0},
		{"/home/debian/.ssh/authorized_keys", novaUserKey, "0600", 1000, 1000},
		{"/etc/shadow", shadow, "0640", 0, 42},
		{"/etc/hostname", novaHostname + "\n", "0644", 0, 0},
		{"/etc/hosts", debianFiles["etc/hosts"] + "127.0.1.1\t" + novaHostname + "\n", "0644", 0, 0},
		{"/etc/network/interfaces.d/50-guestinject", "auto eth0\niface eth0 inet static\n    address 10.0.0.5/24\n    gateway 10.0.0.1\n    dns-nameservers 10.0.0.2\n", "0644", 0, 0},
		{"/meta.js", `{"role":"web","uuid":"2f0c8b1e-7c1a-4d8e-9f4e-5b2a6c3d9e10"}`, "0644", 0, 0},
		{novaFileA, novaFileAData, "0640", 0, 1000},
		{novaFileB, novaFileBData, "0755", 1000, 1000},
	}
	var sc strings.Builder
	for _, f := range []string{"/etc/passwd", "/etc/group", "/etc/shadow", "/etc/os-release", "/etc/network/interfaces"} {
		sc.WriteString("cat " + f + "\n")
	}
	sc.WriteString("mkdir-p /root/.ssh\nchmod 0700 /root/.ssh\n")
	sc.WriteString("mkdir-p /home/debian/.ssh\nchown 1000 1000 /home/debian/.ssh\nchmod 0700 /home/debian/.ssh\n")
	sc.WriteString("mkdir-p /etc/nova\nmkdir-p /opt/app\n")
	for i, f := range files {
		src := filepath.Join(dir, "file"+strconv.Itoa(i))
		if err := os.WriteFile(src, []byte(f.content), 0o644); err != nil {
			b.Fatal(err)
		}
		sc.WriteString("upload " + src + " " + f.path + "\n")
		fmt.Fprintf(&sc, "chown %d %d %s\n", f.uid, f.gid, f.path)
		sc.WriteString("chmod " + f.mode + " " + f.path + "\n")
	}
	return sc.String()
}

// guestfishInject runs script with guestfish on the qcow2 image img,
// formats and filesystem named explicitly, as libguestfs's own tools do
// for untrusted images.
func guestfishInject(b *testing.B, gf, img, script string) {
	b.Helper()
	cmd := exec.Command(gf, "--format=qcow2", "--rw", "-a", img, "-m", "/dev/sda")
	cmd.Env = append(os.Environ(), "LIBGUESTFS_BACKEND=direct")
	cmd.Stdin = strings.NewReader(script)
	if out, err := cmd.CombinedOutput(); err != nil {
		b.Fatalf("guestfish: %v\n%s", err, out)
	}
}

// BenchmarkNovaInjectionCold is BenchmarkNovaInjection's appliance case
// with an empty initramfs cache on every iteration: it adds building the
// archive (reading the kernel's modules, writing the cpio). The agent
// binary itself is built once per process and is not part of it.
func BenchmarkNovaInjectionCold(b *testing.B) {
	needE2E(b)
	pristine := novaBenchImage(b)
	ctx := context.Background()
	if _, err := injectNova(ctx, freshCopy(b, pristine), "qcow2"); err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		cache := b.TempDir()
		if _, err := injectNova(ctx, freshCopy(b, pristine), "qcow2", appliance.WithCacheDir(cache)); err != nil {
			b.Fatal(err)
		}
	}
}
