#!/usr/bin/env bash
# Builds the small C programs: the CNI plugin and its netlink worker (always), and the policy
# engine's libnftables worker (when libnftables is installed; without it the engine runs `nft`).
set -euo pipefail
cd "$(dirname "$0")/.."
bash cni/build.sh
bash dataplane/policy/nflog/build.sh
bash dataplane/policy/conntrack/build.sh
if ldconfig -p 2>/dev/null | grep -q 'libnftables\.so\.1'; then
  bash dataplane/policy/helper/build.sh
else
  echo "build-native: libnftables.so.1 not found (apt-get install nftables); the daemon will run nft per batch" >&2
fi
