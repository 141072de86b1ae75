package inject

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"io/fs"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/guestinject/guestinject/vfs"
)

// itemCases are one Item of every shape Plan builds, with the legacy string
// reports and errors have always shown and the JSON form.
var itemCases = []struct {
	item   Item
	legacy string
	json   string
}{
	{Item{Field: FieldSSHKeys, Index: 0, User: "root"}, "ssh-keys[0] (root)", `{"field":"ssh-keys","index":0,"user":"root"}`},
	{Item{Field: FieldSSHKeys, Index: 3, User: "alice"}, "ssh-keys[3] (alice)", `{"field":"ssh-keys","index":3,"user":"alice"}`},
	{Item{Field: FieldPasswords, Index: 0, User: "root"}, "passwords[0] (root)", `{"field":"passwords","index":0,"user":"root"}`},
	{Item{Field: FieldPasswords, Index: 1, User: "alice"}, "passwords[1] (alice)", `{"field":"passwords","index":1,"user":"alice"}`},
	{Item{Field: FieldNetwork, Index: -1}, "network", `{"field":"network"}`},
	{Item{Field: FieldNetwork, Index: -1, Renderer: RendererNetplan}, "network (netplan)", `{"field":"network","renderer":"netplan"}`},
	{Item{Field: FieldMetadata, Index: -1}, "metadata", `{"field":"metadata"}`},
	{Item{Field: FieldFiles, Index: 0}, "files[0]", `{"field":"files","index":0}`},
	{Item{Field: FieldFiles, Index: 12}, "files[12]", `{"field":"files","index":12}`},
	{Item{Field: FieldHostname, Index: -1}, "hostname", `{"field":"hostname"}`},
	{Item{Field: FieldFirstBoot, Index: -1}, "first-boot", `{"field":"first-boot"}`},
	{Item{Field: FieldFirstBoot, Index: 1}, "first-boot[1]", `{"field":"first-boot","index":1}`},
	{Item{Field: FieldFirstBoot, Index: 0, Name: "setup.step"}, "first-boot[0] (setup.step)", `{"field":"first-boot","index":0,"name":"setup.step"}`},
	{Item{Field: FieldSELinux, Index: -1}, "selinux", `{"field":"selinux"}`},
	{Item{Field: FieldTimezone, Index: -1}, "timezone", `{"field":"timezone"}`},
	{Item{Field: FieldLocale, Index: -1}, "locale", `{"field":"locale"}`},
	{Item{Field: FieldKeymap, Index: -1}, "keymap", `{"field":"keymap"}`},
	{Item{Field: FieldCloudInit, Index: -1}, "cloud-init", `{"field":"cloud-init"}`},
	{Item{Field: FieldUsers, Index: 2, User: "bob"}, "users[2] (bob)", `{"field":"users","index":2,"user":"bob"}`},
	{Item{Field: FieldGroupMembers, Index: 0, User: "alice", Name: "wheel"}, "group-members[0] (alice in wheel)", `{"field":"group-members","index":0,"user":"alice","name":"wheel"}`},
	{Item{Field: FieldReset, Index: -1}, "reset", `{"field":"reset"}`},
	{Item{Field: FieldReset, Index: -1, Name: "logfiles"}, "reset (logfiles)", `{"field":"reset","name":"logfiles"}`},
}

func TestItemStringIsLegacyForm(t *testing.T) {
	for _, c := range itemCases {
		if got := c.item.String(); got != c.legacy {
			t.Errorf("%#v.String() = %q, want %q", c.item, got, c.legacy)
		}
	}
	if got := (Item{}).String(); got != "" {
		t.Errorf("zero Item = %q, want \"\"", got)
	}
}

func TestItemJSONRoundTrip(t *testing.T) {
	for _, c := range itemCases {
		out, err := json.Marshal(c.item)
		if err != nil || string(out) != c.json {
			t.Errorf("Marshal(%v) = %s, %v; want %s", c.item, out, err, c.json)
			continue
		}
		var back Item
		if err := json.Unmarshal(out, &back); err != nil || back != c.item {
			t.Errorf("Unmarshal(%s) = %#v, %v; want %#v", out, back, err, c.item)
		}
	}
	// The zero Item is null, and null decodes to the zero Item.
	out, err := json.Marshal(Item{})
	if err != nil || string(out) != "null" {
		t.Errorf("Marshal(Item{}) = %s, %v; want null", out, err)
	}
	var c struct{ Item Item }
	if err := json.Unmarshal([]byte(`{"Item":null}`), &c); err != nil || c.Item != (Item{}) {
		t.Errorf("Unmarshal(null) = %#v, %v", c.Item, err)
	}
	// Keys this version does not know are ignored.
	var it Item
	if err := json.Unmarshal([]byte(`{"field":"files","index":2,"comment":"x"}`), &it); err != nil || it != (Item{Field: FieldFiles, Index: 2}) {
		t.Errorf("Unmarshal with an extra key = %#v, %v", it, err)
	}
}

