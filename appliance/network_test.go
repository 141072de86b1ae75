package appliance_test

import (
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/guestinject/guestinject/appliance"
	"github.com/guestinject/guestinject/vfs"
)

// netDevices lists the network devices a guest command sees, from its
// /proc/net/dev (per network namespace).
const netDevices = `sed -n '3,$p' /proc/net/dev | cut -d: -f1 | tr -d ' ' | sort | tr '\n' ' '`

// TestPackageNetwork runs guest commands with busybox's wget in the
// appliance: without WithPackageNetwork a command sees only a loopback;
// with it, it fetches from the allowed mirror through the host's proxy,
// is refused for any other host (a service on the host's loopback
// included, by name through the proxy or directly at the user network's
// gateway), and the refused service is never reached.
func TestPackageNetwork(t *testing.T) {
	needE2E(t)
	var mirrorHits, secretHits atomic.Int64
	mirror := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mirrorHits.Add(1)
		io.WriteString(w, "from-the-mirror "+r.URL.Path+"\n")
	}))
	defer mirror.Close()
	secret := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		secretHits.Add(1)
		io.WriteString(w, "host-secret\n")
	}))
	defer secret.Close()
	secretPort := secret.URL[strings.LastIndex(secret.URL, ":")+1:]

	dir := t.TempDir()
	tree := filepath.Join(dir, "tree")
	busyboxTree(t, tree, nil)
	img := filepath.Join(dir, "disk.raw")
	ext4Image(t, img, tree, 64)

	t.Run("off", func(t *testing.T) {
		ctx, s := openRaw(t, img)
		res, err := s.RunCommand(ctx, vfs.Command{Shell: netDevices + `; echo; env | grep -ci proxy || true`})
		if err != nil {
			t.Fatal(err)
		}
		if got := string(res.Output); got != "lo \n0\n" {
			t.Errorf("devices and proxy variables without the network = %q, want only lo and none", got)
		}
	})

	t.Run("on", func(t *testing.T) {
		ctx, s := openRaw(t, img, appliance.WithPackageNetwork(appliance.PackageNetwork{Mirrors: []string{mirror.URL + "/debian"}}))
		res, err := s.RunCommand(ctx, vfs.Command{Shell: netDevices + `
echo
wget -q -O - ` + mirror.URL + `/debian/one || echo "mirror-failed $?"
wget -q -O - ` + mirror.URL + `/debian/two || echo "mirror-failed $?"
wget -q -O - ` + secret.URL + `/ 2>&1 || echo "secret-refused"
wget -q -O - http://localhost:` + secretPort + `/ 2>&1 || echo "localhost-refused"
wget -q -O - http://deb.debian.org/debian/ 2>&1 || echo "other-refused"
printf 'GET / HTTP/1.0\r\n\r\n' | nc -w 5 10.0.2.2 ` + secretPort + ` 2>&1 || echo "gateway-nc-unreachable"
wget -q -O - ` + mirror.URL + `/debian/three || echo "mirror-failed $?"
`})
		if err != nil {
			t.Fatal(err)
		}
		out := string(res.Output)
		t.Logf("guest output:\n%s", out)
		lines := strings.SplitN(out, "\n", 2)
		if devs := strings.Fields(lines[0]); len(devs) != 2 || !slices.Contains(devs, "lo") {
			t.Errorf("devices with the network = %q, want lo and one NIC", lines[0])
		}
		for _, want := range []string{"from-the-mirror /debian/one\n", "from-the-mirror /debian/two\n", "from-the-mirror /debian/three\n",
			"secret-refused", "localhost-refused", "other-refused", "gateway-nc-unreachable"} {
			if !strings.Contains(out, want) {
				t.Errorf("guest output lacks %q", want)
			}
		}
		if strings.Contains(out, "host-secret") || strings.Contains(out, "mirror-failed") {
			t.Errorf("guest output:\n%s", out)
		}
		if n := secretHits.Load(); n != 0 {
			t.Errorf("the host's loopback service was reached %d times", n)
		}
		if n := mirrorHits.Load(); n != 3 {
			t.Errorf("mirror reached %d times, want 3", n)
		}
	})
}
