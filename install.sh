#!/bin/sh
# Install Conduit: download the release binary for this OS and CPU, check it
# against the release's SHA256SUMS, and put it in ~/.local/bin.
#
#   curl -fsSL https://raw.githubusercontent.com/valohai/conduit/main/install.sh | sh
#   curl -fsSL https://raw.githubusercontent.com/valohai/conduit/main/install.sh | CONDUIT_VERSION=v0.3.0 sh
#
# Environment (all optional):
#   CONDUIT_VERSION        release tag to install (default: the latest release)
#   CONDUIT_INSTALL_DIR    directory to install into (default: ~/.local/bin)
#   CONDUIT_DOWNLOAD_BASE  URL of a directory holding the release files
#                          (conduit-<os>-<arch>[.exe] and SHA256SUMS), for
#                          mirrors and tests; a `make release` dist/ served
#                          over HTTP, or file:///path/to/dist with curl
#
# Release binaries exist for Linux and macOS on amd64 and arm64, and Windows
# on amd64 (Git Bash, MSYS2, Cygwin). Anywhere Go runs:
#   go install github.com/valohai/conduit/cmd/conduit@latest
#
# POSIX sh: needs uname, mktemp, curl or wget, and sha256sum, shasum or
# openssl.

set -eu

repo="valohai/conduit"

say() {
	printf 'conduit install: %s\n' "$*"
}

fail() {
	printf 'conduit install: error: %s\n' "$*" >&2
	exit 1
}

have() {
	command -v "$1" >/dev/null 2>&1
}

# detect_os prints the release name of this operating system.
detect_os() {
	s=$(uname -s) || fail "cannot run uname -s"
	case "$s" in
	Linux) echo linux ;;
	Darwin) echo darwin ;;
	MINGW* | MSYS* | CYGWIN* | Windows_NT) echo windows ;;
	*) fail "unsupported operating system: $s (release binaries: Linux, macOS, Windows). Build from source instead: go install github.com/$repo/cmd/conduit@latest" ;;
	esac
}

# detect_arch prints the release name of this CPU architecture.
detect_arch() {
	m=$(uname -m) || fail "cannot run uname -m"
	case "$m" in
	x86_64 | amd64 | x64) arch=amd64 ;;
	aarch64 | arm64 | armv8*) arch=arm64 ;;
	*) fail "unsupported CPU architecture: $m (release binaries: amd64, arm64). Build from source instead: go install github.com/$repo/cmd/conduit@latest" ;;
	esac
	# A shell under Rosetta 2 reports x86_64 on Apple silicon: prefer the
	# native binary.
	if [ "$arch" = amd64 ] && [ "$1" = darwin ] && [ "$(sysctl -n sysctl.proc_translated 2>/dev/null || true)" = 1 ]; then
		arch=arm64
	fi
	echo "$arch"
}

# download URL FILE fetches URL into FILE, failing on any HTTP error.
download() {
	if have curl; then
		curl -fsSL --retry 2 -o "$2" "$1" || fail "download $1 failed (curl exit status $?)"
	elif have wget; then
		wget -q -O "$2" "$1" || fail "download $1 failed (wget exit status $?)"
	else
		fail "neither curl nor wget is installed: install one of them and run this again"
	fi
}

# sha256 FILE prints FILE's SHA-256 in lowercase hex.
sha256() {
	if have sha256sum; then
		sum=$(sha256sum "$1") || fail "sha256sum $1 failed"
	elif have shasum; then
		sum=$(shasum -a 256 "$1") || fail "shasum -a 256 $1 failed"
	elif have openssl; then
		sum=$(openssl dgst -sha256 -r "$1") || fail "openssl dgst $1 failed"
	else
		fail "no sha256sum, shasum or openssl to verify the download with: install one of them and run this again"
	fi
	echo "${sum%% *}" | tr 'A-F' 'a-f'
}

os=$(detect_os)
arch=$(detect_arch "$os")
name="conduit-$os-$arch"
bin="conduit"
if [ "$os" = windows ]; then
	[ "$arch" = amd64 ] || fail "unsupported platform: windows/$arch (release binaries: windows/amd64). Build from source instead: go install github.com/$repo/cmd/conduit@latest"
	name="$name.exe"
	bin="conduit.exe"
fi

if [ -n "${CONDUIT_DOWNLOAD_BASE:-}" ]; then
	base="${CONDUIT_DOWNLOAD_BASE%/}"
elif [ -n "${CONDUIT_VERSION:-}" ]; then
	base="https://github.com/$repo/releases/download/$CONDUIT_VERSION"
else
	base="https://github.com/$repo/releases/latest/download"
fi

if [ -n "${CONDUIT_INSTALL_DIR:-}" ]; then
	dir="$CONDUIT_INSTALL_DIR"
else
	[ -n "${HOME:-}" ] || fail "HOME is not set: set CONDUIT_INSTALL_DIR to the directory to install into"
	dir="$HOME/.local/bin"
fi

tmp=$(mktemp -d 2>/dev/null || mktemp -d -t conduit-install) || fail "cannot create a temporary directory"
trap 'rm -rf "$tmp"' EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

say "downloading $name from $base"
download "$base/$name" "$tmp/$name"
download "$base/SHA256SUMS" "$tmp/SHA256SUMS"

# SHA256SUMS lines are "<hex>  <name>" (or "<hex> *<name>", binary mode).
want=$(awk -v n="$name" '$2 == n || $2 == "*" n { print tolower($1); exit }' "$tmp/SHA256SUMS")
[ -n "$want" ] || fail "SHA256SUMS at $base has no entry for $name: refusing to install an unverified binary"
got=$(sha256 "$tmp/$name")
if [ "$got" != "$want" ]; then
	fail "checksum mismatch for $name: SHA256SUMS says $want, the download is $got. Nothing was installed; the download may be corrupt or tampered with"
fi
say "checksum OK ($got)"

mkdir -p "$dir" || fail "cannot create $dir: set CONDUIT_INSTALL_DIR to a directory you can write"
# Copy beside the target, then rename over it: a running conduit keeps its
# old file, and no one ever sees half a binary.
part="$dir/.$bin.part.$$"
cp "$tmp/$name" "$part" || fail "cannot write to $dir: set CONDUIT_INSTALL_DIR to a directory you can write"
chmod 755 "$part" || { rm -f "$part"; fail "cannot make $part executable"; }
mv -f "$part" "$dir/$bin" || { rm -f "$part"; fail "cannot replace $dir/$bin"; }

if version=$("$dir/$bin" --version 2>/dev/null); then
	say "installed $version to $dir/$bin"
else
	say "installed $dir/$bin (it did not run here: $name may not suit this machine)"
fi
case ":${PATH:-}:" in
*":$dir:"*) ;;
*) say "$dir is not on your PATH; add it, e.g. in ~/.profile: export PATH=\"$dir:\$PATH\"" ;;
esac
