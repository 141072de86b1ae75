//go:build !unix

package imagecheck

const syscallNoFollowCtty = 0
