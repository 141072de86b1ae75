package initramfs

import (
	"context"
	"debug/elf"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/guestinject/guestinject/internal/guestabi"
	"github.com/guestinject/guestinject/internal/testsupport/testimage"
)

// hostLVM returns the host's lvm binary, skipping (or failing under
// GUESTINJECT_E2E=1) without one.
func hostLVM(t *testing.T) string {
	t.Helper()
	tool := findLVMTool()
	if tool == "" {
		testimage.Need(t, "lvm (lvm2)")
	}
	return tool
}

// lddLibraries is what ldd(1) says bin needs, by name: the independent
// account the ELF walk is checked against.
func lddLibraries(t *testing.T, bin string) (libs []string, interp string) {
	t.Helper()
	out, err := exec.Command("ldd", bin).Output()
	if err != nil {
		t.Skipf("ldd %s: %v", bin, err)
	}
	for line := range strings.Lines(string(out)) {
		f := strings.Fields(line)
		switch {
		case len(f) >= 3 && f[1] == "=>":
			libs = append(libs, f[0])
		case len(f) >= 1 && path.IsAbs(f[0]):
			interp = f[0]
		}
	}
	slices.Sort(libs)
	return libs, interp
}

func TestELFClosureMatchesLdd(t *testing.T) {
	for _, bin := range []string{findLVMTool(), "/bin/ls"} {
		if bin == "" {
			continue
		}
		t.Run(filepath.Base(bin), func(t *testing.T) {
			files, err := elfClosure(bin, "/x/bin", "/x/lib", nil)
			if err != nil {
				t.Fatal(err)
			}
			wantLibs, wantInterp := lddLibraries(t, bin)
			if files[0].archive != "/x/bin" || files[0].host != bin {
				t.Errorf("first file = %+v, want the binary", files[0])
			}
			var libs []string
			var interp string
			for _, f := range files[1:] {
				if strings.HasPrefix(f.archive, "/x/lib/") {
					libs = append(libs, path.Base(f.archive))
					if fi, err := os.Stat(f.host); err != nil || !fi.Mode().IsRegular() {
						t.Errorf("%s: %v", f.host, err)
					}
				} else {
					interp = f.archive
				}
			}
			slices.Sort(libs)
			if !slices.Equal(libs, wantLibs) || interp != wantInterp {
				t.Errorf("closure of %s:\n%v interpreter %s\nldd says:\n%v interpreter %s", bin, libs, interp, wantLibs, wantInterp)
			}
		})
	}
}

