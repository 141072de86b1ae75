package inject

import (
	"bytes"
	"context"
	"fmt"
	"io/fs"
	"regexp"
	"slices"
	"strings"

	"github.com/guestinject/guestinject/vfs"
)

// Reset turns a guest into a template that can be cloned, as virt-sysprep
// does: it removes what makes one installed machine distinct (its
// machine ID, SSH host keys, DHCP leases, logs, shell histories...). Each
// operation is planned like the rest of the Spec and reported change by
// change.
type Reset struct {
	// Operations names the operations to run, by the names ResetOperations
	// lists (virt-sysprep's, where it has the operation). Nil or empty
	// means those ResetOperations marks Default. They run in the order
	// ResetOperations lists, whatever the order given.
	Operations []string `json:"operations,omitempty"`
	// MaxEntries bounds the directory entries the reset reads, all
	// operations together, since the guest decides how big /tmp or
	// /var/log is; 0 means DefaultResetEntries. A guest over the bound
	// fails the plan with vfs.ErrTooLarge and nothing is changed: raise
	// the bound or leave the operation out.
	MaxEntries int `json:"max_entries,omitempty"`
}

// DefaultResetEntries is the bound on the directory entries one Reset
// reads when it names none; MaxResetEntries bounds what it may name.
const (
	DefaultResetEntries = 20000
	MaxResetEntries     = 1 << 20
)

// ResetOperation describes one operation of a Reset.
type ResetOperation struct {
	// Name is what Reset.Operations and the command line call it.
	Name string `json:"name"`
	// Description says in one line what it changes.
	Description string `json:"description"`
	// Default is set for the operations a Reset without Operations runs.
	Default bool `json:"default"`
}

type resetOp struct {
	ResetOperation
	plan func(r *resetter, ctx context.Context) error
}

// resetOps is the table of operations, in the order they run.
var resetOps = []resetOp{
	{ResetOperation{"machine-id", "Empty /etc/machine-id so systemd makes a new one at boot; remove the D-Bus copy", true}, (*resetter).machineID},
	{ResetOperation{"ssh-hostkeys", "Remove the SSH host keys (/etc/ssh/*_host_*), made anew at boot", true}, (*resetter).sshHostKeys},
	{ResetOperation{"cloud-init", "Remove cloud-init's state under /var/lib/cloud (the seed kept) and its logs, as cloud-init clean --logs", true}, (*resetter).cloudInit},
	{ResetOperation{"dhcp-client-state", "Remove DHCP client leases (dhclient, dhcpcd, NetworkManager)", true}, (*resetter).dhcpClient},
	{ResetOperation{"dhcp-server-state", "Empty DHCP server lease databases", true}, (*resetter).dhcpServer},
	{ResetOperation{"udev-persistent-net", "Remove udev persistent net rules that pin interface names to old MACs", true}, (*resetter).udevPersistentNet},
	{ResetOperation{"net-hwaddr", "Remove HWADDR lines from /etc/sysconfig/network-scripts/ifcfg-*", true}, (*resetter).netHWAddr},
	{ResetOperation{"logfiles", "Truncate the log files under /var/log; remove rotated logs and the journal's files", true}, (*resetter).logfiles},
	{ResetOperation{"bash-history", "Remove the bash history of root and of the users under /home", true}, (*resetter).bashHistory},
	{ResetOperation{"zsh-history", "Remove the zsh history of root and of the users under /home", true}, (*resetter).zshHistory},
	{ResetOperation{"tmp-files", "Remove everything under /tmp and /var/tmp", true}, (*resetter).tmpFiles},
	{ResetOperation{"package-manager-cache", "Remove the files of the package managers' caches (apt, dnf, yum, zypper, apk, pacman)", true}, (*resetter).packageCache},
	{ResetOperation{"random-seed", "Remove the saved random seed, so clones do not start from the same one", true}, (*resetter).randomSeed},
}

// ResetOperations lists the operations a Reset can run, in the order they
// run.
func ResetOperations() []ResetOperation {
	out := make([]ResetOperation, len(resetOps))
	for i, op := range resetOps {
		out[i] = op.ResetOperation
	}
	return out
}

// DefaultResetOperations names the operations a Reset without Operations
// runs.
func DefaultResetOperations() []string {
	var out []string
	for _, op := range resetOps {
		if op.Default {
			out = append(out, op.Name)
		}
	}
	return out
}

