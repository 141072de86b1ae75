package guest

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/guestinject/guestinject/internal/blkid"
	"github.com/guestinject/guestinject/internal/guestabi"
)

// Bounds on lvm runs: the metadata they read is the guest's.
const (
	lvmTimeout   = 60 * time.Second // per command, under emulation too
	lvmMaxOutput = 1 << 20          // report bytes
	lvmMaxErrors = 8 << 10          // diagnostic bytes kept
	maxLVs       = 256              // logical volumes offered
	maxLVRows    = 4096             // report rows (segments, hidden volumes)
	maxLVDepth   = 8                // nesting of hidden volumes
)

// lvmDir is the empty directory lvm takes as its configuration
// directory (LVM_SYSTEM_DIR), so nothing but lvmConfig applies.
const lvmDir = "/run/guestinject/lvm"

// lvmConfig makes lvm scan only devices, the guest's disks and their
// partitions as ScanVolumes found them by serial (never the payload disk,
// never a device-mapper volume, so an LV holding a PV is not followed),
// work without udev, daemons or locking, and never write the guest's
// metadata: activation is the only change, and it is in memory.
func lvmConfig(devices []string) string {
	var accept strings.Builder
	for _, d := range devices {
		fmt.Fprintf(&accept, `"a|^%s$|",`, d)
	}
	filter := "[" + accept.String() + `"r|.*|"]`
	return strings.Join([]string{
		`devices{filter=` + filter + ` global_filter=` + filter,
		`use_devicesfile=0 obtain_device_list_from_udev=0 external_device_info_source="none" hints="none"`,
		`multipath_component_detection=0 md_component_detection=0 fw_raid_component_detection=0}`,
		`activation{udev_sync=0 udev_rules=0 verify_udev_operations=0 monitoring=0}`,
		`global{metadata_read_only=1 use_lvmlockd=0 event_activation=0}`,
		`backup{backup=0 archive=0}`,
	}, " ")
}

// lvmDevice matches the device nodes lvmConfig may name: a virtio disk or
// one of its partitions, nothing a regular expression could misread.
var lvmDevice = regexp.MustCompile(`^/dev/vd[a-z]+[0-9]*$`)

// ActivateLVM activates the volume groups on the LVM physical volumes
// among vols and returns one Volume per logical volume, its Device the
// /dev/mapper node, its LV "vg/lv", its Disk the lowest disk holding one
// of its physical volumes, ReadOnly when any of them is on a read-only
// disk, and its content probed. Without physical volumes it does nothing.
// Logical volumes that activated are returned even when others did not,
// with an error that says what failed.
//
// Nothing deactivates them: the agent unmounts every filesystem before
// the VM powers off, and the mappings vanish with the VM without writing
// anything to the disks.
func ActivateLVM(ctx context.Context, mods Modules, vols []Volume) ([]Volume, error) {
	var pvs []string
	for _, v := range vols {
		if v.Err == nil && v.Info.Type == blkid.LVM2 {
			pvs = append(pvs, v.Device)
		}
	}
	if len(pvs) == 0 {
		return nil, nil
	}
	fail := func(err error) error {
		return fmt.Errorf("LVM physical volumes %s: %w", strings.Join(pvs, ", "), err)
	}
	if mods.Payload != nil && !mods.Has(guestabi.LVMGroup) {
		return nil, fail(guestabi.ErrNoLVMTools)
	}
	if err := mods.Fetch(guestabi.LVMGroup); err != nil {
		return nil, fail(err)
	}
	if _, err := os.Stat(guestabi.LVMBinary); err != nil {
		return nil, fail(guestabi.ErrNoLVMTools)
	}
	var devices []string
	for _, v := range vols {
		if v.LV == "" && lvmDevice.MatchString(v.Device) {
			devices = append(devices, v.Device)
		}
	}
	config := lvmConfig(devices)
	if err := mods.Load(guestabi.DMGroup); err != nil {
		return nil, fail(err)
	}
	if _, err := os.Stat("/dev/mapper/control"); err != nil {
		return nil, fail(fmt.Errorf("the appliance kernel has no device-mapper: %w", err))
	}
	for _, d := range []string{lvmDir, "/run/lvm", "/run/lock/lvm"} {
		if err := os.MkdirAll(d, 0o700); err != nil {
			return nil, fail(err)
		}
	}
	// --sysinit: no locking, no monitoring daemons, no polling.
	_, activateErr := runLVM(ctx, config, "vgchange", "--activate", "y", "--sysinit")
	report, err := runLVM(ctx, config, "lvs", "--all", "--reportformat", "json", "--options", "vg_name,lv_name,devices")
	if err != nil {
		return nil, fail(joinErrors(activateErr, err))
	}
	rows, err := parseLVReport(report)
	if err != nil {
		return nil, fail(joinErrors(activateErr, err))
	}
	lvs, problems := lvVolumes(rows, vols)
	isNode := func(p string) bool {
		fi, err := os.Lstat(p)
		return err == nil && fi.Mode().Type() == os.ModeDevice
	}
	// Activation without udev makes the /dev/mapper nodes itself; should
	// any be missing, vgmknodes makes them (each lvm run costs a few
	// hundred milliseconds under emulation, so only then).
	for _, lv := range lvs {
		if !isNode(lv.Device) {
			if _, err := runLVM(ctx, config, "vgmknodes"); err != nil {
				problems = append(problems, err)
			}
			break
		}
	}
	var found []Volume
	for _, lv := range lvs {
		if !isNode(lv.Device) {
			problems = append(problems, fmt.Errorf("%s is not active", lv.LV))
			continue
		}
		lv.Info, lv.Err = probe(lv.Device)
		found = append(found, lv)
	}
	if err := joinErrors(append([]error{activateErr}, problems...)...); err != nil {
		return found, fail(err)
	}
	return found, nil
}

