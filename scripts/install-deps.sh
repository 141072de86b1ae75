#!/usr/bin/env bash
# Installs the system packages guestinject's tests and demo need, on
# Debian/Ubuntu, when they are missing. Idempotent; works as root or with sudo.
set -euo pipefail

# command-or-file  package
needs=(
	qemu-img            qemu-utils
	qemu-system-x86_64  qemu-system-x86
	qemu-storage-daemon qemu-system-common
	mkfs.ext4           e2fsprogs
	debugfs             e2fsprogs
	lvm                 lvm2
	losetup             mount
	mkfs.xfs            xfsprogs
	sfdisk              fdisk
	mkfs.vfat           dosfstools
	mtype               mtools
	mdir                mtools
	fsck.vfat           dosfstools
	blkid               util-linux
	mkfs.btrfs          btrfs-progs
	genisoimage         genisoimage
	isoinfo             genisoimage
	debootstrap         debootstrap
	dpkg-deb            dpkg
	dpkg-scanpackages   dpkg-dev
	ifquery             ifupdown
	netplan             netplan.io
	/usr/lib/python3/dist-packages/yaml python3-yaml
	libvirtd            libvirt-daemon-system
	virtlogd            libvirt-daemon-system
	virsh               libvirt-clients
	/usr/include/libvirt/libvirt.h libvirt-dev
	pkg-config          pkg-config
	openssl             openssl
	python3             python3
	perl                perl-base
	prlimit             util-linux
	setpriv             util-linux
	busybox             busybox-static
	# scripts/build-kernel.sh: the appliance's own kernel
	gcc                 gcc
	make                make
	flex                flex
	bison               bison
	bc                  bc
	xz                  xz-utils
	/usr/include/libelf.h libelf-dev
	/usr/include/openssl/ssl.h libssl-dev
)

# "bench" also installs what only the benchmarks compare against.
if [[ ${1:-} == bench ]]; then
	needs+=(guestfish libguestfs-tools)
fi

missing=()
for ((i = 0; i < ${#needs[@]}; i += 2)); do
	what=${needs[i]} pkg=${needs[i + 1]}
	if [[ $what == /* ]]; then
		[[ -e $what ]] && continue
	else
		command -v "$what" >/dev/null 2>&1 && continue
		# sbin tools are not on every user's PATH.
		[[ -x /usr/sbin/$what || -x /sbin/$what ]] && continue
	fi
	missing+=("$pkg")
done

# The appliance boots a kernel of the host's: one with its modules.
have_kernel=false
for k in /boot/vmlinuz-*; do
	[[ -e $k ]] || continue
	[[ -e /lib/modules/${k#/boot/vmlinuz-}/modules.dep ]] && have_kernel=true
done
kernel_pkg=
if ! $have_kernel; then
	kernel_pkg=kernel
fi

# The source the appliance's own kernel is built from.
source_pkg=
if ! compgen -G '/usr/src/linux-source-*.tar.*' >/dev/null && ! compgen -G '/usr/src/linux-source-*/linux-source-*.tar.*' >/dev/null; then
	source_pkg=linux-source
fi

if ((${#missing[@]} == 0)) && [[ -z $kernel_pkg$source_pkg ]]; then
	exit 0
fi
if ((${#missing[@]})); then
	mapfile -t missing < <(printf '%s\n' "${missing[@]}" | sort -u)
fi

if ! command -v apt-get >/dev/null 2>&1; then
	echo "install-deps: missing packages (${missing[*]}) and no apt-get; install them by hand" >&2
	exit 1
fi
sudo=()
if [[ $(id -u) != 0 ]]; then
	if ! command -v sudo >/dev/null 2>&1; then
		echo "install-deps: need root or sudo to install: ${missing[*]}" >&2
		exit 1
	fi
	sudo=(sudo)
fi
export DEBIAN_FRONTEND=noninteractive
"${sudo[@]}" apt-get update -qq
if [[ -n $kernel_pkg ]]; then
	# A small virtualisation kernel: Debian's cloud flavour, Ubuntu's kvm one.
	for candidate in linux-image-cloud-amd64 linux-image-kvm linux-image-virtual linux-image-amd64 linux-image-generic; do
		if apt-cache show "$candidate" >/dev/null 2>&1; then
			missing+=("$candidate")
			break
		fi
	done
fi
if [[ -n $source_pkg ]]; then
	missing+=("$source_pkg")
fi
echo "install-deps: installing ${missing[*]}" >&2
"${sudo[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