// planReset plans Spec.Reset. It comes first, so that everything else the
// Spec writes (an SSH host key, an ifcfg file with its HWADDR) is kept.
// It claims no paths: later items may write what it reset.
func (p *planner) planReset(ctx context.Context, spec *Spec) error {
	if spec.Reset == nil {
		return nil
	}
	whole := singleItem(FieldReset)
	limit := spec.Reset.MaxEntries
	switch {
	case limit == 0:
		limit = DefaultResetEntries
	case limit < 0 || limit > MaxResetEntries:
		return itemErrf(whole, "", ErrInvalidSpec, "max entries %d outside 1..%d", limit, MaxResetEntries)
	}
	names := spec.Reset.Operations
	if len(names) == 0 {
		names = DefaultResetOperations()
	}
	for _, n := range names {
		if !slices.ContainsFunc(resetOps, func(op resetOp) bool { return op.Name == n }) {
			return itemErrf(whole, "", ErrInvalidSpec, "unknown reset operation %q", n)
		}
	}
	r := &resetter{p: p, limit: limit}
	for _, op := range resetOps {
		if !slices.Contains(names, op.Name) {
			continue
		}
		if err := p.sync(ctx); err != nil {
			return err
		}
		r.item = Item{Field: FieldReset, Index: -1, Name: op.Name}
		r.reported = map[string]bool{}
		if err := op.plan(r, ctx); err != nil {
			return err
		}
	}
	return nil
}

// resetter plans the operations of one Reset.
type resetter struct {
	p    *planner
	item Item
	// entries counts the directory entries read so far, against limit.
	entries, limit int
	// reported holds the paths this operation has reported as kept.
	reported map[string]bool
}

// Why a reset leaves a node alone.
const (
	skipLink    = "a symlink: a reset never goes through links"
	skipSpecial = "only regular files are truncated"
)

func (r *resetter) keep(name string, info fs.FileInfo, why string) {
	if r.reported[name] {
		return
	}
	r.reported[name] = true
	r.p.add(keep(r.item, name, info, why))
}

func (r *resetter) remove(name string, info fs.FileInfo) {
	m, u, g := modeOwner(info)
	r.p.add(step{op: opRemove, change: Change{Item: r.item, Path: name, Action: ActionDelete, Mode: m, UID: u, GID: g}})
}

// truncate empties a regular file, keeping its mode, owner and labels; an
// empty one is left as it is.
func (r *resetter) truncate(name string, info fs.FileInfo) {
	if info.Size() == 0 {
		return
	}
	m, u, g := modeOwner(info)
	r.p.add(step{op: opWrite, change: Change{Item: r.item, Path: name, Action: ActionReplace, Mode: m, UID: u, GID: g, Detail: fmt.Sprintf("truncated from %d bytes", info.Size())}, data: []byte{}, opts: inheritOpts})
}

// realDir reports whether dir and every directory above it are real
// directories. A symlink on the way is reported as kept and the path is
// left alone: resolving it, even inside the root, could aim a removal or
// a truncation at another part of the guest (a /var/log linked to /etc).
func (r *resetter) realDir(ctx context.Context, dir string) (bool, error) {
	prefix := ""
	for _, elem := range vfs.Components(dir) {
		prefix += "/" + elem
		info, err := r.p.lstat(ctx, prefix)
		switch {
		case err != nil:
			return false, itemErr(r.item, prefix, err)
		case info == nil:
			return false, nil
		case info.Mode()&fs.ModeSymlink != 0:
			r.keep(prefix, info, skipLink)
			return false, nil
		case !info.IsDir():
			r.keep(prefix, info, "not a directory")
			return false, nil
		}
	}
	return true, nil
}

// list reads a directory, counting its entries against the bound.
func (r *resetter) list(ctx context.Context, dir string) ([]fs.DirEntry, error) {
	entries, err := r.p.fsys.ReadDir(ctx, dir)
	if err != nil {
		return nil, itemErr(r.item, dir, err)
	}
	if r.entries += len(entries); r.entries > r.limit {
		return nil, itemErr(r.item, dir, fmt.Errorf("%w: the reset reads more than %d directory entries (raise MaxEntries or leave %s out)", vfs.ErrTooLarge, r.limit, r.item.Name))
	}
	return entries, nil
}

