package cidata_test

import (
	"context"
	"fmt"
	"log"
	"os"
	"path/filepath"
	"time"

	"github.com/guestinject/guestinject/inject"
	"github.com/guestinject/guestinject/inject/cidata"
)

// Write a NoCloud seed ISO to attach to a VM, as cloud-localds would, with
// a fixed time so that the same seed always gives the same bytes.
func ExampleWrite() {
	dir, err := os.MkdirTemp("", "cidata-example-")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)
	seed := inject.CloudInitSeed{
		UserData: []byte("#cloud-config\nssh_authorized_keys:\n  - ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIExample user@example\n"),
		MetaData: []byte("instance-id: vm-0001\nlocal-hostname: vm1\n"),
	}
	out := filepath.Join(dir, "seed.iso")
	opts := cidata.Options{Filesystem: cidata.ISO9660, ModTime: time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)}
	if err := cidata.Write(context.Background(), out, seed, opts); err != nil {
		log.Fatal(err)
	}
	vol, err := os.ReadFile(out)
	if err != nil {
		log.Fatal(err)
	}
	// The primary volume descriptor, at 32 KiB: its standard identifier
	// and the volume identifier cloud-init looks for.
	fmt.Printf("%d bytes, %s volume %q\n", len(vol), vol[32769:32774], vol[32808:32814])
	// Output: 57344 bytes, CD001 volume "cidata"
}
