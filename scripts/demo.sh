#!/usr/bin/env bash
# guestinject demo: builds a small Debian-like guest image (no download),
# checks it, inspects it, injects an SSH key, a password, a host name and a network
# configuration through the appliance VM with the guestinject command, then
# reads the results back with debugfs (which never mounts) and prints a
# before/after with timings. Run from anywhere in a clone: make demo.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
export PATH="$PATH:/usr/sbin:/sbin"

say() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
fail() { echo "demo: $*" >&2; exit 1; }
now_ms() { date +%s%3N; }
timed() { # timed LABEL CMD...: runs CMD, records its time under LABEL
	local label=$1 start
	shift
	start=$(now_ms)
	"$@"
	timings+=("$(printf '%-34s %6d ms' "$label" $(($(now_ms) - start)))")
}
timings=()

command -v go >/dev/null 2>&1 || fail "the Go toolchain (go 1.25 or newer) is needed: https://go.dev/dl/"

say "Installing what is missing (scripts/install-deps.sh)"
timed "install dependencies" ./scripts/install-deps.sh

work=$(mktemp -d "${TMPDIR:-/tmp}/guestinject-demo.XXXXXX")
trap 'rm -rf "$work"' EXIT

say "Building the guestinject command"
timed "go build" go build -o "$work/guestinject" ./examples/guestinject
gi="$work/guestinject"

