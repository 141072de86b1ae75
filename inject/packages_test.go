package inject

import (
	"context"
	"strings"
	"testing"

	"github.com/guestinject/guestinject/vfs"
	"github.com/guestinject/guestinject/vfs/memfs"
)

// networkGuest is a command guest that says whether it has the package
// network, as the appliance does.
type networkGuest struct {
	*commandGuest
	network bool
}

func (g *networkGuest) PackageNetwork() bool { return g.network }

func newNetworkGuest(t *testing.T, network bool, programs ...string) *networkGuest {
	t.Helper()
	g := &networkGuest{commandGuest: newCommandGuest(t), network: network}
	ctx := context.Background()
	for _, p := range programs {
		dir, _ := vfs.Split(p)
		if err := g.MkdirAll(ctx, dir, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := g.WriteFile(ctx, p, strings.NewReader("\x7fELF"), vfs.WriteOptions{Perm: 0o755, UID: 0, GID: 0}); err != nil {
			t.Fatal(err)
		}
	}
	return g
}

func TestInstallRunsTheGuestsPackageManager(t *testing.T) {
	ctx := context.Background()
	for _, tc := range []struct {
		programs []string
		op       Operation
		want     string
	}{
		{[]string{"/usr/bin/apt-get", "/usr/bin/dnf"}, Operation{Install: &Install{Packages: []string{"thepkg", "bash=5.2-15"}}},
			"DEBIAN_FRONTEND=noninteractive; export DEBIAN_FRONTEND; apt-get -q -o Acquire::Queue-Mode=access -o Acquire::http::Pipeline-Depth=0 update && " +
				"apt-get -q -y -o Acquire::Queue-Mode=access -o Acquire::http::Pipeline-Depth=0 -o Dpkg::Options::=--force-confold install 'thepkg' 'bash=5.2-15'"},
		{[]string{"/usr/bin/apt-get"}, Operation{Uninstall: &Uninstall{Packages: []string{"nano"}}},
			"DEBIAN_FRONTEND=noninteractive; export DEBIAN_FRONTEND; apt-get -q -y remove 'nano'"},
		{[]string{"/usr/bin/dnf"}, Operation{Install: &Install{Packages: []string{"python3-foo.x86_64"}}}, "dnf -y --setopt=max_parallel_downloads=1 install 'python3-foo.x86_64'"},
		{[]string{"/usr/bin/zypper"}, Operation{Uninstall: &Uninstall{Packages: []string{"vim"}}}, "zypper -n remove 'vim'"},
		{[]string{"/usr/sbin/apk"}, Operation{Install: &Install{Packages: []string{"curl"}}}, "apk add 'curl'"},
	} {
		g := newNetworkGuest(t, true, tc.programs...)
		g.commands[tc.want] = func(context.Context, vfs.FS) (*vfs.CommandResult, error) {
			return &vfs.CommandResult{Output: []byte("done\n")}, nil
		}
		rep, err := Apply(ctx, g, Spec{Now: testNow, Operations: []Operation{tc.op}})
		if err != nil {
			t.Errorf("%v: %v (ran %q)", tc.programs, err, g.ran)
			continue
		}
		if len(g.ran) != 1 || g.ran[0].Shell != tc.want {
			t.Errorf("%v: ran %q, want %q", tc.programs, g.ran, tc.want)
		}
		if len(rep.Changes) != 1 || rep.Changes[0].Action != ActionRun || rep.Changes[0].Run == nil || rep.Changes[0].Item.Name != tc.op.kind() {
			t.Errorf("%v: report %+v", tc.programs, rep.Changes)
		}
	}
}

// The package manager is looked for in the guest as the earlier
// operations leave it.
func TestInstallDetectsTheManagerInSpecOrder(t *testing.T) {
	ctx := context.Background()
	g := newNetworkGuest(t, true)
	g.commands["apk add 'busybox-extras'"] = func(context.Context, vfs.FS) (*vfs.CommandResult, error) { return &vfs.CommandResult{}, nil }
	_, err := Apply(ctx, g, Spec{Now: testNow, Operations: []Operation{
		{Mkdir: &Mkdir{Path: "/sbin"}},
		{Write: &Write{Path: "/sbin/apk", Content: []byte("\x7fELF")}},
		{Install: &Install{Packages: []string{"busybox-extras"}}},
	}})
	if err != nil || len(g.ran) != 1 {
		t.Fatalf("Apply: %v, ran %q", err, g.ran)
	}
}

func TestInstallRefused(t *testing.T) {
	install := func(pkgs ...string) Spec {
		return Spec{Now: testNow, Operations: []Operation{{Install: &Install{Packages: pkgs}}}}
	}
	t.Run("without the package network", func(t *testing.T) {
		g := newNetworkGuest(t, false, "/usr/bin/apt-get")
		ie := wantPlanErr(t, g, install("thepkg"), ErrUnsupported)
		if !strings.Contains(ie.Error(), "package network") {
			t.Errorf("error %q does not name the package network", ie)
		}
		if len(g.ran) != 0 {
			t.Errorf("ran %q", g.ran)
		}
	})
	t.Run("command backend without a network", func(t *testing.T) {
		wantPlanErr(t, newCommandGuest(t), install("thepkg"), ErrUnsupported)
	})
	t.Run("host backend", func(t *testing.T) {
		wantPlanErr(t, memfs.New(), install("thepkg"), ErrUnsupported)
	})
	t.Run("no package manager", func(t *testing.T) {
		wantPlanErr(t, newNetworkGuest(t, true), install("thepkg"), vfs.ErrCannotRun)
	})
	t.Run("directory where the program is", func(t *testing.T) {
		g := newNetworkGuest(t, true)
		if err := g.MkdirAll(context.Background(), "/usr/bin/apt-get", 0o755); err != nil {
			t.Fatal(err)
		}
		wantPlanErr(t, g, install("thepkg"), vfs.ErrCannotRun)
	})
	for _, pkgs := range [][]string{nil, {""}, {"-o"}, {"--allow-unauthenticated"}, {"a;rm -rf /"}, {"a b"}, {"$(id)"}, {"a'b"},
		{strings.Repeat("a", 257)}, make([]string, MaxPackages+1)} {
		g := newNetworkGuest(t, true, "/usr/bin/apt-get")
		wantPlanErr(t, g, install(pkgs...), ErrInvalidSpec)
		wantPlanErr(t, g, Spec{Operations: []Operation{{Uninstall: &Uninstall{Packages: pkgs}}}}, ErrInvalidSpec)
	}
}

func FuzzValidPackageName(f *testing.F) {
	for _, s := range []string{"bash", "bash=5.2-15", "libc6:amd64", "-o", "a b", "a\x00", "ä"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if !validPackageName(s) {
			return
		}
		// What is accepted needs no quoting and is never an option.
		if s[0] == '-' || strings.ContainsAny(s, " \t\n'\"$`;&|<>()*?[]\\!{}#\x00") || len(s) > maxPackageNameLen {
			t.Errorf("accepted %q", s)
		}
	})
}