// entry returns the path and info of a directory entry.
func (r *resetter) entry(dir string, e fs.DirEntry) (string, fs.FileInfo, error) {
	name := vfs.Join(dir, e.Name())
	if err := vfs.CheckPath("reset", name); err != nil {
		return "", nil, itemErr(r.item, name, err)
	}
	info, err := e.Info()
	if err != nil {
		return "", nil, itemErr(r.item, name, err)
	}
	return name, info, nil
}

// isRealDir reports whether info is a directory, not a link to one.
func isRealDir(info fs.FileInfo) bool { return info.Mode().Type() == fs.ModeDir }

// clearDir removes the entries of dir that match (all when match is nil),
// directories with everything below them, or, with keepDirs, only the
// files below them. dir itself stays. Links are removed as links.
func (r *resetter) clearDir(ctx context.Context, dir string, match func(name string) bool, keepDirs bool) error {
	if ok, err := r.realDir(ctx, dir); !ok {
		return err
	}
	entries, err := r.list(ctx, dir)
	if err != nil {
		return err
	}
	for _, e := range entries {
		if match != nil && !match(e.Name()) {
			continue
		}
		name, info, err := r.entry(dir, e)
		if err != nil {
			return err
		}
		if err := r.removeAll(ctx, name, info, keepDirs); err != nil {
			return err
		}
	}
	return nil
}

// removeAll removes name and, for a directory, everything below it,
// children first; with keepDirs the directories stay.
func (r *resetter) removeAll(ctx context.Context, name string, info fs.FileInfo, keepDirs bool) error {
	if isRealDir(info) {
		entries, err := r.list(ctx, name)
		if err != nil {
			return err
		}
		for _, e := range entries {
			sub, subInfo, err := r.entry(name, e)
			if err != nil {
				return err
			}
			if err := r.removeAll(ctx, sub, subInfo, keepDirs); err != nil {
				return err
			}
		}
		if keepDirs {
			return nil
		}
	}
	r.remove(name, info)
	return nil
}

// removeFile removes one file, link or special node; a directory there is
// left and reported.
func (r *resetter) removeFile(ctx context.Context, name string) error {
	info, err := r.lstatInRealDir(ctx, name)
	switch {
	case err != nil:
		return err
	case info == nil:
	case isRealDir(info):
		r.keep(name, info, "a directory: only a file is removed here")
	default:
		r.remove(name, info)
	}
	return nil
}

// truncateFile empties one regular file; a link or special node there is
// left and reported.
func (r *resetter) truncateFile(ctx context.Context, name string) error {
	info, err := r.lstatInRealDir(ctx, name)
	if info != nil {
		r.truncateNode(name, info)
	}
	return err
}

// lstatInRealDir describes name, or returns nil when it is missing or
// when a directory on its way is a link (which realDir reports as kept).
func (r *resetter) lstatInRealDir(ctx context.Context, name string) (fs.FileInfo, error) {
	dir, _ := vfs.Split(name)
	if ok, err := r.realDir(ctx, dir); !ok {
		return nil, err
	}
	info, err := r.p.lstat(ctx, name)
	if err != nil {
		return nil, itemErr(r.item, name, err)
	}
	return info, nil
}

// truncateNode truncates a regular file and reports anything else as
// kept.
func (r *resetter) truncateNode(name string, info fs.FileInfo) {
	switch t := info.Mode().Type(); {
	case t == 0:
		r.truncate(name, info)
	case t&fs.ModeSymlink != 0:
		r.keep(name, info, skipLink)
	default:
		r.keep(name, info, fmt.Sprintf("a %s: %s", kindOf(info), skipSpecial))
	}
}

func (r *resetter) machineID(ctx context.Context) error {
	// systemd treats an empty /etc/machine-id as "make one at boot"; a
	// missing one on a read-only root it cannot fix, so the file stays.
	if err := r.truncateFile(ctx, "/etc/machine-id"); err != nil {
		return err
	}
	// libdbus reads its own copy first and falls back to
	// /etc/machine-id; a link to it is removed as a link.
	return r.removeFile(ctx, "/var/lib/dbus/machine-id")
}

func (r *resetter) sshHostKeys(ctx context.Context) error {
	return r.clearFiles(ctx, "/etc/ssh", func(name string) bool { return strings.Contains(name, "_host_") })
}

