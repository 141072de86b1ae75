package inject

import (
	"errors"
	"io/fs"
	"strings"
	"testing"

	"github.com/guestinject/guestinject/internal/cloudinit"
	"github.com/guestinject/guestinject/vfs"
)

const seedLayout = debianLayout + "d /var/lib mode=0755\n"

var testSeed = CloudInitSeed{
	UserData:      []byte("#cloud-config\npassword: secret\nchpasswd: {expire: false}\n"),
	MetaData:      []byte("instance-id: i-1234\nlocal-hostname: vm1\n"),
	NetworkConfig: []byte("version: 2\nethernets:\n  eth0:\n    dhcp4: true\n"),
	VendorData:    []byte("#!/bin/sh\necho vendor\n"),
}

func TestCloudInitSeed(t *testing.T) {
	forEachBackend(t, func(t *testing.T, open func(*testing.T, string) vfs.FS) {
		fsys := open(t, seedLayout)
		seed := testSeed
		got, rep := applyDiff(t, fsys, Spec{CloudInit: &seed})
		wantTreeDiff(t, map[string]node{
			"/var/lib/cloud":                             {Mode: fs.ModeDir | 0o755},
			"/var/lib/cloud/seed":                        {Mode: fs.ModeDir | 0o755},
			"/var/lib/cloud/seed/nocloud":                {Mode: fs.ModeDir | 0o755},
			"/var/lib/cloud/seed/nocloud/user-data":      {Mode: 0o600, Data: string(seed.UserData)},
			"/var/lib/cloud/seed/nocloud/meta-data":      {Mode: 0o600, Data: string(seed.MetaData)},
			"/var/lib/cloud/seed/nocloud/network-config": {Mode: 0o600, Data: string(seed.NetworkConfig)},
			"/var/lib/cloud/seed/nocloud/vendor-data":    {Mode: 0o600, Data: string(seed.VendorData)},
		}, got)
		var summary []string
		for _, c := range rep.Changes {
			if c.Item != singleItem(FieldCloudInit) {
				t.Errorf("change %v names item %v", c, c.Item)
			}
			summary = append(summary, string(c.Action)+" "+c.Path)
		}
		want := "mkdir /var/lib/cloud,mkdir /var/lib/cloud/seed,mkdir /var/lib/cloud/seed/nocloud," +
			"create /var/lib/cloud/seed/nocloud/user-data,create /var/lib/cloud/seed/nocloud/meta-data," +
			"create /var/lib/cloud/seed/nocloud/network-config,create /var/lib/cloud/seed/nocloud/vendor-data"
		if s := strings.Join(summary, ","); s != want {
			t.Errorf("report %s\nwant   %s", s, want)
		}
	})
}

// A seed without user-data or meta-data gets an empty user-data and the
// default meta-data, and replaces an earlier seed whole: its stale
// network-config and vendor-data go, a symlink as a link, never its target.
func TestCloudInitSeedDefaultsAndStaleFiles(t *testing.T) {
	forEachBackend(t, func(t *testing.T, open func(*testing.T, string) vfs.FS) {
		fsys := open(t, seedLayout+`
d /var/lib/cloud/seed/nocloud mode=0700
f /var/lib/cloud/seed/nocloud/user-data mode=0644 owner=1000:1000 data="#cloud-config\nold: 1\n"
f /var/lib/cloud/seed/nocloud/network-config data="version: 1\n"
l /var/lib/cloud/seed/nocloud/vendor-data target={{canary}}/passwd
`)
		got, _ := applyDiff(t, fsys, Spec{CloudInit: &CloudInitSeed{}})
		wantTreeDiff(t, map[string]node{
			"/var/lib/cloud/seed/nocloud/user-data":      {Mode: 0o600, Data: ""},
			"/var/lib/cloud/seed/nocloud/meta-data":      {Mode: 0o600, Data: DefaultCloudInitMetaData},
			"/var/lib/cloud/seed/nocloud/network-config": {},
			"/var/lib/cloud/seed/nocloud/vendor-data":    {},
		}, got)
	})
}

// Links out of the guest and ".." climbs are resolved inside the guest
// root: the seed lands where the guest itself would find it, and the host
// canary (checked by the backends) is untouched.
func TestCloudInitSeedHostileLinks(t *testing.T) {
	forEachBackend(t, func(t *testing.T, open func(*testing.T, string) vfs.FS) {
		t.Run("absolute link to a host path", func(t *testing.T) {
			fsys := open(t, seedLayout+"d /srv/cloud\nl /var/lib/cloud target=/srv/cloud\n")
			got, _ := applyDiff(t, fsys, Spec{CloudInit: &CloudInitSeed{UserData: []byte("#!/bin/sh\n")}})
			wantTreeDiff(t, map[string]node{
				"/srv/cloud/seed":                   {Mode: fs.ModeDir | 0o755},
				"/srv/cloud/seed/nocloud":           {Mode: fs.ModeDir | 0o755},
				"/srv/cloud/seed/nocloud/user-data": {Mode: 0o600, Data: "#!/bin/sh\n"},
				"/srv/cloud/seed/nocloud/meta-data": {Mode: 0o600, Data: DefaultCloudInitMetaData},
			}, got)
		})
		t.Run("dot-dot climb", func(t *testing.T) {
			fsys := open(t, seedLayout+"l /var/lib/cloud target=../../../../../..\n")
			got, _ := applyDiff(t, fsys, Spec{CloudInit: &CloudInitSeed{}})
			wantTreeDiff(t, map[string]node{
				"/seed":                   {Mode: fs.ModeDir | 0o755},
				"/seed/nocloud":           {Mode: fs.ModeDir | 0o755},
				"/seed/nocloud/user-data": {Mode: 0o600},
				"/seed/nocloud/meta-data": {Mode: 0o600, Data: DefaultCloudInitMetaData},
			}, got)
		})
	})
}

