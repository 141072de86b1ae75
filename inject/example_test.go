package inject_test

import (
	"archive/tar"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"testing/iotest"
	"time"

	"github.com/guestinject/guestinject/inject"
	"github.com/guestinject/guestinject/vfs"
	"github.com/guestinject/guestinject/vfs/memfs"
)

// exampleGuest is a tiny guest in memory; real callers get a vfs.FS from
// the appliance or a mount backend.
func exampleGuest() *memfs.FS {
	g := memfs.New()
	for _, n := range []memfs.Node{
		{Path: "/etc", Mode: fs.ModeDir | 0o755},
		{Path: "/etc/passwd", Mode: 0o644, Data: []byte("root:x:0:0:root:/root:/bin/sh\n")},
		{Path: "/etc/shadow", Mode: 0o640, GID: 42, Data: []byte("root:*:19000:0:99999:7:::\n")},
		{Path: "/etc/hostname", Mode: 0o644, Data: []byte("localhost\n")},
		{Path: "/root", Mode: fs.ModeDir | 0o700},
	} {
		if err := g.Add(n); err != nil {
			panic(err)
		}
	}
	return g
}

func ExampleApply() {
	ctx := context.Background()
	guest := exampleGuest()
	report, err := inject.Apply(ctx, guest, inject.Spec{
		Hostname: "web-1",
		SSHKeys: []inject.SSHKeys{{
			Keys: []string{"ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl admin"},
		}},
		Passwords: []inject.Password{{Plaintext: "correct horse battery staple"}},
		Metadata:  map[string]string{"role": "web"},
		Now:       time.Date(2024, 10, 1, 0, 0, 0, 0, time.UTC),
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	for _, c := range report.Changes {
		fmt.Printf("%-7s %-26s %s %d:%d\n", c.Action, c.Path, inject.OctalMode(c.Mode), c.UID, c.GID)
	}
	// Output:
	// create  /meta.js                   0644 0:0
	// replace /etc/hostname              0644 0:0
	// create  /etc/hosts                 0644 0:0
	// mkdir   /root/.ssh                 0700 0:0
	// create  /root/.ssh/authorized_keys 0600 0:0
	// replace /etc/shadow                0640 0:42
}

func ExampleNewPlan() {
	ctx := context.Background()
	guest := exampleGuest()
	plan, err := inject.NewPlan(ctx, guest, inject.Spec{
		Files: []inject.File{{Path: "/opt/app/run.sh", Content: []byte("#!/bin/sh\n"), Mode: 0o755}},
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	// A dry run: the changes are decided, nothing is written yet.
	enc := json.NewEncoder(os.Stdout)
	for _, c := range plan.Changes() {
		if err := enc.Encode(c); err != nil {
			fmt.Println(err)
		}
	}
	// Output:
	// {"item":{"field":"files","index":0},"path":"/opt","action":"mkdir","mode":"0755","uid":0,"gid":0}
	// {"item":{"field":"files","index":0},"path":"/opt/app","action":"mkdir","mode":"0755","uid":0,"gid":0}
	// {"item":{"field":"files","index":0},"path":"/opt/app/run.sh","action":"create","mode":"0755","uid":0,"gid":0,"size":10}
}

// A failed Apply returns its Report with the error: the changes made before
// the failure, and those not made, the failed one first. The error names
// the spec item as an Item, which maps back to the Spec without parsing.
func ExampleApply_failure() {
	ctx := context.Background()
	guest := exampleGuest()
	report, err := inject.Apply(ctx, guest, inject.Spec{Files: []inject.File{
		{Path: "/etc/motd", Content: []byte("managed\n")},
		{Path: "/etc/app.conf", Source: iotest.ErrReader(errors.New("upload interrupted"))},
		{Path: "/etc/issue", Content: []byte("web\n")},
	}})
	var ie *inject.ItemError
	if !errors.As(err, &ie) {
		fmt.Println("unexpected:", err)
		return
	}
	fmt.Println(err)
	fmt.Printf("field %s, index %d\n", ie.Item.Field, ie.Item.Index)
	for _, c := range report.Changes {
		fmt.Println("made:    ", c.Action, c.Path, c.Item)
	}
	for _, c := range report.NotMade {
		fmt.Println("not made:", c.Action, c.Path, c.Item)
	}
	// Output:
	// inject files[1]: /etc/app.conf: writefile /etc/app.conf: reading the new content: upload interrupted
	// field files, index 1
	// made:     create /etc/motd files[0]
	// not made: create /etc/app.conf files[1]
	// not made: create /etc/issue files[2]
}

func ExampleParseNetworkData() {
	n, err := inject.ParseNetworkData([]byte(`{
		"links": [{"id": "tap0", "type": "ovs", "ethernet_mac_address": "fa:16:3e:12:34:56", "mtu": 1450}],
		"networks": [{"id": "net0", "type": "ipv4", "link": "tap0", "ip_address": "10.0.0.5", "netmask": "255.255.255.0",
			"routes": [{"network": "0.0.0.0", "netmask": "0.0.0.0", "gateway": "10.0.0.1"}]}],
		"services": [{"type": "dns", "address": "10.0.0.2"}]
	}`))
	if err != nil {
		fmt.Println(err)
		return
	}
	i := n.Interfaces[0]
	fmt.Println(i.MAC, i.Addresses, i.Gateway4, i.MTU, n.DNS.Servers)
	// Output:
	// fa:16:3e:12:34:56 [10.0.0.5/24] 10.0.0.1 1450 [10.0.0.2]
}

// A reset of the machine ID and the SSH host keys, planned as a dry run:
// each change names the operation that makes it.
func ExampleReset() {
	ctx := context.Background()
	guest := exampleGuest()
	for _, n := range []memfs.Node{
		{Path: "/etc/machine-id", Mode: 0o444, Data: []byte("0123456789abcdef0123456789abcdef\n")},
		{Path: "/etc/ssh", Mode: fs.ModeDir | 0o755},
		{Path: "/etc/ssh/ssh_host_ed25519_key", Mode: 0o600, Data: []byte("private\n")},
		{Path: "/etc/ssh/ssh_host_ed25519_key.pub", Mode: 0o644, Data: []byte("ssh-ed25519 AAAA\n")},
		{Path: "/etc/ssh/sshd_config", Mode: 0o644, Data: []byte("PermitRootLogin no\n")},
	} {
		if err := guest.Add(n); err != nil {
			panic(err)
		}
	}
	plan, err := inject.NewPlan(ctx, guest, inject.Spec{Reset: &inject.Reset{Operations: []string{"machine-id", "ssh-hostkeys"}}})
	if err != nil {
		fmt.Println(err)
		return
	}
	for _, c := range plan.Changes() {
		fmt.Println(c.Action, c.Path, c.Item)
	}
	// Output:
	// replace /etc/machine-id reset (machine-id)
	// delete /etc/ssh/ssh_host_ed25519_key reset (ssh-hostkeys)
	// delete /etc/ssh/ssh_host_ed25519_key.pub reset (ssh-hostkeys)
}

// ResetOperations is what guestinject reset --list-operations prints, as
// virt-sysprep --list-operations does: a star marks the default set.
func ExampleResetOperations() {
	for _, op := range inject.ResetOperations()[:3] {
		star := " "
		if op.Default {
			star = "*"
		}
		fmt.Println(op.Name, star, op.Description)
	}
	// Output:
	// machine-id * Empty /etc/machine-id so systemd makes a new one at boot; remove the D-Bus copy
	// ssh-hostkeys * Remove the SSH host keys (/etc/ssh/*_host_*), made anew at boot
	// cloud-init * Remove cloud-init's state under /var/lib/cloud (the seed kept) and its logs, as cloud-init clean --logs
}

// An archive unpacked into the guest, then a file of it edited line by
// line, as virt-customize's --edit would with s/^#(Listen) (\d+)$/$1 [::]:$2/.
func ExampleTarIn() {
	ctx := context.Background()
	var archive bytes.Buffer
	tw := tar.NewWriter(&archive)
	conf := "#Listen 80\nname=app\n"
	tw.WriteHeader(&tar.Header{Name: "app/", Typeflag: tar.TypeDir, Mode: 0o750})
	tw.WriteHeader(&tar.Header{Name: "app/app.conf", Typeflag: tar.TypeReg, Mode: 0o640, Size: int64(len(conf))})
	tw.Write([]byte(conf))
	tw.WriteHeader(&tar.Header{Name: "app/current", Typeflag: tar.TypeSymlink, Linkname: "app.conf"})
	tw.Close()

	guest := exampleGuest()
	report, err := inject.Apply(ctx, guest, inject.Spec{Operations: []inject.Operation{
		{TarIn: &inject.TarIn{Reader: &archive, Dir: "/root", TreeOptions: inject.TreeOptions{Times: inject.TimesIgnored}}},
		{Edit: &inject.Edit{Path: "/root/app/app.conf", Pattern: `^#(Listen) (\d+)$`, Replacement: "$1 [::]:$2", Lines: true}},
	}})
	if err != nil {
		fmt.Println(err)
		return
	}
	for _, c := range report.Changes {
		fmt.Printf("%-7s %-19s %s %s\n", c.Action, c.Path, inject.OctalMode(c.Mode), c.Item)
	}
	data, _ := vfs.ReadFile(ctx, guest, "/root/app/app.conf", 1<<10)
	fmt.Print(string(data))
	// Output:
	// mkdir   /root/app           0750 operations[0] (tar-in)
	// create  /root/app/app.conf  0640 operations[0] (tar-in)
	// symlink /root/app/current   0777 operations[0] (tar-in)
	// replace /root/app/app.conf  0640 operations[1] (edit)
	// Listen [::]:80
	// name=app
}
