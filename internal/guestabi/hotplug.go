package guestabi

import (
	"errors"
	"strconv"
	"time"
)

// HotplugParam is the kernel command line parameter of a VM booted
// before its disks exist (a pooled appliance): the agent opens its port
// and answers the host's hello, then waits for hot-plugged disks (see
// HotplugDiskSerial) at most the number of seconds the parameter says,
// and answers requests once they are all there and its root is set up.
// Without the parameter the disks are there at boot, and the hello is
// answered after the setup.
const HotplugParam = "guestinject.hotplug"

// WarmUpParam, set to WarmUpOn beside HotplugParam, makes the agent warm
// up before its hello: it runs a session's setup once on a disk of its
// own, so that under emulation the session that takes the VM does not pay
// the first run of those paths (see the agent's guest.WarmUp).
const (
	WarmUpParam = "guestinject.warmup"
	WarmUpOn    = "1"
)

// maxHotplugWait bounds the wait the parameter may ask for.
const maxHotplugWait = 7 * 24 * time.Hour

// HotplugParamFor is the parameter that makes the agent wait up to wait
// (whole seconds, at least one) for its disks.
func HotplugParamFor(wait time.Duration) string {
	return HotplugParam + "=" + strconv.FormatInt(int64(max(wait.Round(time.Second), time.Second)/time.Second), 10)
}

// ParseHotplugParam decodes the value of HotplugParam; "" means the
// disks are there at boot (on is false).
func ParseHotplugParam(s string) (wait time.Duration, on bool, err error) {
	if s == "" {
		return 0, false, nil
	}
	n, ok := decimal(s)
	if !ok || n == 0 || time.Duration(n)*time.Second > maxHotplugWait {
		return 0, false, errors.New("malformed " + HotplugParam)
	}
	return time.Duration(n) * time.Second, true, nil
}
