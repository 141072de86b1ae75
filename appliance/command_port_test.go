package appliance_test

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/guestinject/guestinject/vfs"
)

// TestCommandCannotTalkOnAgentPort runs, for real in the VM, a guest
// command that does what hostile guest code would: it makes a device node
// for the agent's virtio-serial port (its numbers read from /sys) and
// tries to write a forged frame to it and read the host's requests. The
// agent holds the port open and virtio-serial admits one opener, so the
// command's open fails; the session goes on serving and its Commit writes
// exactly what the host asked for.
func TestCommandCannotTalkOnAgentPort(t *testing.T) {
	needE2E(t)
	dir := t.TempDir()
	tree := filepath.Join(dir, "tree")
	busyboxTree(t, tree, map[string]string{"etc/motd": "hello\n"})
	img := filepath.Join(dir, "disk.raw")
	ext4Image(t, img, tree, 64)

	ctx, s := openRaw(t, img)
	// The node is tried where a command can make one: its own /dev (a
	// tmpfs that must hold devices), its /tmp and the guest's /root
	// (both mounted nodev, so even a node made there cannot be opened).
	res, err := s.RunCommand(ctx, vfs.Command{Shell: `
found=0
for p in /sys/class/virtio-ports/*; do
	[ -e "$p/name" ] || continue
	case "$(cat "$p/name")" in org.guestinject.agent*) ;; *) continue ;; esac
	found=1
	for node in /dev/port0 /tmp/port0 /root/port0; do
		if ! mknod $node c $(tr : ' ' < "$p/dev") 2>/dev/null; then echo "$node mknod-refused"; continue; fi
		if printf '\377\377\377\377forged' > $node; then echo "$node wrote"; else echo "$node write-refused"; fi
		if timeout 2 head -c 1 $node > /dev/null 2>&1; then echo "$node read"; else echo "$node read-refused"; fi
		rm -f $node
	done
done
echo found=$found`})
	if err != nil {
		t.Fatal(err)
	}
	if !res.Success() {
		t.Fatalf("command failed: %+v\n%s", res, res.Output)
	}
	t.Logf("the command on the agent's port:\n%s", res.Output)
	out := string(res.Output)
	if !strings.Contains(out, "found=1") {
		t.Fatalf("the command did not find the agent's port:\n%s", out)
	}
	// The reasons: the agent holds the port, and nodev elsewhere.
	for _, want := range []string{"/dev/port0: Device or resource busy", "/tmp/port0: Permission denied", "/root/port0: Permission denied"} {
		if !strings.Contains(out, want) {
			t.Errorf("the command's output lacks %q", want)
		}
	}
	for _, node := range []string{"/dev/port0", "/tmp/port0", "/root/port0"} {
		for _, act := range []string{"wrote", "read"} {
			if strings.Contains(out, node+" "+act+"\n") {
				t.Errorf("the command %s the agent's port through %s", act, node)
			}
		}
	}
	// The host's session is intact: it reads, writes and commits.
	if got, err := vfs.ReadFile(ctx, s, "/etc/motd", 100); err != nil || string(got) != "hello\n" {
		t.Fatalf("after the command: /etc/motd %q, %v", got, err)
	}
	if err := s.WriteFile(ctx, "/etc/motd", strings.NewReader("host\n"), vfs.WriteOptions{Perm: 0o644}); err != nil {
		t.Fatal(err)
	}
	if err := s.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	if got := debugfs(t, img, "cat /etc/motd"); got != "host\n" {
		t.Errorf("committed /etc/motd %q, want the host's write", got)
	}
}
