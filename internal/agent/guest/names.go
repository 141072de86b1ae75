package guest

// RootMount is where the agent mounts the guest root.
const RootMount = "/sysroot"