func TestItemJSONRefusesWhatPlanCannotWrite(t *testing.T) {
	for _, in := range []string{
		`{"field":"ssh_keys","index":0,"user":"root"}`, // unknown field
		`{"field":"","index":0}`,
		`{}`,
		`{"field":"files","index":-1}`, // negative index
		`{"field":"files"}`,            // a list entry without its index
		`{"field":"passwords","user":"root"}`,
		`{"field":"hostname","index":0}`, // an index on a single field
		`{"field":"selinux","index":0}`,
		`{"field":"ssh-keys","index":0}`,            // no user
		`{"field":"files","index":0,"user":"root"}`, // a user where there is none
		`{"field":"files","index":0,"name":"x"}`,    // a name where there is none
		`{"field":"first-boot","name":"x"}`,         // a name on the boot hook
		`{"field":"hostname","renderer":"netplan"}`, // a renderer where there is none
		`{"field":"reset","index":0}`,               // reset is no list
		`{"field":"reset","user":"root"}`,
	} {
		var it Item
		if err := json.Unmarshal([]byte(in), &it); !errors.Is(err, ErrUnknownItem) {
			t.Errorf("Unmarshal(%s) = %#v, %v; want ErrUnknownItem", in, it, err)
		}
	}
	for _, in := range []string{
		`{"field":"files","index":"0"}`, // wrong types
		`{"field":"files","index":0.5}`,
		`"files[0]"`,                                   // the legacy string
		`{"field":"network","renderer":"netplan","x"}`, // not JSON
	} {
		var it Item
		if err := json.Unmarshal([]byte(in), &it); err == nil {
			t.Errorf("Unmarshal(%s) = %#v, want an error", in, it)
		}
	}
}

// everyKindSpec makes Plan build an item of every kind on selinuxLayout.
func everyKindSpec() Spec {
	return Spec{
		SSHKeys: []SSHKeys{
			{Keys: []string{testKeyA}},
			{User: "alice", Keys: []string{testKeyB}},
			{User: "root", Keys: []string{testKeyB}}, // merged into ssh-keys[0]
		},
		Passwords: []Password{{Plaintext: "correct horse"}, {User: "alice", Lock: Lock}},
		Network:   &Network{Interfaces: []Interface{{Name: "eth0", DHCPv4: true}}, Renderer: RendererNetplan},
		Metadata:  map[string]string{"role": "web"},
		Files:     []File{{Path: "/etc/a", Content: []byte("a")}, {Path: "/opt/b", Content: []byte("b")}},
		Hostname:  "web-1",
		FirstBoot: []Command{{Name: "one", Script: "true"}, {Name: "two", Script: "true"}},
		Now:       testNow,
	}
}

func TestChangesCarryTheirItem(t *testing.T) {
	fsys := openMemGuest(t, selinuxLayout)
	plan, err := NewPlan(context.Background(), fsys, everyKindSpec())
	if err != nil {
		t.Fatal(err)
	}
	var got []Item
	var legacy []string
	for _, c := range plan.Changes() {
		if !slices.Contains(got, c.Item) {
			got = append(got, c.Item)
			legacy = append(legacy, c.Item.String())
		}
	}
	want := []Item{
		{Field: FieldFiles, Index: 0},
		{Field: FieldFiles, Index: 1},
		{Field: FieldMetadata, Index: -1},
		{Field: FieldHostname, Index: -1},
		{Field: FieldNetwork, Index: -1, Renderer: RendererNetplan},
		{Field: FieldSSHKeys, Index: 0, User: "root"},
		{Field: FieldSSHKeys, Index: 1, User: "alice"},
		{Field: FieldPasswords, Index: 0, User: "root"}, // one shadow write for both
		{Field: FieldSELinux, Index: -1},
		{Field: FieldFirstBoot, Index: 0, Name: "one"},
		{Field: FieldFirstBoot, Index: 1, Name: "two"},
		{Field: FieldFirstBoot, Index: -1},
	}
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("items of the plan's changes (-want +got):\n%s", d)
	}
	wantLegacy := []string{"files[0]", "files[1]", "metadata", "hostname", "network (netplan)", "ssh-keys[0] (root)", "ssh-keys[1] (alice)",
		"passwords[0] (root)", "selinux", "first-boot[0] (one)", "first-boot[1] (two)", "first-boot"}
	if d := cmp.Diff(wantLegacy, legacy); d != "" {
		t.Errorf("items as text (-want +got):\n%s", d)
	}
	for path, want := range map[string]Item{
		"/etc/shadow":                      {Field: FieldPasswords, Index: 0, User: "root"},
		"/root/.ssh/authorized_keys":       {Field: FieldSSHKeys, Index: 0, User: "root"},
		"/home/alice/.ssh/authorized_keys": {Field: FieldSSHKeys, Index: 1, User: "alice"},
		"/opt":                             {Field: FieldFiles, Index: 1},
		"/meta.js":                         {Field: FieldMetadata, Index: -1},
		"/etc/netplan/50-guestinject.yaml": {Field: FieldNetwork, Index: -1, Renderer: RendererNetplan},
		firstBootWants:                     {Field: FieldFirstBoot, Index: -1},
	} {
		i := slices.IndexFunc(plan.Changes(), func(c Change) bool { return c.Path == path })
		if i < 0 || plan.Changes()[i].Item != want {
			t.Errorf("%s: change %d, want one for %v", path, i, want)
		}
	}
}