func TestCloudInitSeedRefusals(t *testing.T) {
	forEachBackend(t, func(t *testing.T, open func(*testing.T, string) vfs.FS) {
		for _, c := range []struct {
			name, layout string
			spec         Spec
			want         []error
		}{
			{"dangling link to the host", "l /var/lib/cloud target={{canary}}/none\n", Spec{CloudInit: &CloudInitSeed{}}, []error{ErrConflict, fs.ErrExist}},
			{"seed is a FIFO", "d /var/lib/cloud\np /var/lib/cloud/seed\n", Spec{CloudInit: &CloudInitSeed{}}, []error{vfs.ErrNotDir}},
			{"seed is a device", "d /var/lib/cloud\nc /var/lib/cloud/seed dev=1:3\n", Spec{CloudInit: &CloudInitSeed{}}, []error{vfs.ErrNotDir}},
			{"user-data is a link", "d /var/lib/cloud/seed/nocloud\nl /var/lib/cloud/seed/nocloud/user-data target={{canary}}/passwd\n",
				Spec{CloudInit: &CloudInitSeed{}}, []error{ErrUnsafe, vfs.ErrIsSymlink}},
			{"meta-data is a FIFO", "d /var/lib/cloud/seed/nocloud\np /var/lib/cloud/seed/nocloud/meta-data\n",
				Spec{CloudInit: &CloudInitSeed{}}, []error{ErrUnsafe, vfs.ErrNotRegular}},
			{"stale vendor-data is a FIFO", "d /var/lib/cloud/seed/nocloud\np /var/lib/cloud/seed/nocloud/vendor-data\n",
				Spec{CloudInit: &CloudInitSeed{}}, []error{ErrUnsafe}},
			{"stale network-config is a directory", "d /var/lib/cloud/seed/nocloud/network-config\n",
				Spec{CloudInit: &CloudInitSeed{}}, []error{ErrUnsafe}},
			{"user-data not YAML", "", Spec{CloudInit: &CloudInitSeed{UserData: []byte("#cloud-config\na: [\n")}}, []error{ErrInvalidSpec, cloudinit.ErrInvalid}},
			{"user-data a list", "", Spec{CloudInit: &CloudInitSeed{UserData: []byte("#cloud-config\n- a\n")}}, []error{ErrInvalidSpec, cloudinit.ErrInvalid}},
			{"user-data unknown", "", Spec{CloudInit: &CloudInitSeed{UserData: []byte("hello")}}, []error{ErrInvalidSpec, cloudinit.ErrInvalid}},
			{"user-data too large", "", Spec{CloudInit: &CloudInitSeed{UserData: []byte("#!/bin/sh\n" + strings.Repeat("#", MaxCloudInitUserData))}}, []error{ErrInvalidSpec}},
			{"vendor-data unknown", "", Spec{CloudInit: &CloudInitSeed{VendorData: []byte("hello")}}, []error{ErrInvalidSpec, cloudinit.ErrInvalid}},
			{"meta-data a list", "", Spec{CloudInit: &CloudInitSeed{MetaData: []byte("- a\n")}}, []error{ErrInvalidSpec}},
			{"meta-data too large", "", Spec{CloudInit: &CloudInitSeed{MetaData: []byte("a: " + strings.Repeat("b", MaxCloudInitMetaData))}}, []error{ErrInvalidSpec}},
			{"network-config version 3", "", Spec{CloudInit: &CloudInitSeed{NetworkConfig: []byte("version: 3\n")}}, []error{ErrInvalidSpec}},
			{"network-config empty", "", Spec{CloudInit: &CloudInitSeed{NetworkConfig: []byte{}}}, []error{ErrInvalidSpec}},
			{"written by Files too", "", Spec{CloudInit: &CloudInitSeed{}, Files: []File{{Path: CloudInitSeedDir + "/meta-data"}}}, []error{ErrConflict}},
		} {
			t.Run(c.name, func(t *testing.T) {
				fsys := open(t, seedLayout+c.layout)
				ie := wantPlanErr(t, fsys, c.spec, c.want...)
				if ie.Item != singleItem(FieldCloudInit) {
					t.Errorf("error names %v", ie.Item)
				}
			})
		}
	})
}

func TestCloudInitSeedFiles(t *testing.T) {
	s := CloudInitSeed{UserData: []byte("#!/bin/sh\n"), VendorData: []byte{}}
	var names []string
	for _, f := range s.Files() {
		names = append(names, f.Name+"="+string(f.Data))
	}
	if got, want := strings.Join(names, ","), "user-data=#!/bin/sh\n,meta-data="+DefaultCloudInitMetaData+",vendor-data="; got != want {
		t.Errorf("Files = %q, want %q", got, want)
	}
	if err := s.Validate(); err != nil {
		t.Errorf("Validate: %v", err)
	}
	bad := CloudInitSeed{NetworkConfig: []byte("version: 9\n")}
	if err := bad.Validate(); !errors.Is(err, ErrInvalidSpec) || !errors.Is(err, cloudinit.ErrInvalid) {
		t.Errorf("Validate = %v", err)
	}
}
