// Command libvirtdomain authorizes an SSH public key for a user of a
// defined, shut-off libvirt domain:
//
//	libvirtdomain [-c URI] DOMAIN USER KEYFILE
//
// The domain's XML names its disks and declares their formats; each image
// is checked against its declared format, and all of them are opened in
// one single-use appliance VM, itself a transient libvirt domain. A
// running domain is refused, and on any error the images are unchanged.
// It needs cgo and the libvirt headers, like appliance/libvirt.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/guestinject/guestinject/appliance/libvirt"
	"github.com/guestinject/guestinject/inject"
)

func main() {
	uri := flag.String("c", "", "libvirt connection URI (default qemu:///system for root, qemu:///session otherwise)")
	flag.Parse()
	if flag.NArg() != 3 {
		fmt.Fprintln(os.Stderr, "usage: libvirtdomain [-c URI] DOMAIN USER KEYFILE")
		os.Exit(2)
	}
	key, err := os.ReadFile(flag.Arg(2))
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if err := authorizeKey(ctx, *uri, flag.Arg(0), flag.Arg(1), strings.TrimSpace(string(key))); err != nil {
		fmt.Fprintln(os.Stderr, "libvirtdomain:", err)
		os.Exit(1)
	}
}

// authorizeKey adds key to user's ~/.ssh/authorized_keys in the guest of
// the shut-off domain.
func authorizeKey(ctx context.Context, uri, domain, user, key string) error {
	guest, err := libvirt.OpenDomain(ctx, uri, domain)
	if errors.Is(err, libvirt.ErrDomainActive) {
		return fmt.Errorf("%w: shut the domain down first", err)
	}
	if err != nil {
		return err
	}
	defer guest.Close() // without Commit, this discards every change

	report, err := inject.Apply(ctx, guest, inject.Spec{
		SSHKeys: []inject.SSHKeys{{User: user, Keys: []string{key}}},
	})
	if err != nil {
		return err
	}
	// Commit refuses if the domain was started meanwhile.
	if err := guest.Commit(ctx); err != nil {
		return err
	}
	for _, c := range report.Changes {
		fmt.Printf("%s %s %s\n", c.Action, c.Path, inject.OctalMode(c.Mode))
	}
	return nil
}
