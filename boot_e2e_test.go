package guestinject_test

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"

	"github.com/guestinject/guestinject"
	"github.com/guestinject/guestinject/inject"
	"github.com/guestinject/guestinject/internal/testsupport/debianimage"
	"github.com/guestinject/guestinject/internal/testsupport/testimage"
	"github.com/guestinject/guestinject/internal/testsupport/testvm"
	"github.com/guestinject/guestinject/vfs"
)

// bootMAC is the NIC's hardware address; QEMU's user network gives the
// guest 10.0.2.15/24 behind the gateway 10.0.2.2.
const bootMAC = "52:54:00:4e:e7:01"

const bootNetworkData = `{
  "links": [{"id": "tap0", "type": "phy", "ethernet_mac_address": "` + bootMAC + `", "mtu": 1500}],
  "networks": [{"id": "net0", "type": "ipv4", "link": "tap0", "ip_address": "10.0.2.15", "netmask": "255.255.255.0",
                "routes": [{"network": "0.0.0.0", "netmask": "0.0.0.0", "gateway": "10.0.2.2"}]}],
  "services": [{"type": "dns", "address": "10.0.2.3"}]
}`

// TestMACOnlyNetworkBootsDebian is the real-boot test of MAC-only
// network_data.json: a Debian guest built with debootstrap gets a static
// address for a NIC known only by its MAC address and a root SSH key
// through the appliance, boots under QEMU, and is logged into over SSH
// on the address QEMU forwards from the host's loopback. ifupdown is the
// renderer under test, so the name is pinned by a systemd .link file.
func TestMACOnlyNetworkBootsDebian(t *testing.T) {
	testimage.NeedTools(t, "debootstrap", "qemu-system-x86_64", "mkfs.ext4", "tar")
	if os.Geteuid() != 0 {
		testimage.Need(t, "root (debootstrap)")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Minute)
	defer cancel()

	start := time.Now()
	tree := debianimage.Tree(ctx, t, debianimage.Packages)
	kernel, initrd := guestBoot(t, tree)
	img := filepath.Join(t.TempDir(), "debian.raw")
	testimage.Run(t, "mkfs.ext4", "-q", "-F", "-d", tree, img, "1536M")
	if err := os.RemoveAll(tree); err != nil {
		t.Fatal(err)
	}
	t.Logf("guest image ready in %v", time.Since(start).Round(time.Second))

	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	signer, err := ssh.NewSignerFromKey(priv)
	if err != nil {
		t.Fatal(err)
	}
	sshPub, err := ssh.NewPublicKey(pub)
	if err != nil {
		t.Fatal(err)
	}
	network, err := inject.ParseNetworkData([]byte(bootNetworkData))
	if err != nil {
		t.Fatal(err)
	}
	injectStart := time.Now()
	report, err := guestinject.InjectImage(ctx, vfs.Disk{Path: img, Format: "raw"}, inject.Spec{
		Network: network,
		SSHKeys: []inject.SSHKeys{{Keys: []string{strings.TrimSpace(string(ssh.MarshalAuthorizedKey(sshPub)))}}},
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("injected in %v", time.Since(injectStart).Round(time.Second))
	var paths []string
	for _, c := range report.Changes {
		paths = append(paths, c.Path)
	}
	const link = "/etc/systemd/network/10-guestinject-" + inject.PinnedNamePrefix + "0.link"
	if !strings.Contains(strings.Join(paths, " "), link) || !strings.Contains(strings.Join(paths, " "), "/etc/network/interfaces.d/50-guestinject") {
		t.Fatalf("report changes %v lack the .link file and the ifupdown stanzas", paths)
	}

	bootStart := time.Now()
	port := freeLoopbackPort(t)
	console := filepath.Join(t.TempDir(), "console.log")
	qemu := testimage.Tool("qemu-system-x86_64")
	vm := exec.CommandContext(ctx, qemu,
		"-nodefaults", "-no-user-config", "-display", "none",
		"-machine", "q35,accel="+testvm.Accelerator(t, kernel, qemu), "-cpu", "max", "-m", "1024",
		"-kernel", kernel, "-initrd", initrd,
		"-append", "root=/dev/vda rw console=ttyS0",
		"-serial", "file:"+console,
		"-drive", "file="+img+",format=raw,if=virtio,cache=unsafe",
		// restrict=on keeps the guest off every network; the forward
		// from the host's loopback still reaches it.
		"-netdev", fmt.Sprintf("user,id=n0,restrict=on,hostfwd=tcp:127.0.0.1:%d-:22", port),
		"-device", "virtio-net-pci,netdev=n0,mac="+bootMAC)
	if err := vm.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- vm.Wait() }()
	defer func() {
		_ = vm.Process.Kill()
		<-exited
	}()

	client := sshLogin(t, ctx, port, signer, console, exited, 6*time.Minute)
	defer client.Close()
	t.Logf("booted and logged in over SSH in %v", time.Since(bootStart).Round(time.Second))

	// ifupdown may still be at work when sshd answers: each check is
	// retried for a while.
	name := inject.PinnedNamePrefix + "0"
	checks := []struct{ cmd, want string }{
		{"ip -o link show", name + ":.*link/ether " + bootMAC},
		{"ip -o -4 addr show", name + `\s+inet 10\.0\.2\.15/24`},
		{"ip route show default", "default via 10.0.2.2 dev " + name},
	}
	for _, c := range checks {
		re := regexp.MustCompile(c.want)
		var out string
		for try := 0; try < 30; try++ {
			if out = sshRun(t, client, c.cmd); re.MatchString(out) {
				break
			}
			time.Sleep(2 * time.Second)
		}
		if !re.MatchString(out) {
			t.Errorf("%s does not show %q:\n%s", c.cmd, c.want, out)
		} else {
			t.Logf("%s:\n%s", c.cmd, out)
		}
	}
	if t.Failed() {
		t.Logf("console:\n%s", consoleTail(console))
	}
	t.Logf("total %v", time.Since(start).Round(time.Second))
}

// guestBoot copies the guest's kernel and initramfs out of its tree.
func guestBoot(t *testing.T, tree string) (kernel, initrd string) {
	t.Helper()
	kernels, _ := filepath.Glob(filepath.Join(tree, "boot", "vmlinuz-*"))
	initrds, _ := filepath.Glob(filepath.Join(tree, "boot", "initrd.img-*"))
	if len(kernels) != 1 || len(initrds) != 1 {
		t.Fatalf("want one kernel and one initramfs in the guest's /boot, have %v %v", kernels, initrds)
	}
	dir := t.TempDir()
	kernel, initrd = filepath.Join(dir, "vmlinuz"), filepath.Join(dir, "initrd.img")
	for from, to := range map[string]string{kernels[0]: kernel, initrds[0]: initrd} {
		data, err := os.ReadFile(from)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(to, data, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return kernel, initrd
}

func freeLoopbackPort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// sshLogin logs in as root until it works, the VM exits or the time is up.
func sshLogin(t *testing.T, ctx context.Context, port int, signer ssh.Signer, console string, exited chan error, limit time.Duration) *ssh.Client {
	t.Helper()
	deadline := time.Now().Add(limit)
	config := &ssh.ClientConfig{
		User: "root",
		Auth: []ssh.AuthMethod{ssh.PublicKeys(signer)},
		// The guest's host key is new and reached only through the
		// loopback forward of the VM this test started.
		HostKeyCallback: ssh.InsecureIgnoreHostKey(),
		Timeout:         15 * time.Second,
	}
	var last error
	for time.Now().Before(deadline) {
		select {
		case err := <-exited:
			exited <- err // for the deferred wait
			t.Fatalf("the VM exited (%v) before SSH worked; console:\n%s", err, consoleTail(console))
		case <-ctx.Done():
			t.Fatalf("%v; console:\n%s", ctx.Err(), consoleTail(console))
		default:
		}
		c, err := ssh.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", port), config)
		if err == nil {
			return c
		}
		last = err
		time.Sleep(2 * time.Second)
	}
	t.Fatalf("no SSH login within %v: %v; console:\n%s", limit, last, consoleTail(console))
	return nil
}

func consoleTail(name string) string {
	b, _ := os.ReadFile(name)
	return string(debianimage.Tail(b, 6000))
}

func sshRun(t *testing.T, c *ssh.Client, cmd string) string {
	t.Helper()
	s, err := c.NewSession()
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	out, err := s.CombinedOutput(cmd)
	if err != nil {
		t.Fatalf("%s: %v\n%s", cmd, err, out)
	}
	return string(out)
}
