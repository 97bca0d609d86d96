#!/usr/bin/env bash
# Prepares a Debian 12 machine for crisp: the system packages it drives or tests against, and npm deps.
# Idempotent: apt runs only when a package is missing. Needs root.
set -euo pipefail
cd "$(dirname "$0")/.."

PACKAGES=(
  containerd runc containernetworking-plugins iproute2 iptables   # what crisp drives
  docker-registry apache2-utils busybox-static gcc libc6-dev  # test registry, htpasswd, test images
  golang-go golang-google-grpc-dev  # a grpc-go client, as kubelet's, for the gRPC server's interop test
)

missing=()
for p in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" != 0 ]; then
    echo "setup: missing Debian packages (${missing[*]}); run as root" >&2
    exit 1
  fi
  echo "setup: installing ${missing[*]}"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# Debian's docker-registry package starts a registry on :5000 when it can; tests run their own.
if command -v systemctl >/dev/null 2>&1 && systemctl is-active --quiet docker-registry 2>/dev/null; then
  systemctl disable --now docker-registry >/dev/null 2>&1 || true
fi

if [ ! -f node_modules/.package-lock.json ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  npm ci --no-audit --no-fund
fi
