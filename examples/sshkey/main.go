// Command sshkey authorizes an SSH public key for a user of a guest disk
// image, the smallest complete use of guestinject:
//
//	sshkey IMAGE FORMAT USER KEYFILE
//
// It checks the image against its declared format, opens it in a
// single-use appliance VM, adds the key to the user's authorized_keys and
// commits. On any error the image is left unchanged.
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

func main() {
	if len(os.Args) != 5 {
		fmt.Fprintln(os.Stderr, "usage: sshkey IMAGE FORMAT USER KEYFILE")
		os.Exit(2)
	}
	key, err := os.ReadFile(os.Args[4])
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if err := authorizeKey(ctx, os.Args[1], os.Args[2], os.Args[3], strings.TrimSpace(string(key))); err != nil {
		fmt.Fprintln(os.Stderr, "sshkey:", err)
		os.Exit(1)
	}
}

// authorizeKey adds key to user's ~/.ssh/authorized_keys in the image.
func authorizeKey(ctx context.Context, image, format, user, key string) error {
	declared, err := imagecheck.ParseFormat(format)
	if err != nil {
		return err
	}
	// Open refuses an image that is not what it claims, or names host
	// files, before anything else reads it.
	guest, err := guestinject.Open(ctx, vfs.Disk{Path: image, Format: declared})
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
	if err := guest.Commit(ctx); err != nil {
		return err
	}
	for _, c := range report.Changes {
		fmt.Printf("%s %s %s\n", c.Action, c.Path, inject.OctalMode(c.Mode))
	}
	return nil
}
