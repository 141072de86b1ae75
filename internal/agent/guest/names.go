package guest

// PortName is the name of the virtio-serial port the agent serves on.
const PortName = "org.guestinject.agent.0"

// RootMount is where the agent mounts the guest root.
const RootMount = "/sysroot"

// DebugParam is the kernel command line parameter that makes the agent
// print the time each setup step took to the console.
const DebugParam = "guestinject.debug"
