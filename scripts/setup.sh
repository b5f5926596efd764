#!/usr/bin/env bash
# Installs the Debian packages policyc's tests and dataplane need (root). Idempotent and quick
# when everything is already there. Node.js 20 and npm are expected on the machine.
set -euo pipefail

packages=(
  nftables iproute2           # the nftables dataplane and network namespaces
  clang llvm libbpf-dev bpftool   # tc-eBPF programs
  containernetworking-plugins     # Debian's reference CNI plugins (chaining, comparison)
  podman runc busybox-static      # podman as a real CNI runtime, with a busybox rootfs
  jq gcc libc6-dev iptables util-linux  # the CNI benchmark; our C CNI client and netlink helper; portmap needs iptables; nsenter
  libnetfilter-conntrack-dev      # policyc-conntrack: the policy engine deletes conntrack entries of flows a change denies
  conntrack                       # the conntrack tool: the flush's tests and bench/conntrack-flush.ts (baseline)
)

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ "${#missing[@]}" -gt 0 ]; then
  if [ "$(id -u)" != 0 ]; then
    echo "setup: need root to install: ${missing[*]}" >&2
    exit 1
  fi
  echo "setup: installing ${missing[*]}" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
