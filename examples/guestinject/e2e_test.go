package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/guestinject/guestinject/internal/testsupport/guestimage"
	"github.com/guestinject/guestinject/internal/testsupport/testimage"
)

const testKey = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl e2e@test"

var (
	buildOnce sync.Once
	binPath   string
	buildErr  error
	binDir    string
)

// binary builds the command once per test run.
func binary(t *testing.T) string {
	t.Helper()
	buildOnce.Do(func() {
		binDir, buildErr = os.MkdirTemp("", "guestinject-cli-test-")
		if buildErr != nil {
			return
		}
		binPath = filepath.Join(binDir, "guestinject")
		out, err := exec.Command("go", "build", "-o", binPath, ".").CombinedOutput()
		if err != nil {
			buildErr = errors.New(string(out))
		}
	})
	if buildErr != nil {
		t.Fatalf("go build: %v", buildErr)
	}
	return binPath
}

func TestMain(m *testing.M) {
	code := m.Run()
	if binDir != "" {
		os.RemoveAll(binDir)
	}
	os.Exit(code)
}

type result struct {
	code           int
	stdout, stderr string
}

// cli runs the built command with stdin.
func cli(t *testing.T, stdin string, args ...string) result {
	t.Helper()
	cmd := exec.Command(binary(t), args...)
	cmd.Stdin = strings.NewReader(stdin)
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	err := cmd.Run()
	var exit *exec.ExitError
	if err != nil && !errors.As(err, &exit) {
		t.Fatalf("running guestinject: %v", err)
	}
	return result{code: cmd.ProcessState.ExitCode(), stdout: out.String(), stderr: errOut.String()}
}

