//go:build unix

package imagecheck

import "syscall"

// syscallNoFollowCtty keeps a terminal path from becoming our controlling
// terminal; regular-file checks happen after open.
const syscallNoFollowCtty = syscall.O_NOCTTY | syscall.O_NONBLOCK