func TestELFClosureRefuses(t *testing.T) {
	dir := t.TempDir()
	notELF := filepath.Join(dir, "script")
	if err := os.WriteFile(notELF, []byte("#!/bin/sh\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	if _, err := elfClosure(notELF, "/x/bin", "/x/lib", nil); err == nil {
		t.Error("a script was accepted as a binary")
	}
	// Libraries missing from the search path are an error, not a
	// silently incomplete payload.
	if _, err := elfClosure("/bin/ls", "/x/bin", "/x/lib", []string{dir}); err == nil || !strings.Contains(err.Error(), "not found") {
		t.Errorf("closure with no library directory: %v", err)
	}
}

func TestLibraryDirsKnowThisMachine(t *testing.T) {
	f, err := elf.Open("/bin/ls")
	if err != nil {
		t.Skip(err)
	}
	defer f.Close()
	if multiarchTriplet(f.Machine) == "" {
		t.Errorf("no multiarch directory for %v", f.Machine)
	}
}

// lvmSystem is fakeSystem with dm-mod among the kernel's modules and
// tool as the host's lvm.
func lvmSystem(t *testing.T, tool string) Config {
	t.Helper()
	t.Setenv(KernelEnv, "")
	cfg := fakeSystem(t, []string{"6.1.0-9-amd64"})
	fakeModules(t, filepath.Join(cfg.modulesRoot, "6.1.0-9-amd64"), testDep+"kernel/drivers/md/dm-mod.ko:\n", "")
	cfg.lvmTool = &tool
	return cfg
}

func TestArchiveWithLVM(t *testing.T) {
	tool := filepath.Join(t.TempDir(), "lvm")
	data, err := os.ReadFile(hostLVM(t))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(tool, data, 0o755); err != nil {
		t.Fatal(err)
	}
	cfg := lvmSystem(t, tool)
	app, err := Build(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(app.Initramfs)
	if err != nil {
		t.Fatal(err)
	}
	files := readCPIO(t, b)
	for name := range files {
		if strings.HasPrefix(name, "lvm") || strings.HasPrefix(name, "lib64") {
			t.Errorf("initramfs holds %s: the LVM tools belong in the payload", name)
		}
	}
	manifest, payload := readPayload(t, app)
	if !manifest.Has(guestabi.LVMGroup) || !manifest.Has(guestabi.DMGroup) {
		t.Errorf("payload groups %v lack %s or %s", manifest.Groups, guestabi.LVMGroup, guestabi.DMGroup)
	}
	lvmFile := func(p string) payloadContent { return payload[guestabi.LVMGroup+" "+p] }
	if e := lvmFile(guestabi.LVMBinary); string(e.data) != string(data) || e.mode != 0o755 {
		t.Errorf("%s: %d bytes mode %o, want the host's lvm", guestabi.LVMBinary, len(e.data), e.mode)
	}
	wantLibs, interp := lddLibraries(t, tool)
	for _, lib := range wantLibs {
		if e := lvmFile(path.Join(guestabi.LVMLibDir, lib)); len(e.data) == 0 {
			t.Errorf("payload lacks %s", lib)
		}
	}
	if e := lvmFile(interp); e.mode != 0o755 || len(e.data) == 0 {
		t.Errorf("payload lacks the loader %s", interp)
	}
	mods, err := guestabi.ParseModuleList(files[strings.TrimPrefix(guestabi.ModuleListPath, "/")].data)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Contains(mods, guestabi.Module{Group: guestabi.DMGroup, Path: "/lib/modules/dm-mod.ko"}) {
		t.Errorf("module list has no dm-mod in group %s: %v", guestabi.DMGroup, mods)
	}
	if e := payload[guestabi.DMGroup+" /lib/modules/dm-mod.ko"]; len(e.data) == 0 {
		t.Error("payload lacks dm-mod")
	}
	size := 0
	for name, e := range payload {
		if strings.HasPrefix(name, guestabi.LVMGroup+" ") {
			size += len(e.data)
		}
	}
	t.Logf("LVM tools: %d files, %d bytes, in a payload; initramfs of %d bytes", len(wantLibs)+2, size, len(b))

	// A changed lvm binary is a different archive.
	if err := os.WriteFile(tool, append(data, 0), 0o755); err != nil {
		t.Fatal(err)
	}
	changed, err := Build(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	if changed.Initramfs == app.Initramfs {
		t.Error("a changed lvm binary reused the old archive")
	}
}

func TestArchiveWithoutLVM(t *testing.T) {
	cfg := lvmSystem(t, "")
	app, err := Build(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(app.Initramfs)
	if err != nil {
		t.Fatal(err)
	}
	files := readCPIO(t, b)
	for name := range files {
		if strings.HasPrefix(name, "lvm") {
			t.Errorf("archive holds %s without LVM tools", name)
		}
	}
	manifest, payload := readPayload(t, app)
	if manifest.Has(guestabi.LVMGroup) || manifest.Has(guestabi.DMGroup) {
		t.Errorf("payload groups %v without LVM tools", manifest.Groups)
	}
	for name := range payload {
		if strings.HasPrefix(name, guestabi.LVMGroup+" ") || strings.HasPrefix(name, guestabi.DMGroup+" ") {
			t.Errorf("payload holds %s without LVM tools", name)
		}
	}
	mods, err := guestabi.ParseModuleList(files[strings.TrimPrefix(guestabi.ModuleListPath, "/")].data)
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range mods {
		if m.Group == guestabi.DMGroup {
			t.Errorf("device-mapper module %s without LVM tools", m.Path)
		}
	}
	// The same kernel and agent with LVM tools are another archive.
	tool := hostLVM(t)
	cfg.lvmTool = &tool
	with, err := Build(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	if with.Initramfs == app.Initramfs {
		t.Error("adding the LVM tools reused the archive without them")
	}
}