func TestPlanErrorsCarryTheirItem(t *testing.T) {
	noInit := strings.Replace(debianLayout, "f /usr/lib/systemd/systemd mode=0755\n", "", 1)
	cases := []struct {
		name   string
		layout string
		spec   Spec
		item   Item
		path   string
		text   string // the legacy start of the message
	}{
		{"ssh-keys", debianLayout, Spec{SSHKeys: []SSHKeys{{Keys: []string{testKeyA}}, {User: "alice"}}},
			Item{Field: FieldSSHKeys, Index: 1, User: "alice"}, "", "inject ssh-keys[1] (alice): "},
		{"ssh-keys user", debianLayout, Spec{SSHKeys: []SSHKeys{{User: "ghost", Keys: []string{testKeyA}}}},
			Item{Field: FieldSSHKeys, Index: 0, User: "ghost"}, "/etc/passwd", "inject ssh-keys[0] (ghost): /etc/passwd: "},
		{"passwords", debianLayout, Spec{Passwords: []Password{{Plaintext: "x"}, {User: "ghost", Plaintext: "y"}}},
			Item{Field: FieldPasswords, Index: 1, User: "ghost"}, "/etc/passwd", "inject passwords[1] (ghost): /etc/passwd: "},
		{"passwords twice", debianLayout, Spec{Passwords: []Password{{Plaintext: "x"}, {User: "root", Lock: Lock}}},
			Item{Field: FieldPasswords, Index: 1, User: "root"}, "/etc/shadow", `inject passwords[1] (root): /etc/shadow: conflicting changes: user "root" is also set by passwords[0] (root)`},
		{"network", debianLayout, Spec{Network: &Network{}},
			Item{Field: FieldNetwork, Index: -1}, "", "inject network: "},
		{"network file", debianLayout + "d /etc/netplan\nd /etc/netplan/50-guestinject.yaml\n", Spec{Network: &Network{Interfaces: []Interface{{Name: "eth0", DHCPv4: true}}, Renderer: RendererNetplan}},
			Item{Field: FieldNetwork, Index: -1, Renderer: RendererNetplan}, "/etc/netplan/50-guestinject.yaml", "inject network (netplan): /etc/netplan/50-guestinject.yaml: "},
		{"metadata", debianLayout + "d /meta.js\n", Spec{Metadata: map[string]string{"a": "b"}},
			Item{Field: FieldMetadata, Index: -1}, "/meta.js", "inject metadata: /meta.js: "},
		{"files", debianLayout, Spec{Files: []File{{Path: "/etc/ok"}, {Path: "relative"}}},
			Item{Field: FieldFiles, Index: 1}, "relative", "inject files[1]: relative: "},
		{"hostname", debianLayout, Spec{Hostname: "-bad"},
			Item{Field: FieldHostname, Index: -1}, "/etc/hostname", "inject hostname: /etc/hostname: "},
		{"conflict", debianLayout, Spec{Hostname: "vm", Files: []File{{Path: "/etc/hostname"}}},
			Item{Field: FieldHostname, Index: -1}, "/etc/hostname", "inject hostname: /etc/hostname: conflicting changes: also written by files[0]"},
		{"first-boot name", debianLayout, Spec{FirstBoot: []Command{{Name: "ok", Script: "x"}, {Name: "../bad", Script: "x"}}},
			Item{Field: FieldFirstBoot, Index: 1}, "", "inject first-boot[1]: "},
		{"first-boot hook", noInit, Spec{FirstBoot: []Command{{Name: "a", Script: "x"}}},
			Item{Field: FieldFirstBoot, Index: -1}, "", "inject first-boot: "},
		{"selinux", debianLayout + "d /etc/selinux\nd /etc/selinux/config\n", Spec{Files: []File{{Path: "/etc/new"}}},
			Item{Field: FieldSELinux, Index: -1}, selinuxConfig, "inject selinux: /etc/selinux/config: "},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			ie := wantPlanErr(t, openMemGuest(t, c.layout), c.spec)
			if ie.Item != c.item || ie.Path != c.path {
				t.Errorf("ItemError names %#v %q, want %#v %q", ie.Item, ie.Path, c.item, c.path)
			}
			if !strings.HasPrefix(ie.Error(), c.text) {
				t.Errorf("message %q, want it to start with %q", ie.Error(), c.text)
			}
		})
	}
}

