package appliance_test

import (
	"context"
	"fmt"
	"log"
	"strings"

	"github.com/guestinject/guestinject/appliance"
	"github.com/guestinject/guestinject/vfs"
)

// Inject an SSH key into a raw image and keep the change.
func ExampleOpen() {
	ctx := context.Background()
	s, err := appliance.Open(ctx, []appliance.Disk{{Path: "/var/lib/images/guest.raw", Format: "raw"}})
	if err != nil {
		log.Fatal(err)
	}
	defer s.Close() // after Commit, does nothing; without it, discards every change
	if err := s.MkdirAll(ctx, "/root/.ssh", 0o700); err != nil {
		log.Fatal(err)
	}
	key := strings.NewReader("ssh-ed25519 AAAAC3Nza... admin@example\n")
	if err := s.WriteFile(ctx, "/root/.ssh/authorized_keys", key, vfs.WriteOptions{Perm: 0o600, UID: 0, GID: 0, Policy: vfs.Append}); err != nil {
		log.Fatal(err)
	}
	if err := s.Commit(ctx); err != nil {
		log.Fatal(err)
	}
	fmt.Println("injected")
}