// errorList is errors.Join on one line, since the host shows it as one.
type errorList []error

func (l errorList) Error() string {
	s := make([]string, len(l))
	for i, err := range l {
		s[i] = err.Error()
	}
	return strings.Join(s, "; ")
}

func (l errorList) Unwrap() []error { return l }

// joinErrors returns the errors that are not nil as one, or nil.
func joinErrors(errs ...error) error {
	var l errorList
	for _, err := range errs {
		if err != nil {
			l = append(l, err)
		}
	}
	if len(l) == 0 {
		return nil
	}
	return l
}

// runLVM runs an lvm command, bounded in time and output, and returns
// its standard output.
func runLVM(ctx context.Context, config string, args ...string) ([]byte, error) {
	ctx, cancel := context.WithTimeout(ctx, lvmTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, guestabi.LVMBinary, append(append([]string{}, args...), "--config", config)...)
	cmd.Env = []string{
		"LVM_SYSTEM_DIR=" + lvmDir,
		"LD_LIBRARY_PATH=" + guestabi.LVMLibDir,
		"LVM_SUPPRESS_FD_WARNINGS=1",
		"DM_DISABLE_UDEV=1",
		"PATH=" + path.Dir(guestabi.LVMBinary),
	}
	stdout := &boundedBuffer{max: lvmMaxOutput}
	stderr := &boundedBuffer{max: lvmMaxErrors}
	cmd.Stdout, cmd.Stderr = stdout, stderr
	cmd.WaitDelay = time.Second
	err := cmd.Run()
	switch {
	case ctx.Err() != nil:
		return nil, fmt.Errorf("lvm %s: %w", args[0], ctx.Err())
	case err != nil:
		return nil, fmt.Errorf("lvm %s: %w: %s", args[0], err, printable(stderr.Bytes()))
	case stdout.overflow:
		return nil, fmt.Errorf("lvm %s: more than %d bytes of output", args[0], lvmMaxOutput)
	}
	return stdout.Bytes(), nil
}

// boundedBuffer keeps the first max bytes written to it and notes that
// more came.
type boundedBuffer struct {
	bytes.Buffer
	max      int
	overflow bool
}

func (b *boundedBuffer) Write(p []byte) (int, error) {
	if room := b.max - b.Len(); len(p) > room {
		b.overflow = true
		b.Buffer.Write(p[:max(room, 0)])
		return len(p), nil
	}
	return b.Buffer.Write(p)
}

// printable makes lvm's diagnostics, which may quote guest metadata, one
// line of printable text.
func printable(b []byte) string {
	s := strings.Map(func(r rune) rune {
		if r < ' ' || r == 0x7f || r == 0xFFFD {
			return ' '
		}
		return r
	}, strings.ToValidUTF8(string(b), "\uFFFD"))
	return strings.Join(strings.Fields(s), " ")
}

// lvRow is one row of the lvs report: a segment of a logical volume.
type lvRow struct {
	VG      string `json:"vg_name"`
	LV      string `json:"lv_name"`
	Devices string `json:"devices"`
}

