package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"os"
	"strconv"
	"strings"

	"github.com/guestinject/guestinject/appliance"
	"github.com/guestinject/guestinject/imagecheck"
	"github.com/guestinject/guestinject/internal/blkid"
	"github.com/guestinject/guestinject/internal/guestetc"
	"github.com/guestinject/guestinject/vfs"
)

// maxEtcFile bounds the guest /etc files inspect reads.
const maxEtcFile = 1 << 20

type inspectArgs struct{ imageArgs }

func newInspectFlags(a *inspectArgs) *flag.FlagSet {
	fs := newFlagSet("inspect")
	a.imageArgs.register(fs)
	a.backend.register(fs)
	return fs
}

// inspection is inspect's JSON output.
type inspection struct {
	Image      string            `json:"image,omitempty"`
	Domain     string            `json:"domain,omitempty"`
	Info       *infoResult       `json:"info,omitempty"`
	Filesystem string            `json:"filesystem,omitempty"` // whole-disk raw images, from the superblock
	OS         map[string]string `json:"os_release,omitempty"`
	Hostname   string            `json:"hostname,omitempty"`
	Init       string            `json:"init,omitempty"`
	Network    []string          `json:"network_config,omitempty"`
	Fstab      []fstabEntry      `json:"fstab,omitempty"`
	LoginUsers []string          `json:"login_users,omitempty"`
	// Appliance is what the appliance found on the disks: the root, every
	// filesystem and where it is mounted, and each fstab line's fate.
	Appliance *appliance.Inspection `json:"appliance,omitempty"`
	// Accelerator is what the appliance ran under, "kvm" or "tcg".
	Accelerator string `json:"accelerator,omitempty"`
}

type fstabEntry struct {
	Device     string `json:"device"`
	MountPoint string `json:"mount_point"`
	Type       string `json:"type"`
}

func runInspect(ctx context.Context, args []string, io stdio) error {
	var a inspectArgs
	pos, err := parseArgs(newInspectFlags(&a), args, io.out)
	if err != nil {
		return err
	}
	if err := a.backend.validate(); err != nil {
		return err
	}
	t, _, err := a.resolveTarget("inspect", pos, true)
	if err != nil {
		return err
	}
	res := inspection{Image: t.path, Domain: a.backend.domain}
	err = withGuest(ctx, &a.imageArgs, t, io.err, func(ctx context.Context, g vfs.Session) error {
		// The backend's own check of the image, not a second one.
		if c, ok := g.(interface{ ImageInfo() []*imagecheck.Info }); ok && t.path != "" {
			info := c.ImageInfo()[0]
			res.Info = infoFrom(info)
			if t.format == imagecheck.Raw && info.PartitionTable == "" {
				res.Filesystem = probeWholeDisk(t.path)
			}
		}
		return res.readGuest(ctx, g)
	}, false)
	if err != nil {
		return err
	}
	if a.json {
		res.Accelerator = a.backend.acceleratorName()
		enc := json.NewEncoder(io.out)
		enc.SetIndent("", "  ")
		return enc.Encode(res)
	}
	res.print(io.out)
	return nil
}

// probeWholeDisk names the filesystem on an unpartitioned raw image from
// its superblock, read with bounds by a pure-Go prober.
func probeWholeDisk(path string) string {
	f, err := os.Open(path)
	if err != nil {
		return ""
	}
	defer f.Close()
	bi, err := blkid.Probe(f)
	if err != nil {
		return ""
	}
	s := string(bi.Type)
	if bi.Label != "" {
		s += fmt.Sprintf(" label=%q", bi.Label)
	}
	if bi.UUID != "" {
		s += " uuid=" + bi.UUID
	}
	return s
}

