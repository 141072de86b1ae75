package appliance_test

import (
	"context"
	"errors"
	"fmt"
	"log"
	"strings"
	"time"

	"github.com/guestinject/guestinject/appliance"
	"github.com/guestinject/guestinject/vfs"
)

// Inject an SSH key into a raw image and keep the change.
func ExampleOpen() {
	ctx := context.Background()
	s, err := appliance.Open(ctx, []vfs.Disk{{Path: "/var/lib/images/guest.raw", Format: "raw"}})
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

// Bound every call of a session, and tell a VM that stopped answering
// from other failures.
func ExampleWithOperationTimeout() {
	ctx := context.Background() // no deadline: the session's defaults apply
	s, err := appliance.Open(ctx, []vfs.Disk{{Path: "/var/lib/images/guest.qcow2", Format: "qcow2"}},
		appliance.WithOperationTimeout(30*time.Second), appliance.WithCommitTimeout(5*time.Minute))
	if err != nil {
		log.Fatal(err)
	}
	defer s.Close()
	if _, err := s.ReadDir(ctx, "/etc"); err != nil {
		var te *appliance.TimeoutError
		if errors.As(err, &te) {
			log.Fatalf("the VM stopped answering; its console said:\n%s", te.Console)
		}
		log.Fatal(err)
	}
}

// Run QEMU as a user the orchestrator set aside for this session instead
// of a dynamic one (the caller must be root).
func ExampleWithRunAs() {
	ctx := context.Background()
	s, err := appliance.Open(ctx, []vfs.Disk{{Path: "/var/lib/images/guest.raw", Format: "raw"}},
		appliance.WithRunAs(64055, 64055))
	if err != nil {
		log.Fatal(err)
	}
	defer s.Close()
}

// Keep two VMs booted and inject into many images, at most two at a time:
// each injection costs a hot-plug instead of a boot, and each VM serves
// one image only.
func ExampleNewPool() {
	ctx := context.Background()
	pool, err := appliance.NewPool(ctx, 2, appliance.WithMemory(256))
	if err != nil {
		log.Fatal(err)
	}
	defer pool.Close()
	images := []string{"/var/lib/images/a.qcow2", "/var/lib/images/b.qcow2", "/var/lib/images/c.qcow2"}
	slots := make(chan struct{}, 2)
	errs := make(chan error, len(images))
	for _, img := range images {
		slots <- struct{}{}
		go func() {
			defer func() { <-slots }()
			s, err := pool.Open(ctx, []vfs.Disk{{Path: img, Format: "qcow2"}})
			if err != nil {
				errs <- err
				return
			}
			defer s.Close()
			if err := s.WriteFile(ctx, "/etc/hostname", strings.NewReader("web-1\n"), vfs.WriteOptions{Perm: 0o644}); err != nil {
				errs <- err
				return
			}
			errs <- s.Commit(ctx)
		}()
	}
	for range images {
		if err := <-errs; err != nil {
			log.Print(err)
		}
	}
}
