#!/usr/bin/env bash
# Installs the system packages guestinject's tests and demo need, on
# Debian/Ubuntu, when they are missing. Idempotent; works as root or with sudo.
set -euo pipefail

# command-or-file  package
needs=(
	qemu-img            qemu-utils
	openssl             openssl
	python3             python3
	prlimit             util-linux
	setpriv             util-linux
)

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

if ((${#missing[@]} == 0)); then
	exit 0
fi
mapfile -t missing < <(printf '%s\n' "${missing[@]}" | sort -u)

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
echo "install-deps: installing ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
"${sudo[@]}" apt-get update -qq
"${sudo[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
