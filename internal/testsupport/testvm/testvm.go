// Package testvm holds what the tests that boot a VM of their own, one
// that runs no agent, share.
package testvm

import (
	"testing"

	"github.com/guestinject/guestinject/internal/accel"
)

// Accelerator is the appliance's decision for this kernel and QEMU, for a
// test VM that runs no agent and so cannot prove KVM itself: KVM only
// once an appliance session has proven it on this host, TCG otherwise.
func Accelerator(t testing.TB, kernel, qemu string) string {
	t.Helper()
	mode, err := accel.ModeFromEnv()
	if err != nil {
		t.Fatal(err)
	}
	d, err := accel.Decide(mode, accel.Inputs{Kernel: kernel, QEMU: qemu})
	if err != nil {
		t.Fatal(err)
	}
	if d.NeedsProof {
		return "tcg"
	}
	return d.Accel
}
