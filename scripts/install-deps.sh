#!/bin/bash
# Installs everything the tests, the sandbox and the benchmarks need on a fresh Debian 12 machine:
# Debian packages (PostgreSQL, Redis, Podman and friends), then the npm packages from the lock file.
set -euo pipefail
cd "$(dirname "$0")/.."

# ansible-core: the reference for inventories and host patterns (fleet client tests), and
# ansible-lint for the flightctl.restore collection;
# rpm, rpm2cpio, cpio: building and inspecting the RPM (npm run package and its tests); openssl: TLS tests;
# libfaketime: the agent's wall clock moved under a run (fault tests).
PACKAGES=(postgresql redis-server podman runc busybox-static netavark aardvark-dns iptables ansible-core ansible-lint rpm rpm2cpio cpio openssl libfaketime)
missing=()
for p in "${PACKAGES[@]}"; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
if ((${#missing[@]})); then
  if [ "$(id -u)" != 0 ]; then echo "install-deps: need root to apt-get install ${missing[*]}" >&2; exit 1; fi
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
# quadlet (podman >= 5) for the sandbox Quadlets host: Debian 12's podman 4.3 has none (downloaded once, cached).
scripts/install-quadlet.sh >/dev/null
# Debian starts the packaged servers; the tests run their own throwaway ones on random ports.
npm ci --no-audit --no-fund --loglevel=error
npm run build --silent
# The benchmarks and the sandbox (test/harness) build on their own: the production build is src/ only.
npm run build:tools --silent
