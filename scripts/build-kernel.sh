#!/usr/bin/env bash
# Builds the appliance's own kernel from the distribution's kernel source
# (/usr/src/linux-source-*.tar.*, Debian's and Ubuntu's linux-source
# package) with scripts/kernel/appliance.config, everything built in, and
# installs it into the appliance's cache, where initramfs.Build prefers it
# to the host's kernels:
#
#   <cache>/kernel/boot/vmlinuz-<version>
#   <cache>/kernel/boot/config-<version>
#   <cache>/kernel/lib/modules/<version>/modules.builtin  (and an empty modules.dep)
#
# <cache> is the first argument, or os.UserCacheDir()/guestinject as the
# library computes it. A build whose source, configuration and script are
# those of the installed kernel is skipped. Builds with every core, at
# the lowest CPU priority.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
fragment=$here/kernel/appliance.config
cache=${1:-${XDG_CACHE_HOME:-$HOME/.cache}/guestinject}
dest=$cache/kernel

# Debian puts the tarball in /usr/src, Ubuntu in a directory of its own.
shopt -s nullglob
sources=(/usr/src/linux-source-*.tar.{xz,bz2} /usr/src/linux-source-*/linux-source-*.tar.{xz,bz2})
shopt -u nullglob
if ((${#sources[@]} == 0)); then
	echo "build-kernel: no /usr/src/linux-source-*.tar.*: install the linux-source package (make deps does)" >&2
	exit 1
fi
source_tar=$(printf '%s\n' "${sources[@]}" | sort -V | tail -n 1)

layout=1
stamp=$( { echo "layout $layout"; sha256sum <"$fragment"; stat -c '%n %s %Y' "$source_tar"; } | sha256sum | cut -c1-64)
if [[ -f $dest/stamp && $(<"$dest/stamp") == "$stamp" ]]; then
	echo "build-kernel: $dest is up to date" >&2
	exit 0
fi

work=$(mktemp -d "${TMPDIR:-/var/tmp}/guestinject-kernel.XXXXXX")
new=
trap 'rm -rf "$work" ${new:+"$new" "$new.old"}' EXIT
echo "build-kernel: unpacking $source_tar" >&2
tar -C "$work" -xf "$source_tar"
src=$(find "$work" -mindepth 1 -maxdepth 1 -type d -name 'linux-source-*' | head -n 1)
cd "$src"

# allnoconfig, then the fragment's values, then the defaults of whatever
# those values make possible (olddefconfig), as scripts/config would.
make -s allnoconfig
scripts/kconfig/merge_config.sh -m .config "$fragment" >/dev/null
make -s olddefconfig
# Kconfig drops silently what it cannot have (a dependency unmet); the
# appliance would then lack it at run time. Fail here instead. An option
# this kernel version does not know at all (removed or not yet there) is
# only reported.
bad=()
while IFS= read -r line; do
	case $line in
	CONFIG_*=*)
		grep -qxF -- "$line" .config && continue
		opt=${line%%=*}
		got=$(grep -E "^(# )?$opt[= ]" .config || echo absent)
		;;
	"# CONFIG_"*" is not set")
		opt=${line#\# }
		opt=${opt%% *}
		got=$(grep "^$opt=" .config) || continue
		;;
	*) continue ;;
	esac
	if grep -rqE --include='Kconfig*' "^(menu)?config ${opt#CONFIG_}[[:space:]]*$" .; then
		bad+=("$line (got: $got)")
	else
		echo "build-kernel: this kernel has no ${opt#CONFIG_}; leaving it out" >&2
	fi
done <"$fragment"
if ((${#bad[@]})); then
	printf 'build-kernel: %s\n' "this kernel source does not take these values of $fragment:" "${bad[@]}" >&2
	exit 1
fi

echo "build-kernel: building with $(nproc) jobs" >&2
start=$SECONDS
nice -n 19 make -s -j"$(nproc)" bzImage
version=$(make -s kernelrelease)

mkdir -p -m 0700 "$cache"
new=$(mktemp -d "$cache/kernel.new.XXXXXX")
install -D -m 0644 arch/x86/boot/bzImage "$new/boot/vmlinuz-$version"
install -D -m 0644 .config "$new/boot/config-$version"
install -D -m 0644 modules.builtin "$new/lib/modules/$version/modules.builtin"
: >"$new/lib/modules/$version/modules.dep"
echo "$stamp" >"$new/stamp"
chmod 0755 "$new"
# Replace the old tree in two renames: a session that starts between
# them finds no own kernel and boots the host's.
if [[ -d $dest ]]; then
	mv "$dest" "$new.old"
fi
mv "$new" "$dest"
rm -rf "$new.old"
echo "build-kernel: installed $dest/boot/vmlinuz-$version ($((SECONDS - start)) s)" >&2
