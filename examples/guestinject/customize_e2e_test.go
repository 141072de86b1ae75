package main

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/guestinject/guestinject/internal/testsupport/guestimage"
	"github.com/guestinject/guestinject/internal/testsupport/testimage"
)

// TestE2EVirtCustomizeCommandLine applies an operator's virt-customize
// command line through the appliance and reads the ext4 image back with
// debugfs.
func TestE2EVirtCustomizeCommandLine(t *testing.T) {
	guestimage.NeedAppliance(t)
	img := guestimage.Raw(t)
	dir := t.TempDir()
	key := writeFile(t, dir, "id.pub", testKey+"\n")
	pw := writeFile(t, dir, "pw.txt", "correct horse battery\n")
	conf := writeFile(t, dir, "app.conf", "listen = 8080\n")
	if err := os.Chmod(conf, 0o640); err != nil {
		t.Fatal(err)
	}
	cmds := writeFile(t, dir, "cmds", "# more\ntouch /opt/app/ready\nwrite /etc/app.env:MODE=\\\nprod\n")

	r := cli(t, "", "inject", img, "--format", "raw", "--quiet",
		"--root-password", "file:"+pw,
		"--ssh-inject", "root:file:"+key,
		"--hostname", "vc-1",
		"--mkdir", "/opt/app",
		"--upload", conf+":/opt/app/",
		"--commands-from-file", cmds,
		"--chmod", "0600:/opt/app/app.conf",
		"--chown", "1000:1000:/opt/app",
		"--write", "/etc/motd:managed by guestinject\n",
		"--append-line", "/etc/hosts:192.0.2.5 db",
		"--mkdir", "/srv",
		"--link", "/opt/app:/srv/app",
		"--delete", "/etc/network/interfaces.d",
		"--move", "/etc/fstab:/etc/fstab.orig",
		"--truncate", "/etc/fstab.orig",
		"--firstboot-command", "echo first boot > /root/booted",
	)
	if r.code != exitOK {
		t.Fatalf("inject: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	for path, want := range map[string]string{
		"/etc/hostname":              "vc-1",
		"/root/.ssh/authorized_keys": testKey,
		"/etc/shadow":                "root:$6$",
		"/opt/app/app.conf":          "listen = 8080",
		"/etc/motd":                  "managed by guestinject\n",
		"/etc/app.env":               "MODE=prod",
		"/etc/hosts":                 "192.0.2.5 db\n",
	} {
		if got := guestimage.Cat(t, img, path); !strings.Contains(got, want) {
			t.Errorf("%s in the image = %q, want it to contain %q", path, got, want)
		}
	}
	for path, want := range map[string][]string{
		"/opt/app/app.conf": {"Mode:  0600", "Type: regular"},
		"/opt/app":          {"Type: directory", "User:  1000", "Group:  1000"},
		"/opt/app/ready":    {"Type: regular", "Size: 0"},
		"/srv/app":          {"Type: symlink", "Fast link dest: \"/opt/app\""},
		"/etc/fstab.orig":   {"Type: regular", "Size: 0"},
	} {
		st := guestimage.Stat(t, img, path)
		for _, w := range want {
			if !strings.Contains(st, w) {
				t.Errorf("%s: debugfs stat lacks %q:\n%s", path, w, st)
			}
		}
	}
	for dir, want := range map[string][]string{
		"/etc":                           {"/fstab.orig/", "/motd/", "/app.env/"},
		"/srv":                           {"/app/"},
		"/var/lib/guestinject/firstboot": {"-command/"},
	} {
		if ls := testimage.Run(t, "debugfs", "-R", "ls -p "+dir, img); !containsAll(ls, want) {
			t.Errorf("debugfs ls -p %s lacks one of %q:\n%s", dir, want, ls)
		}
	}
	for dir, gone := range map[string]string{"/etc": "/fstab/", "/etc/network": "/interfaces.d/"} {
		if ls := testimage.Run(t, "debugfs", "-R", "ls -p "+dir, img); strings.Contains(ls, gone) {
			t.Errorf("%s%s is still in the image:\n%s", dir, strings.TrimSuffix(gone, "/"), ls)
		}
	}
}

func containsAll(s string, subs []string) bool {
	for _, sub := range subs {
		if !strings.Contains(s, sub) {
			return false
		}
	}
	return true
}

// TestE2ECopyInTarInEdit copies a host tree and a gzip-compressed tar
// archive into a guest through the appliance, edits a copied file and
// the guest's fstab, and reads the ext4 image back with debugfs.
func TestE2ECopyInTarInEdit(t *testing.T) {
	guestimage.NeedAppliance(t)
	img := guestimage.Raw(t)
	dir := t.TempDir()
	app := filepath.Join(dir, "app")
	if err := os.MkdirAll(filepath.Join(app, "bin"), 0o750); err != nil {
		t.Fatal(err)
	}
	tool := writeFile(t, filepath.Join(app, "bin"), "tool", "#!/bin/sh\necho tool\n")
	if err := os.Chmod(tool, os.ModeSetuid|0o755); err != nil {
		t.Fatal(err)
	}
	conf := writeFile(t, app, "app.conf", "#Listen 80\nname=app\n")
	if err := os.Chown(conf, 1000, 1000); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("/etc/app", filepath.Join(app, "etc")); err != nil {
		t.Fatal(err)
	}
	mtime := time.Date(2020, 2, 3, 4, 5, 6, 0, time.UTC)
	if err := os.Chtimes(tool, mtime, mtime); err != nil {
		t.Fatal(err)
	}
	var tarball bytes.Buffer
	zw := gzip.NewWriter(&tarball)
	tw := tar.NewWriter(zw)
	for _, h := range []tar.Header{
		{Name: "srv/", Typeflag: tar.TypeDir, Mode: 0o711},
		{Name: "srv/www/index.html", Typeflag: tar.TypeReg, Mode: 0o644, Uid: 33, Gid: 33, Size: 6, ModTime: mtime},
		{Name: "srv/current", Typeflag: tar.TypeSymlink, Linkname: "www"},
	} {
		if err := tw.WriteHeader(&h); err != nil {
			t.Fatal(err)
		}
		if h.Size > 0 {
			tw.Write([]byte("hello\n"))
		}
	}
	tw.Close()
	zw.Close()
	tgz := writeFile(t, dir, "srv.tar.gz", tarball.String())

	r := cli(t, "", "inject", img, "--format", "raw", "--quiet",
		"--mkdir", "/opt",
		"--copy-in", app+":/opt",
		"--edit", "/opt/app/app.conf:s/^#(Listen) (\\d+)$/$1 [::]:$2/",
		"--tar-in", tgz+":/",
		"--edit", "/etc/fstab:s|errors=remount-ro|defaults,noatime|g",
	)
	if r.code != exitOK {
		t.Fatalf("inject: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	for path, want := range map[string]string{
		"/opt/app/app.conf":   "Listen [::]:80\nname=app\n",
		"/opt/app/bin/tool":   "#!/bin/sh\necho tool\n",
		"/srv/www/index.html": "hello\n",
		"/etc/fstab":          "LABEL=root / ext4 defaults,noatime 0 1\n",
	} {
		if got := guestimage.Cat(t, img, path); got != want {
			t.Errorf("%s in the image = %q, want %q", path, got, want)
		}
	}
	for path, want := range map[string][]string{
		"/opt/app":            {"Type: directory", "Mode:  0750"},
		"/opt/app/bin/tool":   {"Type: regular", "Mode:  04755", "User:     0", fmt.Sprintf("mtime: 0x%08x", mtime.Unix())},
		"/opt/app/app.conf":   {"Type: regular", "User:  1000", "Group:  1000"},
		"/opt/app/etc":        {"Type: symlink", "Fast link dest: \"/etc/app\""},
		"/srv":                {"Type: directory", "Mode:  0711"},
		"/srv/www":            {"Type: directory", "Mode:  0755"},
		"/srv/www/index.html": {"Type: regular", "User:    33", "Group:    33", fmt.Sprintf("mtime: 0x%08x", mtime.Unix())},
		"/srv/current":        {"Type: symlink", "Fast link dest: \"www\""},
	} {
		st := guestimage.Stat(t, img, path)
		for _, w := range want {
			if !strings.Contains(strings.Join(strings.Fields(st), " "), strings.Join(strings.Fields(w), " ")) {
				t.Errorf("%s: debugfs stat lacks %q:\n%s", path, w, st)
			}
		}
	}
	if !strings.Contains(r.stdout, "copy-in") || !strings.Contains(r.stdout, "tar-in") {
		t.Errorf("the report does not name the copies:\n%s", r.stdout)
	}
}