// clearFiles removes the entries of dir that match and are not
// directories.
func (r *resetter) clearFiles(ctx context.Context, dir string, match func(name string) bool) error {
	if ok, err := r.realDir(ctx, dir); !ok {
		return err
	}
	entries, err := r.list(ctx, dir)
	if err != nil {
		return err
	}
	for _, e := range entries {
		if !match(e.Name()) {
			continue
		}
		name, info, err := r.entry(dir, e)
		if err != nil {
			return err
		}
		if isRealDir(info) {
			r.keep(name, info, "a directory: only files are removed here")
			continue
		}
		r.remove(name, info)
	}
	return nil
}

func (r *resetter) cloudInit(ctx context.Context) error {
	// cloud-init clean keeps the seed: it is configuration, not state.
	if err := r.clearDir(ctx, "/var/lib/cloud", func(name string) bool { return name != "seed" }, false); err != nil {
		return err
	}
	for _, log := range []string{"/var/log/cloud-init.log", "/var/log/cloud-init-output.log"} {
		if err := r.removeFile(ctx, log); err != nil {
			return err
		}
	}
	return nil
}

func (r *resetter) dhcpClient(ctx context.Context) error {
	// /var/lib/dhcp also holds a Debian DHCP server's database, so only
	// dhclient's files go from there.
	steps := []func() error{
		func() error { return r.clearDir(ctx, "/var/lib/dhclient", nil, false) },
		func() error {
			return r.clearFiles(ctx, "/var/lib/dhcp", func(n string) bool { return strings.HasPrefix(n, "dhclient") })
		},
		func() error { return r.clearDir(ctx, "/var/lib/dhcpcd", nil, false) },
		func() error {
			return r.clearFiles(ctx, "/var/lib/NetworkManager", func(n string) bool { return strings.HasSuffix(n, ".lease") })
		},
	}
	for _, s := range steps {
		if err := s(); err != nil {
			return err
		}
	}
	return nil
}

// dhcpServer empties the ISC server's lease databases, which dhcpd needs
// to exist at start, and removes their backups.
func (r *resetter) dhcpServer(ctx context.Context) error {
	for _, dir := range []string{"/var/lib/dhcpd", "/var/lib/dhcp"} {
		if ok, err := r.realDir(ctx, dir); !ok {
			if err != nil {
				return err
			}
			continue
		}
		entries, err := r.list(ctx, dir)
		if err != nil {
			return err
		}
		for _, e := range entries {
			n := e.Name()
			if !strings.HasPrefix(n, "dhcpd") || !strings.Contains(n, ".leases") {
				continue
			}
			name, info, err := r.entry(dir, e)
			if err != nil {
				return err
			}
			switch {
			case isRealDir(info):
				r.keep(name, info, "a directory: only files are changed here")
			case strings.HasSuffix(n, ".leases"):
				r.truncateNode(name, info)
			default:
				r.remove(name, info)
			}
		}
	}
	return nil
}

func (r *resetter) udevPersistentNet(ctx context.Context) error {
	return r.removeFile(ctx, "/etc/udev/rules.d/70-persistent-net.rules")
}

func (r *resetter) netHWAddr(ctx context.Context) error {
	const dir = "/etc/sysconfig/network-scripts"
	if ok, err := r.realDir(ctx, dir); !ok {
		return err
	}
	entries, err := r.list(ctx, dir)
	if err != nil {
		return err
	}
	for _, e := range entries {
		if !strings.HasPrefix(e.Name(), "ifcfg-") {
			continue
		}
		name, info, err := r.entry(dir, e)
		if err != nil {
			return err
		}
		switch t := info.Mode().Type(); {
		case t == fs.ModeSymlink:
			r.keep(name, info, skipLink)
			continue
		case t != 0:
			continue
		}
		data, err := vfs.ReadFile(ctx, r.p.fsys, name, MaxEditSize)
		if err != nil {
			return itemErr(r.item, name, err)
		}
		kept, removed := withoutHWAddr(data)
		if removed == 0 {
			continue
		}
		m, u, g := modeOwner(info)
		r.p.add(step{op: opWrite, change: Change{Item: r.item, Path: name, Action: ActionReplace, Mode: m, UID: u, GID: g, Size: int64(len(kept)), Detail: fmt.Sprintf("%d HWADDR lines removed", removed)}, data: kept, opts: inheritOpts})
	}
	return nil
}