func writeFile(t *testing.T, dir, name, content string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestE2ECheckAcceptsTheGuest(t *testing.T) {
	testimage.NeedTools(t, "mkfs.ext4")
	img := guestimage.Raw(t)
	r := cli(t, "", "check", img, "--format", "raw", "--json")
	if r.code != exitOK {
		t.Fatalf("check: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	var res checkResult
	if err := json.Unmarshal([]byte(r.stdout), &res); err != nil {
		t.Fatalf("check --json: %v\n%s", err, r.stdout)
	}
	if !res.Safe || res.Info.VirtualSize != 64<<20 || res.Rejection != nil {
		t.Errorf("check --json = %+v", res)
	}
}

func TestE2EInjectAndReadBack(t *testing.T) {
	guestimage.NeedAppliance(t)
	img := guestimage.Raw(t)
	dir := t.TempDir()
	key := writeFile(t, dir, "id.pub", testKey+"\n")
	net := writeFile(t, dir, "net.yaml", "interfaces:\n  - name: eth0\n    addresses: [192.0.2.10/24]\n    gateway4: 192.0.2.1\ndns: {servers: [192.0.2.53]}\n")
	payload := writeFile(t, dir, "app.conf", "listen = 8080\n")

	r := cli(t, "hunter2 but longer\n", "inject", img, "--format", "raw", "--json",
		"--ssh-key", "root:"+key, "--password", "root:-", "--hostname", "web-1",
		"--network", net, "--meta", "role=web",
		"--file", payload+":/etc/app/app.conf:0640:root:debian")
	if r.code != exitOK {
		t.Fatalf("inject: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	for _, step := range []string{"checking", "booting the appliance", "committing"} {
		if !strings.Contains(r.stderr, step) {
			t.Errorf("no progress for %q on stderr:\n%s", step, r.stderr)
		}
	}
	var out struct {
		DryRun  bool `json:"dry_run"`
		Changes []struct {
			Path, Mode string
		} `json:"changes"`
		Accelerator string `json:"accelerator"`
	}
	if err := json.Unmarshal([]byte(r.stdout), &out); err != nil || out.DryRun || len(out.Changes) == 0 || out.Changes[len(out.Changes)-1].Path != "/etc/shadow" {
		t.Fatalf("inject --json: %v %+v\n%s", err, out, r.stdout)
	}
	if out.Accelerator != "kvm" && out.Accelerator != "tcg" {
		t.Errorf("inject --json: accelerator %q, want kvm or tcg", out.Accelerator)
	}

	checks := map[string]string{
		"/etc/hostname":                            "web-1",
		"/root/.ssh/authorized_keys":               testKey,
		"/etc/network/interfaces.d/50-guestinject": "192.0.2.10",
		"/meta.js":          `"role":"web"`,
		"/etc/app/app.conf": "listen = 8080",
		"/etc/shadow":       "root:$6$",
	}
	for path, want := range checks {
		if got := guestimage.Cat(t, img, path); !strings.Contains(got, want) {
			t.Errorf("%s in the image = %q, want it to contain %q", path, got, want)
		}
	}
	if st := guestimage.Stat(t, img, "/etc/app/app.conf"); !strings.Contains(st, "Mode:  0640") || !strings.Contains(st, "Group:  1000") {
		t.Errorf("/etc/app/app.conf: %s", st)
	}
}

func TestE2EDryRunLeavesImageIdentical(t *testing.T) {
	guestimage.NeedAppliance(t)
	img := guestimage.Raw(t)
	before := testimage.FileHash(t, img)
	r := cli(t, "", "inject", img, "--format", "raw", "--hostname", "dry-1", "--meta", "a=b", "--dry-run")
	if r.code != exitOK {
		t.Fatalf("inject --dry-run: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	if !strings.Contains(r.stdout, "dry run") || !strings.Contains(r.stdout, "/etc/hostname") || !strings.Contains(r.stdout, "/meta.js") {
		t.Errorf("dry run output:\n%s", r.stdout)
	}
	if after := testimage.FileHash(t, img); after != before {
		t.Error("--dry-run changed the image")
	}
}

func TestE2EReadCommands(t *testing.T) {
	guestimage.NeedAppliance(t)
	qcow := filepath.Join(t.TempDir(), "guest.qcow2")
	testimage.Qcow2(t, guestimage.Raw(t), qcow)
	before := testimage.FileHash(t, qcow)

	if r := cli(t, "", "cat", qcow, "--format", "qcow2", "--quiet", "/etc/hostname"); r.code != exitOK || r.stdout != "localhost\n" {
		t.Errorf("cat: exit %d, %q\n%s", r.code, r.stdout, r.stderr)
	}
	r := cli(t, "", "ls", "--format", "qcow2", "-l", qcow, "/etc")
	if r.code != exitOK || !strings.Contains(r.stdout, "0640     0     0") || !strings.Contains(r.stdout, "shadow") {
		t.Errorf("ls -l: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	r = cli(t, "", "inspect", qcow, "--format", "qcow2", "--json", "--accel", "tcg")
	var got inspection
	if err := json.Unmarshal([]byte(r.stdout), &got); err != nil || r.code != exitOK {
		t.Fatalf("inspect: exit %d, %v\n%s%s", r.code, err, r.stdout, r.stderr)
	}
	if got.OS["ID"] != "debian" || got.Hostname != "localhost" || got.Init != "systemd" ||
		len(got.Fstab) != 1 || strings.Join(got.LoginUsers, ",") != "root,debian" {
		t.Errorf("inspect = %+v", got)
	}
	if got.Accelerator != "tcg" {
		t.Errorf("inspect --accel tcg: accelerator %q", got.Accelerator)
	}
	if r := cli(t, "", "cat", qcow, "--format", "qcow2", "/etc/nonexistent"); r.code != exitFailed || !strings.Contains(r.stderr, "/etc/nonexistent") {
		t.Errorf("cat of a missing file: exit %d\n%s", r.code, r.stderr)
	}
	if testimage.FileHash(t, qcow) != before {
		t.Error("read-only commands changed the image")
	}
}

func TestE2EHostileImagesAreRejected(t *testing.T) {
	testimage.NeedTools(t, "qemu-img", "mkfs.ext4")
	dir := t.TempDir()
	base := filepath.Join(dir, "base.qcow2")
	testimage.Qcow2(t, guestimage.Raw(t), base)
	overlay := filepath.Join(dir, "overlay.qcow2")
	testimage.Run(t, "qemu-img", "create", "-q", "-f", "qcow2", "-b", base, "-F", "qcow2", overlay)

	for _, tc := range []struct {
		name, img, format, reason string
	}{
		{"backing file declared qcow2", overlay, "qcow2", "backing file"},
		{"qcow2 declared raw", base, "raw", "format mismatch"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := testimage.FileHash(t, tc.img)
			r := cli(t, "", "check", tc.img, "--format", tc.format)
			if r.code != exitRejected || !strings.Contains(r.stdout, "REJECTED") || !strings.Contains(r.stderr, tc.reason) {
				t.Errorf("check: exit %d, want %d with %q\n%s%s", r.code, exitRejected, tc.reason, r.stdout, r.stderr)
			}
			// --verbose logs the appliance's steps: a rejected image must
			// come before the first of them.
			r = cli(t, "", "inject", tc.img, "--format", tc.format, "--hostname", "pwned", "--verbose")
			if r.code != exitRejected || !strings.Contains(r.stderr, "image rejected: "+tc.reason) {
				t.Errorf("inject: exit %d, want %d with %q\n%s%s", r.code, exitRejected, tc.reason, r.stdout, r.stderr)
			}
			if strings.Contains(r.stderr, "msg=\"appliance: ") || strings.Contains(r.stderr, "initramfs") {
				t.Errorf("inject started a backend on a rejected image:\n%s", r.stderr)
			}
			if testimage.FileHash(t, tc.img) != before {
				t.Error("the image changed")
			}
		})
	}
}

// A disk with two complete roots: inspect refuses to choose and lists
// both; --root LABEL= chooses one, which inspect --json reports as the
// root and cat reads from.
func TestE2ERootNamesOneOfTwo(t *testing.T) {
	guestimage.NeedAppliance(t)
	testimage.NeedTools(t, "sfdisk")
	img := filepath.Join(t.TempDir(), "two.raw")
	testimage.TwoRoots(t, img)
	before := testimage.FileHash(t, img)

	r := cli(t, "", "inspect", img, "--format", "raw", "--quiet")
	if r.code != exitFailed || !strings.Contains(r.stderr, "more than one") || !strings.Contains(r.stderr, "root-a") || !strings.Contains(r.stderr, "root-b") {
		t.Errorf("inspect of two roots: exit %d, want %d listing both\n%s%s", r.code, exitFailed, r.stdout, r.stderr)
	}

	r = cli(t, "", "inspect", img, "--format", "raw", "--root", "LABEL=root-b", "--json")
	var got inspection
	if err := json.Unmarshal([]byte(r.stdout), &got); err != nil || r.code != exitOK {
		t.Fatalf("inspect --root LABEL=root-b: exit %d, %v\n%s%s", r.code, err, r.stdout, r.stderr)
	}
	if got.OS["ID"] != "b" || got.Appliance == nil || got.Appliance.Root.Label != "root-b" ||
		got.Appliance.Root.Partition != 2 || got.Appliance.Root.MountPoint != "/" {
		t.Errorf("inspect --root LABEL=root-b: OS %v, appliance %+v", got.OS, got.Appliance)
	}

	if r := cli(t, "", "cat", img, "--format", "raw", "--quiet", "--root", "0:1", "/which"); r.code != exitOK || r.stdout != "a\n" {
		t.Errorf("cat --root 0:1 /which: exit %d, %q\n%s", r.code, r.stdout, r.stderr)
	}
	if testimage.FileHash(t, img) != before {
		t.Error("read-only commands changed the image")
	}
}
