package appliance

import (
	"net"
	"os"
	"path/filepath"
	"strconv"

	"golang.org/x/sys/unix"
)

// maxSocketPath is the longest path a unix socket address holds
// (sun_path, 108 bytes with its terminating NUL).
const maxSocketPath = 107

// onSocketPath calls f with a name for the unix socket path that fits a
// socket address: path itself when it is short enough, else the socket's
// name under /proc/self/fd of its directory, held open meanwhile.
func onSocketPath(path string, f func(name string) error) error {
	if len(path) <= maxSocketPath {
		return f(path)
	}
	dir, err := os.OpenFile(filepath.Dir(path), unix.O_PATH|unix.O_DIRECTORY|unix.O_NOFOLLOW, 0)
	if err != nil {
		return err
	}
	defer dir.Close()
	return f("/proc/self/fd/" + strconv.Itoa(int(dir.Fd())) + "/" + filepath.Base(path))
}

// listenUnix listens on a new unix socket at path, however long. The
// socket file stays when the listener closes.
func listenUnix(path string) (*net.UnixListener, error) {
	var ln *net.UnixListener
	err := onSocketPath(path, func(name string) (err error) {
		ln, err = net.ListenUnix("unix", &net.UnixAddr{Name: name, Net: "unix"})
		return err
	})
	if err != nil {
		return nil, err
	}
	ln.SetUnlinkOnClose(false)
	return ln, nil
}

// dialUnix connects to the unix socket at path, however long.
func dialUnix(path string) (*net.UnixConn, error) {
	var c *net.UnixConn
	err := onSocketPath(path, func(name string) (err error) {
		c, err = net.DialUnix("unix", nil, &net.UnixAddr{Name: name, Net: "unix"})
		return err
	})
	return c, err
}
