package guestabi

// Bounds on a command the agent runs in the guest root (vfs.Command):
// the host refuses to ask for more, the agent refuses requests that do,
// and the host refuses an answer that carries more.
const (
	// MaxCommandOutput bounds the output one answer carries. With JSON's
	// base64 it stays well inside the wire's frame bound.
	MaxCommandOutput = 1 << 20
	// MaxScriptSize bounds a script or command line, which travels in
	// one request frame.
	MaxScriptSize = 1 << 20
	// MaxCommandProcs bounds the processes a command may ask for.
	MaxCommandProcs = 1 << 15
)
