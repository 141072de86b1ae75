package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/guestinject/guestinject/inject"
	"github.com/guestinject/guestinject/inject/cidata"
)

// seedFiles are the cloud-init seed files named on the command line.
type seedFiles struct {
	userData, metaData, networkConfig, vendorData string
}

// read reads the files named (one of them may be "-", standard input) into
// a seed; nil when none is named.
func (s seedFiles) read(prefix string, stdin io.Reader) (*inject.CloudInitSeed, error) {
	type seedFile struct {
		flag, file string
		dst        *[]byte
	}
	var names []seedFile
	var seed inject.CloudInitSeed
	for _, f := range []seedFile{
		{"user-data", s.userData, &seed.UserData},
		{"meta-data", s.metaData, &seed.MetaData},
		{"network-config", s.networkConfig, &seed.NetworkConfig},
		{"vendor-data", s.vendorData, &seed.VendorData},
	} {
		if f.file != "" {
			names = append(names, f)
		}
	}
	if len(names) == 0 {
		return nil, nil
	}
	stdinUsed := ""
	for _, f := range names {
		if f.file == "-" {
			if stdinUsed != "" {
				return nil, usagef("--%s%s and --%s%s both read standard input", prefix, stdinUsed, prefix, f.flag)
			}
			stdinUsed = f.flag
		}
		data, err := readSmallFile(f.file, stdin)
		if err != nil {
			return nil, fmt.Errorf("--%s%s: %w", prefix, f.flag, err)
		}
		*f.dst = data
	}
	return &seed, nil
}

// registerInjectSeed adds inject's options for the in-image seed.
func (s *seedFiles) registerInjectSeed(fs *flag.FlagSet) {
	fs.StringVar(&s.userData, "cloud-init-user-data", "", "write a cloud-init NoCloud seed into /var/lib/cloud/seed/nocloud with user-data from `FILE` (\"-\" reads stdin); #cloud-config is checked as YAML")
	fs.StringVar(&s.metaData, "cloud-init-meta-data", "", "the seed's meta-data from `FILE` (default: instance-id: iid-local01)")
	fs.StringVar(&s.networkConfig, "cloud-init-network-config", "", "the seed's network-config (version 1 or 2) from `FILE`")
	fs.StringVar(&s.vendorData, "cloud-init-vendor-data", "", "the seed's vendor-data from `FILE`")
}

type seedArgs struct {
	files                seedFiles
	filesystem           string
	hostname, instanceID string
	json                 bool
}

func newSeedFlags(a *seedArgs) *flag.FlagSet {
	fs := newFlagSet("seed")
	fs.StringVar(&a.files.userData, "user-data", "", "user-data from `FILE` (\"-\" reads stdin), as cloud-localds's USER-DATA argument")
	fs.StringVar(&a.files.metaData, "meta-data", "", "meta-data from `FILE`, as cloud-localds's META-DATA argument (default: instance-id and --hostname)")
	fs.StringVar(&a.files.networkConfig, "network-config", "", "network-config (version 1 or 2) from `FILE`")
	fs.StringVar(&a.files.vendorData, "vendor-data", "", "vendor-data from `FILE`")
	fs.StringVar(&a.filesystem, "filesystem", "iso9660", "write the volume as `FS`: iso9660 (Rock Ridge and Joliet) or vfat (FAT32)")
	fs.StringVar(&a.hostname, "hostname", "", "without --meta-data: set local-hostname `H` in the meta-data")
	fs.StringVar(&a.instanceID, "instance-id", "", "without --meta-data: the meta-data's instance-id `ID` (default iid-local01)")
	fs.BoolVar(&a.json, "json", false, "print the result as JSON on standard output")
	return fs
}

// seedResult is seed's JSON output.
type seedResult struct {
	Output     string   `json:"output"`
	Filesystem string   `json:"filesystem"`
	Label      string   `json:"label"`
	Files      []string `json:"files"`
	Size       int64    `json:"size"`
}

func runSeed(ctx context.Context, args []string, io stdio) error {
	var a seedArgs
	pos, err := parseArgs(newSeedFlags(&a), args, io.out)
	if err != nil {
		return err
	}
	// cloud-localds's form: OUT [USER-DATA [META-DATA]].
	if len(pos) == 0 || len(pos) > 3 {
		return usagef("seed takes OUT [USER-DATA [META-DATA]], got %d argument(s)", len(pos))
	}
	out := pos[0]
	for i, dst := range []*string{&a.files.userData, &a.files.metaData} {
		if len(pos) > i+1 {
			if *dst != "" {
				return usagef("seed: the %s is given both as an argument and as --%s", []string{"user-data", "meta-data"}[i], []string{"user-data", "meta-data"}[i])
			}
			*dst = pos[i+1]
		}
	}
	fsys := cidata.Filesystem(a.filesystem)
	if a.filesystem == "iso" {
		fsys = cidata.ISO9660
	}
	if fsys != cidata.ISO9660 && fsys != cidata.VFAT {
		return usagef("--filesystem %s: want iso9660 or vfat", a.filesystem)
	}
	if a.files.metaData != "" && (a.hostname != "" || a.instanceID != "") {
		return usagef("--hostname and --instance-id make the meta-data; they cannot go with --meta-data")
	}
	seed, err := a.files.read("", io.in)
	if err != nil {
		return err
	}
	if seed == nil {
		seed = &inject.CloudInitSeed{}
	}
	if seed.MetaData == nil {
		seed.MetaData = defaultMetaData(a.instanceID, a.hostname)
	}
	modTime, err := sourceDateEpoch()
	if err != nil {
		return err
	}
	if err := cidata.Write(ctx, out, *seed, cidata.Options{Filesystem: fsys, ModTime: modTime}); err != nil {
		return err
	}
	res := seedResult{Output: out, Filesystem: string(fsys), Label: cidata.Label}
	for _, f := range seed.Files() {
		res.Files = append(res.Files, f.Name)
	}
	if info, err := os.Stat(out); err == nil {
		res.Size = info.Size()
	}
	if a.json {
		enc := json.NewEncoder(io.out)
		enc.SetIndent("", "  ")
		return enc.Encode(res)
	}
	fmt.Fprintf(io.out, "wrote %s: %s volume %q with %s\n", out, fsys, cidata.Label, strings.Join(res.Files, ", "))
	return nil
}

// defaultMetaData is the meta-data cloud-localds writes without one:
// JSON, a subset of YAML, so any instance-id or host name is quoted right.
func defaultMetaData(instanceID, hostname string) []byte {
	if instanceID == "" && hostname == "" {
		return nil // inject.DefaultCloudInitMetaData
	}
	if instanceID == "" {
		instanceID = "iid-local01"
	}
	meta := map[string]string{"instance-id": instanceID}
	if hostname != "" {
		meta["local-hostname"] = hostname
	}
	data, _ := json.Marshal(meta) // strings only: cannot fail
	return append(data, '\n')
}

// sourceDateEpoch reads SOURCE_DATE_EPOCH, the reproducible-builds way of
// fixing the time recorded in an output; zero when unset.
func sourceDateEpoch() (time.Time, error) {
	v := os.Getenv("SOURCE_DATE_EPOCH")
	if v == "" {
		return time.Time{}, nil
	}
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil || n < 0 {
		return time.Time{}, usagef("SOURCE_DATE_EPOCH=%q is not a count of seconds", v)
	}
	return time.Unix(n, 0).UTC(), nil
}
