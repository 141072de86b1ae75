package inject

import (
	"context"
	"fmt"
	"io/fs"

	"github.com/guestinject/guestinject/internal/cloudinit"
)

// CloudInitSeedDir is where cloud-init's NoCloud datasource looks for a
// seed inside the guest.
const CloudInitSeedDir = "/var/lib/cloud/seed/nocloud"

// Bounds on a cloud-init seed, in bytes. cloud-init sets none of its own
// for NoCloud; the clouds it runs on allow 16 KiB (EC2) to 64 KiB
// (OpenStack) of user-data, and these are well above that.
const (
	MaxCloudInitUserData      = cloudinit.MaxUserData      // user-data and vendor-data, also once gunzipped
	MaxCloudInitMetaData      = cloudinit.MaxMetaData      // meta-data
	MaxCloudInitNetworkConfig = cloudinit.MaxNetworkConfig // network-config
)

// DefaultCloudInitMetaData is the meta-data of a seed that gives none, the
// one cloud-localds writes. NoCloud needs a meta-data file; cloud-init runs
// its per-instance modules once per instance-id.
const DefaultCloudInitMetaData = cloudinit.DefaultMetaData

// CloudInitSeed is a cloud-init NoCloud seed: the files cloud-init reads
// from a cidata volume or from CloudInitSeedDir. Nil fields are not
// written, except UserData and MetaData, which NoCloud needs: a nil
// UserData is written empty and a nil MetaData is
// DefaultCloudInitMetaData. A MetaData without instance-id is written as
// given (cloud-init then uses the instance-id "nocloud"); Validate does not
// rewrite the caller's YAML.
type CloudInitSeed struct {
	// UserData is the user-data: #cloud-config YAML, a #! script, an
	// #include list, a #cloud-boothook, a #part-handler, a
	// #cloud-config-archive, a #cloud-config-jsonp patch, a
	// "## template: jinja" template, a MIME message (told by its
	// MIME-Version header, as cloud-init tells them), or one of these
	// gzipped. Anything else cloud-init would ignore, and Validate
	// refuses it.
	UserData []byte
	// MetaData is the meta-data, a YAML or JSON mapping (instance-id,
	// local-hostname...).
	MetaData []byte
	// NetworkConfig, when not nil, is the network-config: network
	// configuration version 1 or 2, as YAML.
	NetworkConfig []byte
	// VendorData, when not nil, is the vendor-data, in the formats of
	// UserData.
	VendorData []byte
}

// SeedFile is one file of a seed: its name in the seed directory and its
// content.
type SeedFile struct {
	Name string // "user-data", "meta-data", "network-config" or "vendor-data"
	Data []byte
}

// Validate checks the seed as cloud-init would read it: the user-data
// and vendor-data kinds (see UserData), meta-data as a YAML mapping,
// network-config as a YAML mapping of version 1 or 2, and the bounds.
// Errors wrap ErrInvalidSpec.
func (s *CloudInitSeed) Validate() error {
	for _, f := range s.Files() {
		var err error
		switch f.Name {
		case cloudinit.UserDataName, cloudinit.VendorDataName:
			_, err = cloudinit.UserData(f.Name, f.Data)
		case cloudinit.MetaDataName:
			err = cloudinit.MetaData(f.Data)
		case cloudinit.NetworkConfigName:
			err = cloudinit.NetworkConfig(f.Data)
		}
		if err != nil {
			return fmt.Errorf("%w: %w", ErrInvalidSpec, err)
		}
	}
	return nil
}

// Files returns the files the seed consists of, in the order they are
// written, with the defaults for a nil UserData and MetaData applied.
func (s *CloudInitSeed) Files() []SeedFile {
	user, meta := s.UserData, s.MetaData
	if user == nil {
		user = []byte{}
	}
	if meta == nil {
		meta = []byte(cloudinit.DefaultMetaData)
	}
	files := []SeedFile{{cloudinit.UserDataName, user}, {cloudinit.MetaDataName, meta}}
	if s.NetworkConfig != nil {
		files = append(files, SeedFile{cloudinit.NetworkConfigName, s.NetworkConfig})
	}
	if s.VendorData != nil {
		files = append(files, SeedFile{cloudinit.VendorDataName, s.VendorData})
	}
	return files
}

// seedFileNames are every file NoCloud reads from a seed directory.
var seedFileNames = []string{cloudinit.UserDataName, cloudinit.MetaDataName, cloudinit.NetworkConfigName, cloudinit.VendorDataName}

// planCloudInit writes the NoCloud seed into CloudInitSeedDir, 0600 and
// owned by root (user-data often carries passwords), in directories
// created 0755. A network-config or vendor-data left there by an earlier
// seed and not in this one is removed, so cloud-init reads exactly the
// seed given.
func (p *planner) planCloudInit(ctx context.Context, spec *Spec) error {
	seed := spec.CloudInit
	if seed == nil {
		return nil
	}
	item := singleItem(FieldCloudInit)
	if err := seed.Validate(); err != nil {
		return itemErr(item, CloudInitSeedDir, err)
	}
	given := map[string]bool{}
	for _, f := range seed.Files() {
		given[f.Name] = true
		if err := p.planFile(ctx, item, File{Path: CloudInitSeedDir + "/" + f.Name, Content: f.Data, Mode: 0o600}); err != nil {
			return err
		}
	}
	for _, name := range seedFileNames {
		if given[name] {
			continue
		}
		if err := p.removeStaleSeedFile(ctx, item, CloudInitSeedDir+"/"+name); err != nil {
			return err
		}
	}
	return nil
}

// removeStaleSeedFile plans removing a seed file the new seed does not
// have: a regular file or a symlink (the link itself, never its target).
func (p *planner) removeStaleSeedFile(ctx context.Context, item Item, name string) error {
	if err := p.sync(ctx); err != nil {
		return err
	}
	info, err := p.lstat(ctx, name)
	if err != nil {
		return itemErr(item, name, err)
	}
	if info == nil {
		return nil
	}
	if t := info.Mode().Type(); t != 0 && t != fs.ModeSymlink {
		return itemErr(item, name, fmt.Errorf("%w: a %v is where a stale seed file would be removed", ErrUnsafe, t))
	}
	if err := p.claim(item, name); err != nil {
		return err
	}
	m, u, g := modeOwner(info)
	p.add(step{op: opRemove, change: Change{Item: item, Path: name, Action: ActionDelete, Mode: m, UID: u, GID: g, Detail: "not in the new seed"}})
	return nil
}
