package initramfs

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"log/slog"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/guestinject/guestinject/internal/cachefile"
	"github.com/guestinject/guestinject/internal/guestabi"
)

// AgentEnv names the environment variable that points at a prebuilt agent
// binary when no explicit one is given.
const AgentEnv = "GUESTINJECT_AGENT"

// ModulePath is the module the agent is built from.
const ModulePath = "github.com/guestinject/guestinject"

// AgentPackage is the agent's main package.
const AgentPackage = ModulePath + "/internal/agent/cmd/guestinject-agent"

// formatVersion changes whenever the archive layout changes, so stale
// cache entries are never used.
const formatVersion = "2"

// Config says which kernel and agent to use and where to cache.
// The zero value chooses everything itself.
type Config struct {
	// Kernel is the kernel image; "" means $GUESTINJECT_KERNEL, then the
	// appliance's own kernel in the cache (OwnKernelDir), then the newest
	// /boot/vmlinuz-* with modules under /lib/modules.
	Kernel string
	// Agent is a prebuilt static agent binary; "" means $GUESTINJECT_AGENT,
	// then building AgentPackage from the module's source with the go
	// command (see the package documentation).
	Agent string
	// CacheDir holds built agents and archives; "" means
	// os.UserCacheDir()/guestinject.
	CacheDir string
	// Logger receives progress at debug level; nil logs nothing.
	Logger *slog.Logger
	// WithoutLVM leaves the LVM payload out even when the host has lvm2,
	// so tests can see what a guest on LVM looks like to an appliance
	// built without it.
	WithoutLVM bool
	// ExtraModules are more module groups to include in the initramfs
	// itself (not the payload), each module with its dependencies, for
	// the VMs of tests that need drivers the appliance does not (the
	// hot-plug bus harness's virtio_scsi). A module the kernel has
	// neither built in nor loadable is an error.
	ExtraModules []ModuleGroup

	// bootDir and modulesRoot are /boot and /lib/modules; tests change them.
	bootDir, modulesRoot string
	// lvmTool, when set, replaces the search for the host's lvm binary;
	// tests point it at a file, or at "" for a host without one.
	lvmTool *string
}

// Appliance is what the VM boots.
type Appliance struct {
	Kernel        string // kernel image path
	KernelVersion string
	OwnKernel     bool // Kernel is the appliance's own (see OwnKernelDir)
	// KernelELF is an uncompressed copy of Kernel in the cache that boots
	// through its PVH entry point, skipping the decompression and real-mode
	// setup that cost a large part of a TCG boot; "" when the kernel lacks
	// CONFIG_PVH or uses a compression this package does not decode.
	KernelELF string
	Initramfs string // archive path in the cache
	// Payload is the read-only disk image in the cache that holds what
	// the agent loads on demand (see guestabi.PayloadSerial): the module
	// groups other than guestabi.CoreGroup and the LVM tools.
	Payload string
}

