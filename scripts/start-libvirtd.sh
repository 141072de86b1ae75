#!/usr/bin/env bash
# Starts virtlogd and libvirtd when they are not running, for machines
# without systemd (containers, CI). Idempotent: running daemons are left
# alone. Run as root for qemu:///system.
#
# Libvirt daemonizes every QEMU it starts, so an exited QEMU becomes a
# zombie of the init process until init reaps it, and libvirt waits for
# that before it reports the domain gone. A container's init may reap
# only now and then (a second or more); so the daemons run under a small
# subreaper that collects orphans at once, as systemd would.
set -euo pipefail

mkdir -p /run/libvirt

# alive PIDFILE: the daemon named in PIDFILE runs. Root daemons keep their
# pid files in /run.
alive() {
	[[ -s $1 ]] && kill -0 "$(cat "$1")" 2>/dev/null
}

if ! alive /run/virtlogd.pid || ! alive /run/libvirtd.pid; then
	setsid python3 - >/dev/null 2>&1 <<'PY' &
import ctypes, os, subprocess

PR_SET_CHILD_SUBREAPER = 36
ctypes.CDLL(None, use_errno=True).prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)

def alive(pidfile):
    try:
        os.kill(int(open(pidfile).read().strip()), 0)
        return True
    except (OSError, ValueError):
        return False

daemons = []
for name in ("virtlogd", "libvirtd"):
    if not alive("/run/%s.pid" % name):
        daemons.append(subprocess.Popen(["/usr/sbin/" + name]).pid)
# Reap every child and orphan until the daemons are gone.
while daemons:
    try:
        pid, _ = os.wait()
    except ChildProcessError:
        break
    if pid in daemons:
        daemons.remove(pid)
PY
fi

# Wait until libvirtd answers on its socket.
for _ in $(seq 1 100); do
	if virsh -q -c qemu:///system version >/dev/null 2>&1; then
		exit 0
	fi
	sleep 0.1
done
echo "start-libvirtd: libvirtd did not answer on qemu:///system" >&2
exit 1
