package initramfs

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/guestinject/guestinject/internal/guestabi"
	"github.com/guestinject/guestinject/internal/testsupport/testimage"
)

// cpioEntry is one member of an archive, as the kernel would unpack it.
type cpioEntry struct {
	mode      uint32
	rdevMajor uint32
	rdevMinor uint32
	data      []byte
}

// readCPIO parses a newc archive strictly.
func readCPIO(t *testing.T, b []byte) map[string]cpioEntry {
	t.Helper()
	entries := map[string]cpioEntry{}
	for off := 0; ; {
		if len(b)-off < 110 || string(b[off:off+6]) != "070701" {
			t.Fatalf("bad header at %d", off)
		}
		field := func(i int) uint32 {
			v, err := strconv.ParseUint(string(b[off+6+8*i:off+14+8*i]), 16, 32)
			if err != nil {
				t.Fatalf("bad field %d at %d", i, off)
			}
			return uint32(v)
		}
		mode, size, rmaj, rmin, nameSize := field(1), field(6), field(9), field(10), field(11)
		name := string(b[off+110 : off+110+int(nameSize)-1])
		off = align4(off + 110 + int(nameSize))
		data := b[off : off+int(size)]
		off = align4(off + int(size))
		if name == "TRAILER!!!" {
			if off != len(b) {
				t.Fatalf("%d bytes after the trailer", len(b)-off)
			}
			return entries
		}
		if _, dup := entries[name]; dup {
			t.Fatalf("duplicate entry %s", name)
		}
		entries[name] = cpioEntry{mode: mode, rdevMajor: rmaj, rdevMinor: rmin, data: data}
	}
}

func align4(n int) int { return (n + 3) &^ 3 }

// readPayload reads app's payload with the agent's reader, checked
// against the manifest in its initramfs, and returns its files'
// content by "group path".
func readPayload(t *testing.T, app *Appliance) (guestabi.PayloadManifest, map[string]payloadContent) {
	t.Helper()
	b, err := os.ReadFile(app.Initramfs)
	if err != nil {
		t.Fatal(err)
	}
	manifestText := readCPIO(t, b)[strings.TrimPrefix(guestabi.PayloadManifestPath, "/")].data
	manifest, err := guestabi.ParsePayloadManifest(manifestText)
	if err != nil {
		t.Fatal(err)
	}
	p, err := os.ReadFile(app.Payload)
	if err != nil {
		t.Fatal(err)
	}
	if len(p)%guestabi.PayloadAlign != 0 {
		t.Errorf("payload of %d bytes is not whole blocks", len(p))
	}
	index, err := guestabi.ReadPayloadIndex(bytes.NewReader(p), int64(len(p)), manifestText)
	if err != nil {
		t.Fatal(err)
	}
	files := map[string]payloadContent{}
	for _, f := range index {
		files[f.Group+" "+f.Path] = payloadContent{mode: f.Mode, data: p[f.Offset : f.Offset+f.Size]}
	}
	return manifest, files
}

type payloadContent struct {
	mode os.FileMode
	data []byte
}

// fakeKernel writes a file with an x86 boot header carrying version.
func fakeKernel(t *testing.T, path, version string) {
	t.Helper()
	img := make([]byte, 0x400)
	copy(img[0x202:], "HdrS")
	binary.LittleEndian.PutUint16(img[0x20E:], 0x100) // string at 0x300
	copy(img[0x300:], version+" (builder@host) #1 SMP\x00")
	if err := os.WriteFile(path, img, 0o644); err != nil {
		t.Fatal(err)
	}
}

