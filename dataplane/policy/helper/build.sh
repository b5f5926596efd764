#!/usr/bin/env bash
# Builds dataplane/policy/helper/bin/policyc-nft (the engine's libnftables worker, and its raw
# nfnetlink paths: element batches, element-batch.c; rule counters, rule-counters.c). Needs a
# C compiler, the runtime libnftables.so.1 (no -dev headers) and the kernel's uapi headers for nfnetlink/nf_tables
# (linux-libc-dev, pulled in by libc6-dev). CC overrides the compiler.
# Without it the engine runs `nft` once per batch (works, ~2.5x slower on the one-pod path).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
mkdir -p "$here/bin"
"${CC:-cc}" -O2 -Wall -Wextra -Werror -std=gnu11 -o "$here/bin/policyc-nft.tmp" "$here/policyc-nft.c" "$here/element-batch.c" "$here/rule-counters.c" -l:libnftables.so.1
mv -f "$here/bin/policyc-nft.tmp" "$here/bin/policyc-nft"
