#!/bin/bash
# Puts a quadlet (podman >= 5) binary into the cache the sandbox Quadlets host uses, and prints its path.
# Debian 12's podman 4.3 has no quadlet; Debian 13's podman package carries quadlet 5.x, which runs on Debian 12.
# It is fetched once with 'apt-get download' through a temporary trixie source list (the machine's own mirror),
# then 'dpkg -x'; nothing is installed into the system. A host podman that ships quadlet (>= 4.4:
# /usr/libexec/podman/quadlet, e.g. Fedora, RHEL 9, Debian 13) is used as it is.
# Env: QH_CACHE (default /var/tmp/quadlet-host-cache), QH_QUADLET (use this binary).
set -euo pipefail
CACHE=${QH_CACHE:-/var/tmp/quadlet-host-cache}
log() { printf '%s\n' "$*" >&2; }
if [ -n "${QH_QUADLET:-}" ]; then echo "$QH_QUADLET"; exit 0; fi
if [ -x /usr/libexec/podman/quadlet ]; then echo /usr/libexec/podman/quadlet; exit 0; fi
q=$(ls -d "$CACHE"/quadlet-[0-9]* 2>/dev/null | sort -V | tail -1 || true)
if [ -n "$q" ] && [ -x "$q" ]; then echo "$q"; exit 0; fi
[ "$(id -u)" = 0 ] || { log "install-quadlet: need root (apt-get download into $CACHE)"; exit 1; }
mkdir -p "$CACHE"; T=$(mktemp -d "$CACHE/dl.XXXX"); trap 'rm -rf "$T"' EXIT
U=$(awk '/^URIs:/{print $2; exit}' /etc/apt/sources.list.d/*.sources 2>/dev/null || true)
[ -n "$U" ] || U=$(awk '$1=="deb"{print $2; exit}' /etc/apt/sources.list 2>/dev/null || true)
[ -n "$U" ] || { log "install-quadlet: no Debian mirror found in /etc/apt; set QH_QUADLET to a quadlet binary"; exit 1; }
printf 'Types: deb\nURIs: %s\nSuites: trixie\nComponents: main\nSigned-By: /usr/share/keyrings/debian-archive-keyring.gpg\n' "$U" > "$T/trixie.sources"
mkdir -p "$T/lists/partial" "$T/cache/archives/partial"
A=(-o Dir::Etc::SourceList="$T/trixie.sources" -o Dir::Etc::SourceParts=/dev/null -o Dir::State::Lists="$T/lists"
   -o Dir::Cache="$T/cache" -o APT::Sandbox::User=root -o Debug::NoLocking=1)
log "install-quadlet: fetching Debian trixie's podman .deb (for its quadlet binary) into $CACHE"
apt-get "${A[@]}" -qq update >&2
( cd "$T" && apt-get "${A[@]}" -qq download podman >&2 )
dpkg -x "$T"/podman_*.deb "$T/x"
v=$("$T/x/usr/libexec/podman/quadlet" -version)
install -m 0755 "$T/x/usr/libexec/podman/quadlet" "$CACHE/quadlet-$v"
echo "$CACHE/quadlet-$v"
