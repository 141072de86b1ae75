package guestinject_test

import (
	"context"
	"fmt"
	"log"
	"time"

	"github.com/guestinject/guestinject"
	"github.com/guestinject/guestinject/imagecheck"
	"github.com/guestinject/guestinject/inject"
	"github.com/guestinject/guestinject/vfs"
)

// The main job: check an untrusted image, then put a key, a password, a
// hostname and a file into it through a throwaway VM.
func Example() {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()

	// The image is checked first: anything that is not what it claims to
	// be, names host files or is too big is refused before anything reads it.
	report, err := guestinject.InjectImage(ctx, vfs.Disk{Path: "guest.qcow2", Format: imagecheck.QCOW2}, inject.Spec{
		SSHKeys:   []inject.SSHKeys{{User: "root", Keys: []string{"ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl admin"}}},
		Passwords: []inject.Password{{User: "root", Plaintext: "correct horse battery staple"}},
		Hostname:  "web-1",
		Files:     []inject.File{{Path: "/etc/motd", Content: []byte("managed\n"), Mode: 0o644}},
	})
	if err != nil {
		log.Fatal(err) // the image is unchanged
	}
	for _, c := range report.Changes {
		fmt.Println(c.Action, c.Path)
	}
}