// failWrite fails the write of one path with vfs.ErrNoSpace, passing every
// other call to the guest.
type failWrite struct {
	vfs.FS
	path string
}

func (f failWrite) WriteFile(ctx context.Context, name string, r io.Reader, opts vfs.WriteOptions) error {
	if name == f.path {
		return &fs.PathError{Op: "write", Path: name, Err: vfs.ErrNoSpace}
	}
	return f.FS.WriteFile(ctx, name, r, opts)
}

func TestFailedApplyReportsWhatWasNotMade(t *testing.T) {
	for _, failAt := range []string{"/etc/a", "/etc/hostname", "/etc/shadow", firstBootRunner} {
		t.Run(failAt, func(t *testing.T) {
			guest := openMemGuest(t, selinuxLayout)
			plan, err := NewPlan(context.Background(), guest, everyKindSpec())
			if err != nil {
				t.Fatal(err)
			}
			planned := plan.Changes()
			failed := slices.IndexFunc(planned, func(c Change) bool { return c.Path == failAt && c.Action != ActionMkdir })
			rep, err := plan.Apply(context.Background(), failWrite{guest, failAt})
			var ie *ItemError
			if !errors.Is(err, vfs.ErrNoSpace) || !errors.As(err, &ie) || ie.Path != failAt || ie.Item != planned[failed].Item {
				t.Fatalf("Apply = %v, want ErrNoSpace for %v %s", err, planned[failed].Item, failAt)
			}
			if rep == nil {
				t.Fatal("no report with the error")
			}
			if d := cmp.Diff(planned[:failed], rep.Changes); d != "" {
				t.Errorf("Changes (-want +got):\n%s", d)
			}
			if d := cmp.Diff(planned[failed:], rep.NotMade); d != "" {
				t.Errorf("NotMade (-want +got):\n%s", d)
			}
			for _, c := range rep.NotMade {
				if c.Action != ActionCreate && c.Action != ActionMkdir && c.Action != ActionSymlink {
					continue
				}
				if _, err := guest.Lstat(context.Background(), c.Path); !errors.Is(err, fs.ErrNotExist) {
					t.Errorf("%s, not made, is in the guest: %v", c.Path, err)
				}
			}
		})
	}
}

func TestSucceededApplyHasNothingNotMade(t *testing.T) {
	guest := openMemGuest(t, selinuxLayout)
	rep, err := Apply(context.Background(), guest, everyKindSpec())
	if err != nil {
		t.Fatal(err)
	}
	if rep.NotMade != nil {
		t.Errorf("NotMade = %+v after a successful Apply", rep.NotMade)
	}
	out, err := json.Marshal(rep)
	if err != nil || strings.Contains(string(out), "not_made") {
		t.Errorf("report JSON: %s, %v", out, err)
	}
}

func TestReportJSONNotMade(t *testing.T) {
	rep := Report{
		Changes: []Change{{Item: Item{Field: FieldHostname, Index: -1}, Path: "/etc/hostname", Action: ActionReplace, Mode: 0o644, Size: 6}},
		NotMade: []Change{{Item: Item{Field: FieldSSHKeys, Index: 0, User: "root"}, Path: "/root/.ssh", Action: ActionMkdir, Mode: 0o700}},
	}
	out, err := json.Marshal(rep)
	if err != nil {
		t.Fatal(err)
	}
	want := `{"changes":[{"item":{"field":"hostname"},"path":"/etc/hostname","action":"replace","mode":"0644","uid":0,"gid":0,"size":6}],` +
		`"not_made":[{"item":{"field":"ssh-keys","index":0,"user":"root"},"path":"/root/.ssh","action":"mkdir","mode":"0700","uid":0,"gid":0}]}`
	if string(out) != want {
		t.Errorf("got  %s\nwant %s", out, want)
	}
	// A consumer reads the items back as they were.
	type entry struct {
		Item Item   `json:"item"`
		Path string `json:"path"`
	}
	var back struct {
		Changes []entry `json:"changes"`
		NotMade []entry `json:"not_made"`
	}
	if err := json.Unmarshal(out, &back); err != nil {
		t.Fatal(err)
	}
	want2 := []entry{{rep.Changes[0].Item, "/etc/hostname"}, {rep.NotMade[0].Item, "/root/.ssh"}}
	if got := append(back.Changes, back.NotMade...); !slices.Equal(got, want2) {
		t.Errorf("read back %+v, want %+v", got, want2)
	}
}