say "Building a sample Debian-like guest (mkfs.ext4 -d, no download)"
tree=$work/tree
mkdir -p "$tree"/{etc/network/interfaces.d,root,home/debian,usr/sbin,lib/systemd}
printf 'root:x:0:0:root:/root:/bin/bash\ndebian:x:1000:1000:Debian:/home/debian:/bin/bash\n' >"$tree/etc/passwd"
printf 'root:x:0:\nshadow:x:42:\ndebian:x:1000:\n' >"$tree/etc/group"
printf 'root:*:19000:0:99999:7:::\ndebian:!:19000:0:99999:7:::\n' >"$tree/etc/shadow"
printf 'PRETTY_NAME="Debian GNU/Linux 12 (bookworm)"\nNAME="Debian GNU/Linux"\nVERSION_ID="12"\nID=debian\n' >"$tree/etc/os-release"
printf 'localhost\n' >"$tree/etc/hostname"
printf '127.0.0.1\tlocalhost\n' >"$tree/etc/hosts"
printf 'LABEL=root / ext4 errors=remount-ro 0 1\n' >"$tree/etc/fstab"
printf 'source /etc/network/interfaces.d/*\nauto lo\niface lo inet loopback\n' >"$tree/etc/network/interfaces"
printf '#!/bin/sh\n' >"$tree/usr/sbin/ifup"
: >"$tree/lib/systemd/systemd"
chmod 0755 "$tree/usr/sbin/ifup" "$tree/lib/systemd/systemd"
chmod 0640 "$tree/etc/shadow"
chmod 0700 "$tree/root"
raw=$work/guest.img
qcow=$work/guest.qcow2
mkfs.ext4 -q -F -L root -d "$tree" "$raw" 64M
# mkfs.ext4 -d copies the builder's uid; make the guest's files root's
# (and /etc/shadow group shadow) as in a real image.
{
	(cd "$tree" && find . -mindepth 1) | while read -r p; do
		p=${p#.}
		echo "sif $p uid 0"
		echo "sif $p gid 0"
	done
	echo "sif /etc/shadow gid 42"
	echo "sif /home/debian uid 1000"
	echo "sif /home/debian gid 1000"
} >"$work/owners.debugfs"
debugfs -w -f "$work/owners.debugfs" "$raw" >/dev/null 2>&1
timed "qemu-img convert raw -> qcow2" qemu-img convert -q -f raw -O qcow2 "$raw" "$qcow"
ls -l "$raw" "$qcow" | awk '{print "  " $5 " bytes  " $9}'

say "Checking the images (the format is declared, never probed)"
timed "check raw" "$gi" check "$raw" --format raw
timed "check qcow2" "$gi" check "$qcow" --format qcow2 --max-size 1G
echo
echo "A hostile image: a qcow2 whose header names a host file as its backing file."
qemu-img create -q -f qcow2 -b /etc/shadow -F raw "$work/hostile.qcow2" 1M
set +e
"$gi" check "$work/hostile.qcow2" --format qcow2
status=$?
set -e
[[ $status == 3 ]] || fail "the hostile image was not rejected (exit $status, want 3)"
echo "  -> rejected with exit status 3, as documented"

say "Inspecting the guest in the appliance (read-only)"
timed "inspect (appliance)" "$gi" inspect "$qcow" --format qcow2 >"$work/inspect.txt"
sed 's/^/  /' "$work/inspect.txt"
grep -qi 'debian' "$work/inspect.txt" || fail "inspect did not find the Debian guest"

say "What to inject"
if command -v ssh-keygen >/dev/null 2>&1; then
	ssh-keygen -q -t ed25519 -N '' -C demo@guestinject -f "$work/id_ed25519"
else
	echo "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl demo@guestinject" >"$work/id_ed25519.pub"
fi
umask 077
echo "demo-password-$RANDOM$RANDOM" >"$work/password"
cat >"$work/network.yaml" <<'YAML'
interfaces:
  - name: eth0
    addresses: [192.0.2.10/24]
    gateway4: 192.0.2.1
dns:
  servers: [192.0.2.53]
  search: [example.com]
YAML
echo "  key:      $(cut -c1-60 "$work/id_ed25519.pub")..."
echo "  password: from a file (never on the command line)"
echo "  hostname: demo-web-1"
echo "  network:  eth0 192.0.2.10/24 via 192.0.2.1 (network.yaml)"

# readback IMAGE.qcow2 PATH: the file as the guest will see it, read by
# debugfs from a raw copy.
readback() {
	qemu-img convert -q -f qcow2 -O raw "$qcow" "$work/readback.img"
	debugfs -R "cat $1" "$work/readback.img" 2>/dev/null
}
snapshot() { # snapshot FILE: the facts the demo compares
	{
		echo "hostname:        $(readback /etc/hostname)"
		echo "root password:   $(readback /etc/shadow | awk -F: '$1 == "root" {print substr($2, 1, 12) "..."}')"
		echo "authorized_keys: $(readback /root/.ssh/authorized_keys | cut -c1-40)"
		echo "network:         $(readback /etc/network/interfaces.d/50-guestinject | awk '/address/ {print $2}' | paste -sd' ')"
	} >"$1"
}
snapshot "$work/before"

say "Dry run: the plan, with the image opened read-only"
sum_before=$(sha256sum "$qcow" | cut -d' ' -f1)
timed "inject --dry-run (appliance)" "$gi" inject "$qcow" --format qcow2 --dry-run \
	--ssh-key "root:$work/id_ed25519.pub" --password "root:$work/password" \
	--hostname demo-web-1 --network "$work/network.yaml"
[[ $(sha256sum "$qcow" | cut -d' ' -f1) == "$sum_before" ]] || fail "--dry-run changed the image"
echo "  -> the image is byte-for-byte unchanged"

say "Injecting through the appliance VM"
timed "inject (appliance, commit)" "$gi" inject "$qcow" --format qcow2 \
	--ssh-key "root:$work/id_ed25519.pub" --password "root:-" \
	--hostname demo-web-1 --network "$work/network.yaml" <"$work/password"

say "Reading the results back with debugfs"
snapshot "$work/after"
grep -q 'demo-web-1' "$work/after" || fail "host name not found in the image"
readback /root/.ssh/authorized_keys | grep -qF "$(cut -d' ' -f2 "$work/id_ed25519.pub")" || fail "key not found in the image"
readback /etc/shadow | grep -q '^root:\$6\$' || fail "root password not set"
readback /etc/network/interfaces.d/50-guestinject | grep -q '192.0.2.10' || fail "network configuration not found"
paste -d'\n' /dev/null "$work/before" "$work/after" | awk '
	NR % 3 == 2 { before = $0 }
	NR % 3 == 0 { split(before, b, ": *"); split($0, a, ": *"); printf "  %-16s before: %-28s after: %s\n", b[1], (b[2] == "" ? "(none)" : b[2]), a[2] }'

say "Timings"
printf '  %s\n' "${timings[@]}"
echo
echo "demo: success"
