package vfs

import (
	"io/fs"
	"strings"
)

// MaxPathLen bounds the length of a guest path, as PATH_MAX does on Linux.
const MaxPathLen = 4095

// MaxNameLen bounds one path component, as NAME_MAX does on Linux.
const MaxNameLen = 255

// CheckPath reports whether name is a valid guest path: absolute, clean (no
// ".", "..", empty or trailing components), free of NUL bytes, at most
// MaxPathLen bytes with no component over MaxNameLen. The error is an
// *fs.PathError wrapping ErrInvalidPath for op and name.
func CheckPath(op, name string) error {
	if why := pathProblem(name); why != "" {
		return &fs.PathError{Op: op, Path: name, Err: &invalidPathError{why: why}}
	}
	return nil
}

// ValidPath reports whether CheckPath accepts name.
func ValidPath(name string) bool { return pathProblem(name) == "" }

type invalidPathError struct{ why string }

func (e *invalidPathError) Error() string        { return ErrInvalidPath.Error() + ": " + e.why }
func (e *invalidPathError) Is(target error) bool { return target == ErrInvalidPath }

func pathProblem(name string) string {
	switch {
	case name == "":
		return "empty"
	case name[0] != '/':
		return "not absolute"
	case len(name) > MaxPathLen:
		return "too long"
	case strings.IndexByte(name, 0) >= 0:
		return "contains NUL"
	case name == "/":
		return ""
	case name[len(name)-1] == '/':
		return "trailing slash"
	}
	for elem := range strings.SplitSeq(name[1:], "/") {
		switch {
		case elem == "":
			return "empty component"
		case elem == "." || elem == "..":
			return "contains " + elem
		case len(elem) > MaxNameLen:
			return "component too long"
		}
	}
	return ""
}

// Split splits a valid guest path into its parent directory and final
// component: Split("/etc/passwd") is ("/etc", "passwd"), Split("/etc") is
// ("/", "etc") and Split("/") is ("/", "").
func Split(name string) (dir, base string) {
	i := strings.LastIndexByte(name, '/')
	if i <= 0 {
		return "/", name[i+1:]
	}
	return name[:i], name[i+1:]
}

// Join joins a valid guest directory path and a single component.
func Join(dir, elem string) string {
	if dir == "/" {
		return "/" + elem
	}
	return dir + "/" + elem
}

// Components returns the components of a valid guest path in order; "/" has
// none.
func Components(name string) []string {
	if name == "/" {
		return nil
	}
	return strings.Split(name[1:], "/")
}