// Build returns the kernel, an initramfs for it holding the agent as
// /init and the core kernel modules, and the payload disk with the rest
// of what the appliance may need, building both into the cache unless
// identical ones are there.
func Build(ctx context.Context, cfg Config) (*Appliance, error) {
	if cfg.bootDir == "" {
		cfg.bootDir = "/boot"
	}
	if cfg.modulesRoot == "" {
		cfg.modulesRoot = "/lib/modules"
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	cache, err := cacheDir(cfg.CacheDir)
	if err != nil {
		return nil, err
	}
	k, err := findKernel(cfg.Kernel, cache, cfg.bootDir, cfg.modulesRoot)
	if err != nil {
		return nil, err
	}
	km, err := readKernelModules(k.ModulesDir)
	if err != nil {
		return nil, err
	}
	lvmTool := findLVMTool()
	if cfg.lvmTool != nil {
		lvmTool = *cfg.lvmTool
	}
	if cfg.WithoutLVM {
		lvmTool = ""
	}
	lvmFiles, lvmKey, err := lvmPayload(lvmTool)
	if err != nil {
		// Not fatal: images without LVM do not need it, and the agent
		// says so when an image does.
		log.Warn("initramfs: leaving the LVM tools out", "reason", err)
		lvmFiles, lvmKey = nil, nil
	}
	groups := moduleGroups
	if lvmFiles != nil {
		groups = append(slices.Clone(groups), moduleGroup{group: guestabi.DMGroup, modules: dmModules})
	}
	// The groups the initramfs carries; the payload has the others. A
	// test VM's extra groups stay in the archive: it has no payload disk.
	inInitramfs := map[string]bool{guestabi.CoreGroup: true}
	for _, g := range cfg.ExtraModules {
		groups = append(slices.Clone(groups), moduleGroup{group: g.Group, modules: g.Modules, required: true})
		inInitramfs[g.Group] = true
	}
	mods, copies, err := km.plan(groups)
	if err != nil {
		return nil, err
	}
	unlock, err := lock(ctx, filepath.Join(cache, "lock"))
	if err != nil {
		return nil, err
	}
	defer unlock()

	agentPath := cfg.Agent
	if agentPath == "" {
		agentPath = os.Getenv(AgentEnv)
	}
	if agentPath == "" {
		start := time.Now()
		if agentPath, err = buildAgent(ctx, cache); err != nil {
			return nil, err
		}
		log.Debug("agent built", "path", agentPath, "took", time.Since(start))
	}
	agent, err := os.ReadFile(agentPath)
	if err != nil {
		return nil, fmt.Errorf("initramfs: agent: %w", err)
	}

	key := sha256.New()
	fmt.Fprintf(key, "format %s\nkernel %s\n", formatVersion, k.Version)
	key.Write(guestabi.FormatModuleList(mods))
	archives := slices.Sorted(maps.Keys(copies))
	for _, a := range archives {
		fi, err := os.Stat(copies[a])
		if err != nil {
			return nil, fmt.Errorf("initramfs: module: %w", err)
		}
		fmt.Fprintf(key, "%s %d %d\n", copies[a], fi.Size(), fi.ModTime().UnixNano())
	}
	agentSum := sha256.Sum256(agent)
	key.Write(agentSum[:])
	fmt.Fprintf(key, "lvm %x\n", lvmKey)
	id := hex.EncodeToString(key.Sum(nil))[:20]
	out := filepath.Join(cache, fmt.Sprintf("initramfs-%s-%s.cpio", k.Version, id))
	payloadOut := filepath.Join(cache, fmt.Sprintf("payload-%s-%s.img", k.Version, id))
	app := &Appliance{Kernel: k.Path, KernelVersion: k.Version, OwnKernel: k.Own, Initramfs: out, Payload: payloadOut}
	if app.KernelELF, err = extractELF(k, cache); err != nil {
		// Not fatal: the bzImage boots too, only slower.
		log.Debug("booting the compressed kernel", "reason", err)
		app.KernelELF = ""
	}
	_, errInitramfs := os.Stat(out)
	_, errPayload := os.Stat(payloadOut)
	if errInitramfs == nil && errPayload == nil {
		return app, nil
	}

	start := time.Now()
	onDemand, manifest := payloadPlan(mods, copies, lvmFiles, k.Version+"-"+id, inInitramfs)
	payload, err := buildPayload(manifest, onDemand)
	if err != nil {
		return nil, err
	}
	var buf bytes.Buffer
	cw := &cpioWriter{w: &buf}
	dirs := map[string]bool{}
	mkdir := func(d string) {
		if !dirs[d] {
			dirs[d] = true
			cw.dir(d)
		}
	}
	for _, d := range []string{"dev", "proc", "sys", "sysroot", "etc", "etc/guestinject", "lib", "lib/modules"} {
		mkdir(d)
	}
	cw.charDev("dev/console", 0o600, 5, 1) // so the kernel gives /init a console
	cw.file("init", 0o755, agent)
	cw.file(strings.TrimPrefix(guestabi.ModuleListPath, "/"), 0o644, guestabi.FormatModuleList(mods))
	cw.file(strings.TrimPrefix(guestabi.PayloadManifestPath, "/"), 0o644, manifest.Format())
	written := map[string]bool{} // a module two groups share goes in once
	for _, m := range mods {
		if !inInitramfs[m.Group] || written[m.Path] {
			continue
		}
		written[m.Path] = true
		data, err := os.ReadFile(copies[m.Path])
		if err != nil {
			return nil, fmt.Errorf("initramfs: module: %w", err)
		}
		cw.file(strings.TrimPrefix(m.Path, "/"), 0o644, data)
	}
	if err := cw.close(); err != nil {
		return nil, err
	}
	// The payload first: an initramfs in the cache means both are there.
	if err := writeAtomic(payloadOut, payload); err != nil {
		return nil, err
	}
	if err := writeAtomic(out, buf.Bytes()); err != nil {
		return nil, err
	}
	log.Debug("initramfs built", "path", out, "bytes", buf.Len(), "payload", payloadOut, "payload-bytes", len(payload), "took", time.Since(start))
	return app, nil
}

func cacheDir(dir string) (string, error) {
	dir, err := cachefile.Dir(dir)
	if err != nil {
		return "", fmt.Errorf("initramfs: %w", err)
	}
	return dir, nil
}

func lock(ctx context.Context, path string) (unlock func(), err error) {
	unlock, err = cachefile.Lock(ctx, path)
	if err != nil {
		return nil, fmt.Errorf("initramfs: %w", err)
	}
	return unlock, nil
}

func writeAtomic(path string, data []byte) error {
	if err := cachefile.WriteAtomic(path, data, 0o644); err != nil {
		return fmt.Errorf("initramfs: %w", err)
	}
	return nil
}

// built remembers agents this process has built, by source directory:
// the source of a running program does not change under it often enough
// to pay for a go build on every session.
var built sync.Map // cache dir NUL source dir -> agent path

// buildAgent builds the agent from the module source with the go command
// into the cache and returns its path. The caller holds the cache lock.
func buildAgent(ctx context.Context, cache string) (string, error) {
	src, err := moduleSource(ctx)
	if err != nil {
		return "", err
	}
	// Remembered per cache, and only while the cache still holds it.
	memo := cache + "\x00" + src
	if p, ok := built.Load(memo); ok {
		if _, err := os.Stat(p.(string)); err == nil {
			return p.(string), nil
		}
	}
	sum := sha256.Sum256([]byte(src))
	out := filepath.Join(cache, "agent-"+hex.EncodeToString(sum[:8]), "guestinject-agent")
	if err := os.MkdirAll(filepath.Dir(out), 0o700); err != nil {
		return "", fmt.Errorf("initramfs: %w", err)
	}
	cmd := exec.CommandContext(ctx, goTool(), "build", "-trimpath", "-ldflags=-s -w", "-o", out, AgentPackage)
	cmd.Dir = src
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux", "GOARCH="+runtime.GOARCH)
	if output, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("initramfs: building the agent (%s) in %s: %w\n%s", AgentPackage, src, err, bytes.TrimSpace(output))
	}
	built.Store(memo, out)
	return out, nil
}