// withoutHWAddr drops the HWADDR= assignments of an ifcfg file, keeping
// every other byte as it is.
func withoutHWAddr(data []byte) ([]byte, int) {
	var out []byte
	removed := 0
	for line := range bytes.Lines(data) {
		if bytes.HasPrefix(bytes.TrimLeft(line, " \t"), []byte("HWADDR=")) {
			removed++
			continue
		}
		out = append(out, line...)
	}
	if out == nil {
		out = []byte{}
	}
	return out, removed
}

// rotatedLog matches the names logrotate and the journal give old logs:
// numbered, dated or compressed. Truncated, such a file would be a
// broken archive, so it is removed.
var rotatedLog = regexp.MustCompile(`(\.[0-9]+|-[0-9]{8}|\.old|\.gz|\.xz|\.bz2|\.zst|\.lz4|\.Z)(\.(gz|xz|bz2|zst|lz4|Z))?$`)

func (r *resetter) logfiles(ctx context.Context) error {
	if ok, err := r.realDir(ctx, "/var/log"); !ok {
		return err
	}
	return r.logTree(ctx, "/var/log")
}

// logTree truncates the logs below dir: daemons expect their log files to
// exist with the mode and owner they had (wtmp, btmp and lastlog
// included).
func (r *resetter) logTree(ctx context.Context, dir string) error {
	entries, err := r.list(ctx, dir)
	if err != nil {
		return err
	}
	for _, e := range entries {
		name, info, err := r.entry(dir, e)
		if err != nil {
			return err
		}
		switch {
		case name == "/var/log/journal" && isRealDir(info):
			// A truncated journal file is a corrupt one; journald makes
			// new ones. The directory stays: it turns persistence on.
			err = r.clearDir(ctx, name, nil, false)
		case isRealDir(info):
			err = r.logTree(ctx, name)
		case rotatedLog.MatchString(e.Name()):
			r.remove(name, info)
		default:
			r.truncateNode(name, info)
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// homes lists root's home and the real directories under /home.
func (r *resetter) homes(ctx context.Context) ([]string, error) {
	out := []string{"/root"}
	if ok, err := r.realDir(ctx, "/home"); !ok {
		return out, err
	}
	entries, err := r.list(ctx, "/home")
	if err != nil {
		return nil, err
	}
	for _, e := range entries {
		if e.Type() == fs.ModeDir {
			out = append(out, vfs.Join("/home", e.Name()))
		}
	}
	return out, nil
}

func (r *resetter) history(ctx context.Context, file string) error {
	homes, err := r.homes(ctx)
	if err != nil {
		return err
	}
	for _, h := range homes {
		if err := r.removeFile(ctx, vfs.Join(h, file)); err != nil {
			return err
		}
	}
	return nil
}

func (r *resetter) bashHistory(ctx context.Context) error { return r.history(ctx, ".bash_history") }
func (r *resetter) zshHistory(ctx context.Context) error  { return r.history(ctx, ".zsh_history") }

func (r *resetter) tmpFiles(ctx context.Context) error {
	for _, dir := range []string{"/tmp", "/var/tmp"} {
		if err := r.clearDir(ctx, dir, nil, false); err != nil {
			return err
		}
	}
	return nil
}

func (r *resetter) packageCache(ctx context.Context) error {
	// The cache directories stay (apt wants archives/partial); only the
	// files in them go. apt rebuilds its binary caches on the next run.
	for _, f := range []string{"/var/cache/apt/pkgcache.bin", "/var/cache/apt/srcpkgcache.bin"} {
		if err := r.removeFile(ctx, f); err != nil {
			return err
		}
	}
	for _, dir := range []string{"/var/cache/apt/archives", "/var/cache/dnf", "/var/cache/yum", "/var/cache/apk", "/var/cache/pacman/pkg"} {
		if err := r.clearDir(ctx, dir, nil, true); err != nil {
			return err
		}
	}
	return r.clearDir(ctx, "/var/cache", func(name string) bool { return strings.HasPrefix(name, "zypp") }, true)
}

func (r *resetter) randomSeed(ctx context.Context) error {
	for _, f := range []string{"/var/lib/systemd/random-seed", "/var/lib/random-seed", "/var/lib/urandom/random-seed"} {
		if err := r.removeFile(ctx, f); err != nil {
			return err
		}
	}
	return nil
}
