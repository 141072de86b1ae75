// Command nova performs Nova-style file injection with guestinject: the
// same inputs as nova.virt.disk.api.inject_data — an SSH key for root,
// the network (as network_data.json), the instance metadata (written to
// /meta.js), the admin password and personality files — in one call:
//
//	nova IMAGE FORMAT KEYFILE NETWORK_DATA.json ADMIN_PASSWORD_FILE
//
// Nova mounted the image on the host, followed the guest's symlinks and
// logged failures of items not listed as mandatory. Here the image is
// checked first, parsed by a throwaway VM's kernel, every guest path
// resolves inside the guest, and the injection is all or nothing.
package main

import (
	"context"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/guestinject/guestinject"
	"github.com/guestinject/guestinject/imagecheck"
	"github.com/guestinject/guestinject/inject"
	"github.com/guestinject/guestinject/vfs"
)

// personalityFile is one of Nova's injected files: a guest path and its
// contents.
type personalityFile struct {
	Path     string
	Contents []byte
}

// injectData mirrors inject_data(image, key, net, metadata, admin_password,
// files): empty arguments are skipped, as in Nova.
func injectData(ctx context.Context, image, format, key string, networkData []byte,
	metadata map[string]string, adminPassword string, files []personalityFile) (*inject.Report, error) {
	spec := inject.Spec{Metadata: metadata}
	if key != "" {
		spec.SSHKeys = []inject.SSHKeys{{User: "root", Keys: []string{key}}}
	}
	if len(networkData) > 0 {
		net, err := inject.ParseNetworkData(networkData)
		if err != nil {
			return nil, err
		}
		spec.Network = net
	}
	if adminPassword != "" {
		spec.Passwords = []inject.Password{{User: "root", Plaintext: adminPassword}}
	}
	for _, f := range files {
		spec.Files = append(spec.Files, inject.File{Path: f.Path, Content: f.Contents, Mode: 0o644})
	}
	return injectImage(ctx, image, format, spec)
}

// injectImage checks the image, applies spec in the appliance and commits.
// When applying fails, the report comes back with the error: what was done
// in the appliance (and discarded) and what was not.
func injectImage(ctx context.Context, image, format string, spec inject.Spec) (*inject.Report, error) {
	declared, err := imagecheck.ParseFormat(format)
	if err != nil {
		return nil, err
	}
	// InjectImage checks the image before anything reads it, and on a
	// failure discards every change: the image is unchanged.
	return guestinject.InjectImage(ctx, vfs.Disk{Path: image, Format: declared}, spec)
}

func main() {
	if len(os.Args) != 6 {
		fmt.Fprintln(os.Stderr, "usage: nova IMAGE FORMAT KEYFILE NETWORK_DATA.json ADMIN_PASSWORD_FILE")
		os.Exit(2)
	}
	key, net, password := mustRead(os.Args[3]), mustRead(os.Args[4]), mustRead(os.Args[5])
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	report, err := injectData(ctx, os.Args[1], os.Args[2], strings.TrimSpace(string(key)), net,
		map[string]string{"injected-by": "guestinject"}, strings.TrimSpace(string(password)), nil)
	if err != nil {
		fmt.Fprintln(os.Stderr, "nova:", err)
		if report != nil {
			for _, c := range report.NotMade {
				fmt.Fprintf(os.Stderr, "nova: not made: %s %s [%s]\n", c.Action, c.Path, c.Item)
			}
		}
		os.Exit(1)
	}
	for _, c := range report.Changes {
		fmt.Println(c.Action, c.Path)
	}
}

func mustRead(name string) []byte {
	data, err := os.ReadFile(name)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	return data
}
