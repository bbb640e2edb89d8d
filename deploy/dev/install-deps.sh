#!/usr/bin/env bash
# Installs the Debian packages the stack needs to build, run and test, and
# nothing when they are all there already.
#   install-deps.sh              build, run, test (make run, make test)
#   install-deps.sh containers   also podman and what make compose-test needs
#   install-deps.sh --bench      also nginx, for make bench-engine
set -euo pipefail
pkgs=(build-essential pkg-config protobuf-c-compiler libprotobuf-c-dev
      libzmq3-dev libczmq-dev libmicrohttpd-dev libpq-dev libjansson-dev
      libcurl4-openssl-dev libssl-dev uuid-dev postgresql postgresql-client
      curl wrk nodejs procps iproute2 util-linux mount pgbouncer)
if [ "${1:-}" = containers ]; then
    # runc: crun 1.8 refuses this machine's cgroup v1/v2 hybrid; iptables:
    # netavark's firewall; mmdebstrap: base images from the apt mirror, no registry
    pkgs+=(podman buildah podman-compose runc netavark aardvark-dns iptables mmdebstrap
           procps)
fi
# `install-deps.sh --bench`: also what `make bench-engine` compares against
# (Debian's nginx as a reverse proxy, started by the bench on 127.0.0.1 only).
[ "${1:-}" = --bench ] && pkgs+=(nginx-light)
missing=()
for p in "${pkgs[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
# Node.js may come from outside apt (as on the dev image); accept any node >= 18.
if command -v node >/dev/null 2>&1; then
    missing=("${missing[@]/nodejs}")
fi
missing=($(printf '%s\n' "${missing[@]}" | grep -v '^$' || true))
[ ${#missing[@]} -eq 0 ] && exit 0
echo "install-deps: installing ${missing[*]}" >&2
if [ "$(id -u)" -ne 0 ]; then SUDO=sudo; else SUDO=; fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
# No package may start a system service here (nginx would take port 80).
policy=/usr/sbin/policy-rc.d
if [ ! -e "$policy" ]; then
    printf '#!/bin/sh\nexit 101\n' | $SUDO tee "$policy" >/dev/null && $SUDO chmod +x "$policy"
    trap '$SUDO rm -f "$policy"' EXIT
fi
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
