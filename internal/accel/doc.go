// Package accel decides which accelerator the appliance's VMs run under:
// KVM when a boot has proven it runs the appliance kernel on this host,
// TCG otherwise.
//
// # Why a proof
//
// A /dev/kvm that exists and opens proves little. A PVM hypervisor
// (kvm_pvm) serves /dev/kvm but runs only guest kernels built for it; a
// broken nested setup initialises and then fails at the first exit. QEMU's
// "accel=kvm:tcg" falls back only when KVM fails to initialise, so such a
// host stops the stock appliance kernel in a KVM internal error and QEMU
// waits forever with a paused VM. The decision therefore has two steps:
// cheap checks (a vendor module is loaded, the device opens read-write
// for QEMU's user, KVM_GET_API_VERSION is 12, KVM_CREATE_VM works), then,
// once per (kernel, QEMU binary, boot id, KVM modules), a real boot that
// must reach the agent's hello within ProbeTimeout while QEMU's output is
// watched for KVM's failure reports. The verdict is cached atomically in
// the per-user cache, so only the first session on a host pays.
package accel
