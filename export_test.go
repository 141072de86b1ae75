package guestinject

// ApplyAndCommit is InjectImage after the appliance has started, for tests
// that stand a fake session in for the VM.
var ApplyAndCommit = applyAndCommit