// fakeModules writes a modules directory with modules.dep and the files.
func fakeModules(t *testing.T, dir string, dep string, builtin string) {
	t.Helper()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	for line := range strings.Lines(dep) {
		file, rest, _ := strings.Cut(strings.TrimSpace(line), ":")
		for _, f := range append(strings.Fields(rest), file) {
			p := filepath.Join(dir, f)
			if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(p, []byte("module "+f), 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := os.WriteFile(filepath.Join(dir, "modules.dep"), []byte(dep), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "modules.builtin"), []byte(builtin), 0o644); err != nil {
		t.Fatal(err)
	}
}

const testDep = `kernel/drivers/virtio/virtio_ring.ko:
kernel/drivers/virtio/virtio.ko: kernel/drivers/virtio/virtio_ring.ko
kernel/drivers/virtio/virtio_pci.ko: kernel/drivers/virtio/virtio_pci_modern_dev.ko kernel/drivers/virtio/virtio.ko kernel/drivers/virtio/virtio_ring.ko
kernel/drivers/virtio/virtio_pci_modern_dev.ko:
kernel/drivers/block/virtio_blk.ko: kernel/drivers/virtio/virtio.ko kernel/drivers/virtio/virtio_ring.ko
kernel/drivers/char/virtio_console.ko: kernel/drivers/virtio/virtio.ko kernel/drivers/virtio/virtio_ring.ko
kernel/lib/libcrc32c.ko:
kernel/fs/xfs/xfs.ko: kernel/lib/libcrc32c.ko
`

// archiveModules reads the module list of the initramfs at path.
func archiveModules(t *testing.T, path string) []guestabi.Module {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	mods, err := guestabi.ParseModuleList(readCPIO(t, b)[strings.TrimPrefix(guestabi.ModuleListPath, "/")].data)
	if err != nil {
		t.Fatal(err)
	}
	return mods
}

// fakeSystem makes a /boot and /lib/modules with the given kernels, each
// with modules unless its version is listed in noModules.
func fakeSystem(t *testing.T, versions []string, noModules ...string) Config {
	t.Helper()
	root := t.TempDir()
	cfg := Config{bootDir: filepath.Join(root, "boot"), modulesRoot: filepath.Join(root, "lib/modules"), CacheDir: filepath.Join(root, "cache")}
	if err := os.MkdirAll(cfg.bootDir, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, v := range versions {
		fakeKernel(t, filepath.Join(cfg.bootDir, "vmlinuz-"+v), v)
		if !slices.Contains(noModules, v) {
			fakeModules(t, filepath.Join(cfg.modulesRoot, v), testDep, "kernel/fs/ext4/ext4.ko\n")
		}
	}
	agent := filepath.Join(root, "agent")
	if err := os.WriteFile(agent, []byte("\x7fELF agent"), 0o755); err != nil {
		t.Fatal(err)
	}
	cfg.Agent = agent
	noLVM := "" // the archive should not depend on the host's lvm2
	cfg.lvmTool = &noLVM
	return cfg
}

func TestKernelSelection(t *testing.T) {
	t.Setenv(KernelEnv, "")
	cfg := fakeSystem(t, []string{"6.1.0-9-amd64", "6.10.2-1-amd64", "6.9.0-3-amd64", "7.0.0-1-amd64"}, "7.0.0-1-amd64")
	app, err := Build(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	if app.KernelVersion != "6.10.2-1-amd64" || filepath.Base(app.Kernel) != "vmlinuz-6.10.2-1-amd64" {
		t.Errorf("chose %s (%s), want the newest with modules, 6.10.2-1-amd64", app.Kernel, app.KernelVersion)
	}

	// An explicit kernel named after nothing: the version comes from its header.
	explicit := filepath.Join(t.TempDir(), "bzImage")
	fakeKernel(t, explicit, "6.1.0-9-amd64")
	t.Setenv(KernelEnv, explicit)
	app, err = Build(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	if app.Kernel != explicit || app.KernelVersion != "6.1.0-9-amd64" {
		t.Errorf("with %s set: chose %s (%s)", KernelEnv, app.Kernel, app.KernelVersion)
	}
}

func TestOwnKernelSelection(t *testing.T) {
	t.Setenv(KernelEnv, "")
	cfg := fakeSystem(t, []string{"6.10.2-1-amd64"})
	own := filepath.Join(cfg.CacheDir, OwnKernelDir)
	ownKernel := filepath.Join(own, "boot", "vmlinuz-6.1.192-guestinject")
	if err := os.MkdirAll(filepath.Dir(ownKernel), 0o755); err != nil {
		t.Fatal(err)
	}
	fakeKernel(t, ownKernel, "6.1.192-guestinject")

	// Without its modules directory the own kernel is not usable.
	app, err := Build(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	if app.OwnKernel || app.KernelVersion != "6.10.2-1-amd64" {
		t.Errorf("own kernel without modules: chose %s (own %v), want the host's", app.Kernel, app.OwnKernel)
	}

	// With it, it wins over a newer host kernel; its built-in modules
	// leave nothing to load.
	fakeModules(t, filepath.Join(own, "lib", "modules", "6.1.192-guestinject"), "",
		"kernel/drivers/virtio/virtio_pci.ko\nkernel/drivers/block/virtio_blk.ko\nkernel/drivers/char/virtio_console.ko\nkernel/fs/ext4/ext4.ko\nkernel/fs/xfs/xfs.ko\n")
	app, err = Build(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	if !app.OwnKernel || app.Kernel != ownKernel {
		t.Errorf("chose %s (own %v), want %s", app.Kernel, app.OwnKernel, ownKernel)
	}
	if mods := archiveModules(t, app.Initramfs); len(mods) != 0 {
		t.Errorf("modules to load with everything built in: %v", mods)
	}

	// The same kernel named explicitly finds the modules beside it.
	t.Setenv(KernelEnv, ownKernel)
	app, err = Build(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	if app.Kernel != ownKernel || app.OwnKernel {
		t.Errorf("with %s set: chose %s (own %v)", KernelEnv, app.Kernel, app.OwnKernel)
	}

	// An explicit host kernel still wins over the own one.
	t.Setenv(KernelEnv, filepath.Join(cfg.bootDir, "vmlinuz-6.10.2-1-amd64"))
	if app, err = Build(context.Background(), cfg); err != nil || app.OwnKernel || app.KernelVersion != "6.10.2-1-amd64" {
		t.Errorf("explicit host kernel: %+v, %v", app, err)
	}
}

func TestNoUsableKernel(t *testing.T) {
	t.Setenv(KernelEnv, "")
	cfg := fakeSystem(t, []string{"6.1.0-9-amd64"}, "6.1.0-9-amd64")
	_, err := Build(context.Background(), cfg)
	if err == nil || !strings.Contains(err.Error(), ErrNoKernel.Error()) || !strings.Contains(err.Error(), "no modules") {
		t.Errorf("Build = %v, want ErrNoKernel saying why", err)
	}
	notKernel := filepath.Join(t.TempDir(), "vmlinuz-1.0")
	if err := os.WriteFile(notKernel, make([]byte, 4096), 0o644); err != nil {
		t.Fatal(err)
	}
	cfg.Kernel = notKernel
	if _, err := Build(context.Background(), cfg); err == nil || !strings.Contains(err.Error(), "not an x86 bzImage") {
		t.Errorf("Build(non-kernel) = %v", err)
	}
}

func TestUnreadableKernel(t *testing.T) {
	if os.Geteuid() == 0 {
		t.Skip("root reads mode 0600 files of any owner")
	}
	cfg := fakeSystem(t, []string{"6.1.0-9-amd64"})
	k := filepath.Join(cfg.bootDir, "vmlinuz-6.1.0-9-amd64")
	if err := os.Chmod(k, 0); err != nil {
		t.Fatal(err)
	}
	cfg.Kernel = k
	if _, err := Build(context.Background(), cfg); err == nil || !strings.Contains(err.Error(), "not readable") {
		t.Errorf("Build = %v, want a not-readable error", err)
	}
}

func TestArchiveContents(t *testing.T) {
	t.Setenv(KernelEnv, "")
	cfg := fakeSystem(t, []string{"6.1.0-9-amd64"})
	app, err := Build(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(app.Initramfs)
	if err != nil {
		t.Fatal(err)
	}
	files := readCPIO(t, b)
	if e := files["init"]; string(e.data) != "\x7fELF agent" || e.mode != cpioReg|0o755 {
		t.Errorf("init = %+v", e)
	}
	if e := files["dev/console"]; e.mode != cpioChar|0o600 || e.rdevMajor != 5 || e.rdevMinor != 1 {
		t.Errorf("dev/console = %+v", e)
	}
	mods, err := guestabi.ParseModuleList(files[strings.TrimPrefix(guestabi.ModuleListPath, "/")].data)
	if err != nil {
		t.Fatal(err)
	}
	manifest, payload := readPayload(t, app)
	if !slices.Equal(manifest.Groups, []string{"xfs"}) {
		t.Errorf("payload groups %v, want [xfs]", manifest.Groups)
	}
	var got []string
	for _, m := range mods {
		got = append(got, m.Group+" "+filepath.Base(m.Path))
		_, inInitramfs := files[strings.TrimPrefix(m.Path, "/")]
		inPayload := payload[m.Group+" "+m.Path]
		switch {
		case m.Group == guestabi.CoreGroup && (!inInitramfs || inPayload.data != nil):
			t.Errorf("core module %s: in the initramfs %v, in the payload %v; want only the initramfs", m.Path, inInitramfs, inPayload.data != nil)
		case m.Group != guestabi.CoreGroup && (inInitramfs || string(inPayload.data) != "module kernel/"+map[string]string{"xfs.ko": "fs/xfs/xfs.ko", "libcrc32c.ko": "lib/libcrc32c.ko"}[filepath.Base(m.Path)]):
			t.Errorf("module %s of %s: in the initramfs %v, in the payload %q; want only the payload", m.Path, m.Group, inInitramfs, inPayload.data)
		}
	}
	if len(payload) != 2 {
		t.Errorf("payload holds %d files, want xfs and libcrc32c", len(payload))
	}
	want := []string{
		"core virtio_pci_modern_dev.ko", "core virtio_ring.ko", "core virtio.ko", "core virtio_pci.ko",
		"core virtio_blk.ko", "core virtio_console.ko",
		"xfs libcrc32c.ko", "xfs xfs.ko",
	}
	if !slices.Equal(got, want) {
		t.Errorf("module list:\n%s\nwant (dependencies first, ext4 built in, no btrfs):\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}

	// Cached: the same inputs give the same file, untouched.
	st, _ := os.Stat(app.Initramfs)
	again, err := Build(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	st2, _ := os.Stat(again.Initramfs)
	if again.Initramfs != app.Initramfs || !st2.ModTime().Equal(st.ModTime()) || again.Payload != app.Payload {
		t.Error("identical inputs rebuilt the archive")
	}
	// A lost payload is built again.
	if err := os.Remove(app.Payload); err != nil {
		t.Fatal(err)
	}
	if _, err := Build(context.Background(), cfg); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(app.Payload); err != nil {
		t.Errorf("payload not rebuilt: %v", err)
	}
	// A different agent is a different archive.
	if err := os.WriteFile(cfg.Agent, []byte("\x7fELF agent v2"), 0o755); err != nil {
		t.Fatal(err)
	}
	changed, err := Build(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	if changed.Initramfs == app.Initramfs || changed.Payload == app.Payload {
		t.Error("a new agent reused the old archive")
	}
}

func TestConcurrentBuilds(t *testing.T) {
	t.Setenv(KernelEnv, "")
	cfg := fakeSystem(t, []string{"6.1.0-9-amd64"})
	var wg sync.WaitGroup
	results := make([]string, 6)
	errs := make([]error, 6)
	for i := range results {
		wg.Go(func() {
			app, err := Build(context.Background(), cfg)
			errs[i] = err
			if err == nil {
				results[i] = app.Initramfs
			}
		})
	}
	wg.Wait()
	for i := range results {
		if errs[i] != nil {
			t.Fatal(errs[i])
		}
		if results[i] != results[0] {
			t.Errorf("build %d: %s, build 0: %s", i, results[i], results[0])
		}
	}
	b, err := os.ReadFile(results[0])
	if err != nil {
		t.Fatal(err)
	}
	readCPIO(t, b)
	leftovers, _ := filepath.Glob(filepath.Join(cfg.CacheDir, ".tmp-*"))
	if len(leftovers) > 0 {
		t.Errorf("temporary files left: %v", leftovers)
	}
}

func TestMissingCoreModule(t *testing.T) {
	t.Setenv(KernelEnv, "")
	cfg := fakeSystem(t, []string{"6.1.0-9-amd64"})
	dir := filepath.Join(cfg.modulesRoot, "6.1.0-9-amd64")
	dep := strings.ReplaceAll(testDep, "kernel/drivers/char/virtio_console.ko: kernel/drivers/virtio/virtio.ko kernel/drivers/virtio/virtio_ring.ko\n", "")
	fakeModules(t, dir, dep, "")
	_, err := Build(context.Background(), cfg)
	if err == nil || !strings.Contains(err.Error(), "virtio_console") {
		t.Errorf("Build = %v, want an error naming virtio_console", err)
	}
}

// The real kernel of this machine, when there is one, must give a
// complete archive.
func TestBuildWithInstalledKernel(t *testing.T) {
	kernels, _ := filepath.Glob("/boot/vmlinuz-*")
	if len(kernels) == 0 {
		testimage.Need(t, "a kernel in /boot")
	}
	agent := filepath.Join(t.TempDir(), "agent")
	if err := os.WriteFile(agent, []byte("agent"), 0o755); err != nil {
		t.Fatal(err)
	}
	app, err := Build(context.Background(), Config{Agent: agent, CacheDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(app.Initramfs)
	if err != nil {
		t.Fatal(err)
	}
	files := readCPIO(t, b)
	mods, err := guestabi.ParseModuleList(files[strings.TrimPrefix(guestabi.ModuleListPath, "/")].data)
	if err != nil {
		t.Fatal(err)
	}
	groups := map[string]int{}
	for _, m := range mods {
		groups[m.Group]++
	}
	if groups[guestabi.CoreGroup] == 0 {
		t.Errorf("no core modules for %s: %v", app.KernelVersion, groups)
	}
	t.Logf("%s: %d bytes, module groups %v", app.KernelVersion, len(b), groups)
}

func TestCPIOPadding(t *testing.T) {
	var b bytes.Buffer
	w := &cpioWriter{w: &b}
	for i := range 5 {
		w.file(fmt.Sprintf("f%s", strings.Repeat("x", i)), 0o644, bytes.Repeat([]byte{'d'}, i))
	}
	if err := w.close(); err != nil {
		t.Fatal(err)
	}
	files := readCPIO(t, b.Bytes())
	if len(files) != 5 || string(files["fxxx"].data) != "ddd" {
		t.Errorf("round trip: %v", files)
	}
	bad := &cpioWriter{w: &b}
	bad.file("/abs", 0o644, nil)
	if err := bad.close(); err == nil {
		t.Error("absolute archive name accepted")
	}
}

func TestExtraModules(t *testing.T) {
	t.Setenv(KernelEnv, "")
	cfg := fakeSystem(t, []string{"6.1.0-9-amd64"})
	plain, err := Build(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	cfg.ExtraModules = []ModuleGroup{{Group: "probe", Modules: []string{"virtio_blk", "ext4"}}}
	app, err := Build(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	if app.Initramfs == plain.Initramfs {
		t.Error("extra modules reused the archive without them")
	}
	mods := archiveModules(t, app.Initramfs)
	var got []string
	for _, m := range mods {
		if m.Group == "probe" {
			got = append(got, filepath.Base(m.Path))
		}
	}
	// Dependencies first; ext4 is built in, so nothing to load for it.
	if want := []string{"virtio_ring.ko", "virtio.ko", "virtio_blk.ko"}; !slices.Equal(got, want) {
		t.Errorf("probe group = %v, want %v", got, want)
	}

	cfg.ExtraModules = []ModuleGroup{{Group: "probe", Modules: []string{"virtio_scsi"}}}
	if _, err := Build(context.Background(), cfg); err == nil || !strings.Contains(err.Error(), "virtio_scsi") {
		t.Errorf("Build with a module the kernel lacks = %v, want an error naming it", err)
	}
}