func (r *inspection) readGuest(ctx context.Context, g vfs.FS) error {
	if a, ok := g.(interface{ Inspection() appliance.Inspection }); ok {
		in := a.Inspection()
		r.Appliance = &in
	}
	data, err := readOptional(ctx, g, "/etc/os-release")
	if err == nil && data == nil {
		data, err = readOptional(ctx, g, "/usr/lib/os-release")
	}
	if err != nil {
		return err
	}
	r.OS = guestetc.ParseOSRelease(data)
	if data, err = readOptional(ctx, g, "/etc/hostname"); err != nil {
		return err
	}
	r.Hostname = strings.TrimSpace(string(data))
	if data, err = readOptional(ctx, g, "/etc/fstab"); err != nil {
		return err
	}
	r.Fstab = parseFstab(data)
	if data, err = readOptional(ctx, g, "/etc/passwd"); err != nil {
		return err
	}
	r.LoginUsers = loginUsers(data)
	r.Init = firstExisting(ctx, g, map[string]string{
		"/usr/lib/systemd/systemd": "systemd", "/lib/systemd/systemd": "systemd",
		"/sbin/openrc": "openrc", "/sbin/init": "sysvinit or other",
	}, "/usr/lib/systemd/systemd", "/lib/systemd/systemd", "/sbin/openrc", "/sbin/init")
	for _, p := range []string{"/etc/netplan", "/etc/network/interfaces", "/etc/NetworkManager",
		"/etc/sysconfig/network-scripts", "/etc/systemd/network"} {
		if _, err := g.Lstat(ctx, p); err == nil {
			r.Network = append(r.Network, p)
		}
	}
	return nil
}

// readOptional reads a guest file, returning nil when it does not exist.
func readOptional(ctx context.Context, g vfs.FS, name string) ([]byte, error) {
	data, err := vfs.ReadFile(ctx, g, name, maxEtcFile)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	return data, err
}

func firstExisting(ctx context.Context, g vfs.FS, what map[string]string, order ...string) string {
	for _, p := range order {
		if _, err := g.Stat(ctx, p); err == nil {
			return what[p]
		}
	}
	return ""
}

func parseFstab(data []byte) []fstabEntry {
	var out []fstabEntry
	for line := range strings.Lines(string(data)) {
		f := strings.Fields(line)
		if len(f) < 3 || strings.HasPrefix(f[0], "#") {
			continue
		}
		out = append(out, fstabEntry{Device: f[0], MountPoint: f[1], Type: f[2]})
	}
	return out
}

// loginUsers lists root and the regular users (UID 1000 and up) whose
// shell allows a login.
func loginUsers(passwd []byte) []string {
	var out []string
	for line := range strings.Lines(string(passwd)) {
		f := strings.Split(strings.TrimRight(line, "\r\n"), ":")
		if len(f) != 7 {
			continue
		}
		uid, err := strconv.Atoi(f[2])
		if err != nil || (uid != 0 && uid < 1000) || strings.HasSuffix(f[6], "nologin") || strings.HasSuffix(f[6], "false") {
			continue
		}
		out = append(out, f[0])
	}
	return out
}

func (r *inspection) print(w io.Writer) {
	row := func(k, v string) {
		if v != "" {
			fmt.Fprintf(w, "  %-16s %s\n", k, v)
		}
	}
	fmt.Fprintf(w, "%s%s\n", r.Image, r.Domain)
	if r.Info != nil {
		row("format", string(r.Info.Format))
		row("virtual size", humanSize(r.Info.VirtualSize))
		row("partition table", r.Info.PartitionTable)
	}
	row("filesystem", r.Filesystem)
	os := r.OS["PRETTY_NAME"]
	if os == "" {
		os = strings.TrimSpace(r.OS["NAME"] + " " + r.OS["VERSION_ID"])
	}
	row("os", os)
	row("os id", r.OS["ID"])
	row("hostname", r.Hostname)
	row("init", r.Init)
	row("network config", strings.Join(r.Network, ", "))
	row("login users", strings.Join(r.LoginUsers, ", "))
	for i, e := range r.Fstab {
		k := ""
		if i == 0 {
			k = "fstab"
		}
		fmt.Fprintf(w, "  %-16s %s on %s (%s)\n", k, e.Device, e.MountPoint, e.Type)
	}
	if r.Appliance == nil {
		return
	}
	for i, f := range r.Appliance.Filesystems {
		k := ""
		if i == 0 {
			k = "filesystems"
		}
		where := "not mounted"
		if f.MountPoint != "" {
			where = "mounted on " + f.MountPoint
		}
		if f.Note != "" {
			where += ": " + f.Note
		}
		fmt.Fprintf(w, "  %-16s %s, %s\n", k, f, where)
	}
	for i, is := range r.Appliance.Issues {
		k := ""
		if i == 0 {
			k = "issues"
		}
		fmt.Fprintf(w, "  %-16s %s: %s\n", k, is.Code, is.Message)
	}
	first := true
	for _, e := range r.Appliance.Fstab {
		if e.Mounted && e.Note == "" {
			continue
		}
		k := ""
		if first {
			k, first = "fstab skipped", false
		}
		fmt.Fprintf(w, "  %-16s line %d: %s %s: %s\n", k, e.Line, e.Source, e.MountPoint, e.Note)
	}
}
