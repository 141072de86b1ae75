package appliance_test

import (
	"context"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/guestinject/guestinject/appliance"
	"github.com/guestinject/guestinject/inject"
	"github.com/guestinject/guestinject/internal/testsupport/debianimage"
	"github.com/guestinject/guestinject/vfs"
)

// TestSELinuxRelabelDebian relabels files in a Debian guest with a real
// policy (selinux-policy-default) through the appliance, with the guest's
// own setfiles, and reads the security.selinux attributes back with
// debugfs, comparing them with the contexts the policy's file_contexts
// gives those paths: first only what an injection creates (a file it
// replaces or does not touch keeps having no label), then the whole
// filesystem.
func TestSELinuxRelabelDebian(t *testing.T) {
	needE2E(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Minute)
	defer cancel()
	tree := debianimage.Tree(ctx, t, debianimage.Packages)
	fc, err := os.ReadFile(filepath.Join(tree, "etc/selinux/default/contexts/files/file_contexts"))
	if err != nil {
		t.Fatal(err)
	}
	homedirs, err := os.ReadFile(filepath.Join(tree, "etc/selinux/default/contexts/files/file_contexts.homedirs"))
	if err != nil {
		t.Fatal(err)
	}
	want := func(spec string, data []byte) string {
		t.Helper()
		if c := policyContext(data, spec); c != "" {
			return c
		}
		t.Fatalf("the policy has no context for %s", spec)
		return ""
	}
	sshHome := want(`/root/\.ssh(/.*)?`, homedirs)
	etc := want(`/etc/.*`, fc)
	shadow := want(`/etc/shadow.*`, fc)
	sshd := want(`/usr/sbin/sshd`, fc)
	hostname := policyContext(fc, `/etc/hostname`)
	if hostname == "" {
		hostname = etc
	}

	img := filepath.Join(t.TempDir(), "debian.raw")
	run(t, "mkfs.ext4", "-q", "-F", "-d", tree, img, "1536M")
	if err := os.RemoveAll(tree); err != nil {
		t.Fatal(err)
	}
	if got := label(t, img, "/etc/shadow"); got != "" {
		t.Fatalf("the image starts labelled: /etc/shadow %q", got)
	}

	apply := func(spec inject.Spec) *inject.Report {
		t.Helper()
		s, err := appliance.Open(ctx, []vfs.Disk{{Path: img, Format: "raw"}})
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		rep, err := inject.Apply(ctx, s, spec)
		if err != nil {
			t.Fatalf("Apply: %v\nreport %+v", err, rep)
		}
		if err := s.Commit(ctx); err != nil {
			t.Fatal(err)
		}
		return rep
	}
	relabelRun := func(rep *inject.Report) inject.Change {
		t.Helper()
		var runs []inject.Change
		for _, c := range rep.Changes {
			if c.Item.Field == inject.FieldSELinux {
				runs = append(runs, c)
			}
		}
		if len(runs) != 1 || runs[0].Action != inject.ActionRun || runs[0].Run == nil || !strings.Contains(runs[0].Detail, "relabelled now") {
			t.Fatalf("SELinux changes %+v, want one setfiles run", runs)
		}
		return runs[0]
	}

	rep := apply(inject.Spec{
		SSHKeys: []inject.SSHKeys{{Keys: []string{"ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl test"}}},
		Files: []inject.File{
			{Path: "/etc/guestinject-selinux.conf", Content: []byte("x=1\n")},
			{Path: "/etc/guestinject.d/nested/app.conf", Content: []byte("y=2\n")},
			{Path: "/etc/hostname", Content: []byte("labelled\n")},
		},
	})
	c := relabelRun(rep)
	t.Logf("setfiles on the created paths: %v (%s)", c.Run.Duration.Round(time.Millisecond), c.Detail)
	for path, wantLabel := range map[string]string{
		"/root/.ssh/authorized_keys":         sshHome,
		"/etc/guestinject-selinux.conf":      etc,
		"/etc/guestinject.d":                 etc,
		"/etc/guestinject.d/nested/app.conf": etc,
		"/root/.ssh":                         "", // debootstrap made it
		"/etc/hostname":                      "", // replaced: keeps its (absent) label
		"/etc/shadow":                        "", // untouched
	} {
		if got := label(t, img, path); got != wantLabel {
			t.Errorf("%s labelled %q, want %q", path, got, wantLabel)
		}
	}
	for dir, name := range map[string]string{"/": "/.autorelabel/", "/var/lib": "/guestinject/"} {
		if strings.Contains(debugfs(t, img, "ls -p "+dir), name) {
			t.Errorf("first-boot relabel left in the image: %s in %s", name, dir)
		}
	}

	rep = apply(inject.Spec{SELinux: inject.RelabelAll})
	c = relabelRun(rep)
	t.Logf("setfiles on the whole filesystem: %v", c.Run.Duration.Round(time.Millisecond))
	for path, wantLabel := range map[string]string{
		"/etc/shadow":                shadow,
		"/usr/sbin/sshd":             sshd,
		"/root/.ssh/authorized_keys": sshHome,
		"/etc/hostname":              hostname,
	} {
		if got := label(t, img, path); got != wantLabel {
			t.Errorf("%s labelled %q, want %q", path, got, wantLabel)
		}
	}
}

// policyContext is the context the line of file_contexts whose path
// expression is exactly spec gives, "" when there is none.
func policyContext(fileContexts []byte, spec string) string {
	for line := range strings.Lines(string(fileContexts)) {
		f := strings.Fields(line)
		if len(f) >= 2 && f[0] == spec {
			return f[len(f)-1]
		}
	}
	return ""
}

var eaValue = regexp.MustCompile(`(?m)^\s*security\.selinux \(\d+\) = "([^"]*)"`)

// label reads path's security.selinux attribute from the ext4 image with
// debugfs, "" when it has none; the trailing NUL setfiles writes is left
// out.
func label(t *testing.T, img, path string) string {
	t.Helper()
	out := debugfs(t, img, "ea_list "+path)
	m := eaValue.FindStringSubmatch(out)
	if m == nil {
		return ""
	}
	return strings.TrimSuffix(m[1], `\000`)
}
