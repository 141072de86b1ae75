package inject

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"strings"

	"github.com/guestinject/guestinject/vfs"
)

// Install installs Packages with the guest's package manager, as
// virt-customize --install does: apt-get, dnf, zypper or apk, whichever
// the guest has (looked for in that order, as the earlier operations leave
// the guest). It runs as a guest command (see RunCommand) and needs the
// package network: a backend that is a vfs.PackageNetworkFS with
// PackageNetwork true (the appliance opened with WithPackageNetwork);
// otherwise planning fails with ErrUnsupported before anything is written.
// The package manager uses the guest's own repository configuration,
// which must name mirrors the network allows (an earlier Write can set
// it).
type Install struct {
	Packages []string      `json:"packages"`
	Limits   CommandLimits `json:"limits,omitzero"`
}

// Uninstall removes Packages with the guest's package manager; otherwise
// as Install.
type Uninstall struct {
	Packages []string      `json:"packages"`
	Limits   CommandLimits `json:"limits,omitzero"`
}

// Bounds on one Install or Uninstall.
const (
	MaxPackages       = 1000
	maxPackageNameLen = 256
)

// packageManager is a guest package manager: the program that marks it,
// and its install and remove command lines (without the package names).
type packageManager struct {
	name, program      string
	install, uninstall string
}

// packageManagers in the order they are looked for.
var packageManagers = []packageManager{
	{"apt", "/usr/bin/apt-get",
		// One connection for every http source, one request at a time:
		// the proxy stream carries one connection at a time. The
		// guest's changed configuration files are kept.
		"DEBIAN_FRONTEND=noninteractive; export DEBIAN_FRONTEND; apt-get -q -o Acquire::Queue-Mode=access -o Acquire::http::Pipeline-Depth=0 update && " +
			"apt-get -q -y -o Acquire::Queue-Mode=access -o Acquire::http::Pipeline-Depth=0 -o Dpkg::Options::=--force-confold install",
		"DEBIAN_FRONTEND=noninteractive; export DEBIAN_FRONTEND; apt-get -q -y remove"},
	{"dnf", "/usr/bin/dnf", "dnf -y --setopt=max_parallel_downloads=1 install", "dnf -y remove"},
	{"zypper", "/usr/bin/zypper", "zypper -n install", "zypper -n remove"},
	{"apk", "/sbin/apk", "apk add", "apk del"},
	{"apk", "/usr/sbin/apk", "apk add", "apk del"},
}

// packageOp returns the packages and limits of an Install or Uninstall,
// and whether op is one.
func (op Operation) packageOp() (pkgs []string, l CommandLimits, install, ok bool) {
	switch {
	case op.Install != nil:
		return op.Install.Packages, op.Install.Limits, true, true
	case op.Uninstall != nil:
		return op.Uninstall.Packages, op.Uninstall.Limits, false, true
	}
	return nil, CommandLimits{}, false, false
}

// checkPackages refuses a package list that is empty, too long, or has a
// name that is not a package name (an option, a shell word).
func checkPackages(pkgs []string) error {
	if len(pkgs) == 0 {
		return fmt.Errorf("%w: no packages", ErrInvalidSpec)
	}
	if len(pkgs) > MaxPackages {
		return fmt.Errorf("%w: %d packages, more than %d", ErrInvalidSpec, len(pkgs), MaxPackages)
	}
	for _, p := range pkgs {
		if !validPackageName(p) {
			return fmt.Errorf("%w: %q is not a package name", ErrInvalidSpec, p)
		}
	}
	return nil
}

// validPackageName accepts the names, versions and releases package
// managers take (bash, bash=5.2-15, bash/bookworm, python3-foo.x86_64,
// libc6:amd64, name@tag): a letter or digit first, so never an option.
func validPackageName(p string) bool {
	if p == "" || len(p) > maxPackageNameLen {
		return false
	}
	for i, r := range p {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9':
		case i > 0 && strings.ContainsRune(".+_:~=@/-", r):
		default:
			return false
		}
	}
	return true
}

// planPackages adds the run of an Install or Uninstall with the package
// manager the guest has, as the earlier changes leave it; planning stops
// after it, as after any command.
func (p *planner) planPackages(ctx context.Context, item Item, op Operation) error {
	pkgs, l, install, _ := op.packageOp()
	if err := checkPackages(pkgs); err != nil {
		return itemErr(item, "", err)
	}
	var pm *packageManager
	for i := range packageManagers {
		info, err := p.fsys.Stat(ctx, packageManagers[i].program)
		if errors.Is(err, fs.ErrNotExist) || errors.Is(err, vfs.ErrNotDir) {
			continue
		}
		if err != nil {
			return itemErr(item, packageManagers[i].program, err)
		}
		if info.Mode().IsRegular() {
			pm = &packageManagers[i]
			break
		}
	}
	if pm == nil {
		return itemErrf(item, "", vfs.ErrCannotRun, "the guest has no package manager guestinject knows (apt-get, dnf, zypper, apk)")
	}
	line := pm.uninstall
	if install {
		line = pm.install
	}
	for _, pkg := range pkgs {
		line += " " + shellQuote(pkg)
	}
	return p.planCommand(ctx, item, Operation{RunCommand: &RunCommand{Command: line, Limits: l}})
}

// checkPackageOps refuses, before anything is planned, package operations
// that are not valid or that the backend cannot run for want of the
// package network.
func checkPackageOps(fsys vfs.FS, spec *Spec) error {
	nfs, ok := fsys.(vfs.PackageNetworkFS)
	network := ok && nfs.PackageNetwork()
	for i, op := range spec.Operations {
		pkgs, _, _, isPkg := op.packageOp()
		if !isPkg {
			continue
		}
		item := Item{Field: FieldOperations, Index: i, Name: op.kind()}
		if item.Name == "" {
			continue // planOperations says why
		}
		if err := checkPackages(pkgs); err != nil {
			return itemErr(item, "", err)
		}
		if !network {
			return itemErrf(item, "", ErrUnsupported,
				"installing packages needs the package network, an opt-in of the appliance (appliance.WithPackageNetwork, --package-mirror)")
		}
	}
	return nil
}