// goTool is the go command from PATH (go test and go run put their own
// first).
func goTool() string { return "go" }

// moduleSource finds the source of this module: next to this file when
// running from a source tree (tests, a checkout), else in the module cache
// through the go command, as the module a program depends on.
func moduleSource(ctx context.Context) (string, error) {
	if _, file, _, ok := runtime.Caller(0); ok && filepath.IsAbs(file) {
		dir := filepath.Join(filepath.Dir(file), "..", "..")
		if gomod, err := os.ReadFile(filepath.Join(dir, "go.mod")); err == nil && isModule(gomod) {
			return filepath.Clean(dir), nil
		}
	}
	cmd := exec.CommandContext(ctx, goTool(), "list", "-m", "-f", "{{.Dir}}", ModulePath)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	dir := strings.TrimSpace(string(out))
	if err != nil || dir == "" {
		return "", fmt.Errorf("initramfs: cannot find the source of %s to build the agent (run from a module that requires it, "+
			"or set %s to a prebuilt agent): %v %s", ModulePath, AgentEnv, err, bytes.TrimSpace(stderr.Bytes()))
	}
	return dir, nil
}

func isModule(gomod []byte) bool {
	for line := range strings.Lines(string(gomod)) {
		if f := strings.Fields(line); len(f) == 2 && f[0] == "module" {
			return f[1] == ModulePath
		}
	}
	return false
}