// parseLVReport reads `lvs --reportformat json` strictly: the shape lvm
// writes, no unknown fields, a bounded number of rows.
func parseLVReport(data []byte) ([]lvRow, error) {
	if len(data) > lvmMaxOutput {
		return nil, fmt.Errorf("lvs report of %d bytes is too large", len(data))
	}
	var report struct {
		Report []struct {
			LV []lvRow `json:"lv"`
		} `json:"report"`
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&report); err != nil {
		return nil, fmt.Errorf("lvs report: %w", err)
	}
	if dec.More() {
		return nil, errors.New("lvs report: data after the report")
	}
	var rows []lvRow
	for _, r := range report.Report {
		if len(rows)+len(r.LV) > maxLVRows {
			return nil, fmt.Errorf("lvs report: more than %d rows", maxLVRows)
		}
		rows = append(rows, r.LV...)
	}
	return rows, nil
}

// lvVolumes turns report rows into volumes for the visible logical
// volumes, without probing them. A row whose names are not valid LVM
// names is refused: they are the guest's, and they become device paths.
// The physical volumes behind each LV are found through its segments'
// devices, hidden sub-volumes (RAID images, mirror legs) followed.
func lvVolumes(rows []lvRow, vols []Volume) ([]Volume, []error) {
	var problems []error
	type lvKey struct{ vg, lv string }
	devices := map[lvKey][]string{}
	var visible []lvKey
	for _, r := range rows {
		name, hidden := strings.CutPrefix(r.LV, "[")
		if hidden {
			var ok bool
			if name, ok = strings.CutSuffix(name, "]"); !ok {
				name = r.LV // refused below
			}
		}
		if !guestabi.ValidLVMName(r.VG) || !guestabi.ValidLVMName(name) {
			problems = append(problems, fmt.Errorf("refusing logical volume %q in volume group %q: not an LVM name", clip(r.LV), clip(r.VG)))
			continue
		}
		k := lvKey{r.VG, name}
		if _, seen := devices[k]; !seen && !hidden {
			visible = append(visible, k)
		}
		devices[k] = append(devices[k], strings.Split(r.Devices, ",")...)
	}
	if len(visible) > maxLVs {
		problems = append(problems, fmt.Errorf("%d logical volumes; using the first %d", len(visible), maxLVs))
		visible = visible[:maxLVs]
	}
	byDevice := map[string]Volume{}
	var lvmPVs []Volume
	for _, v := range vols {
		if v.LV == "" {
			byDevice[v.Device] = v
			if v.Err == nil && v.Info.Type == blkid.LVM2 {
				lvmPVs = append(lvmPVs, v)
			}
		}
	}
	// pvsOf collects the volumes holding k; false when some device is
	// not one of vols (a missing PV, a thin pool, anything unknown).
	var pvsOf func(k lvKey, depth int, into map[string]Volume) bool
	pvsOf = func(k lvKey, depth int, into map[string]Volume) bool {
		if depth > maxLVDepth {
			return false
		}
		ds, known := devices[k]
		if !known {
			return false
		}
		all := true
		for _, d := range ds {
			name, _, _ := strings.Cut(strings.TrimSpace(d), "(")
			switch {
			case name == "":
				all = false
			case strings.HasPrefix(name, "/dev/"):
				if v, ok := byDevice[name]; ok {
					into[name] = v
				} else {
					all = false
				}
			default:
				sub := strings.TrimSuffix(strings.TrimPrefix(name, "["), "]")
				if !guestabi.ValidLVMName(sub) || !pvsOf(lvKey{k.vg, sub}, depth+1, into) {
					all = false
				}
			}
		}
		return all
	}
	var out []Volume
	for _, k := range visible {
		pvs := map[string]Volume{}
		if !pvsOf(k, 0, pvs) {
			// Unknown placement: assume the worst, any LVM disk.
			for _, v := range lvmPVs {
				pvs[v.Device] = v
			}
		}
		lv := Volume{Device: path.Join("/dev/mapper", mapperName(k.vg, k.lv)), LV: k.vg + "/" + k.lv, Disk: -1}
		for _, v := range pvs {
			if lv.Disk < 0 || v.Disk < lv.Disk {
				lv.Disk = v.Disk
			}
			lv.ReadOnly = lv.ReadOnly || v.ReadOnly
		}
		if lv.Disk < 0 {
			lv.Disk, lv.ReadOnly = 0, true
		}
		out = append(out, lv)
	}
	slices.SortStableFunc(out, func(a, b Volume) int {
		if a.Disk != b.Disk {
			return a.Disk - b.Disk
		}
		return strings.Compare(a.LV, b.LV)
	})
	return out, problems
}

// mapperName is the device-mapper name of LV lv in VG vg, as lvm makes
// it: the two joined by a dash, dashes inside either name doubled.
func mapperName(vg, lv string) string {
	return strings.ReplaceAll(vg, "-", "--") + "-" + strings.ReplaceAll(lv, "-", "--")
}
