#!/usr/bin/env bash
# Builds the C programs into cni/bin/:
#   policyc-cni   the CNI plugin (a thin client of the policyc daemon)
#   policyc-wire  the daemon's netlink worker (pod wiring without a process start per ADD)
# Usage: bash cni/build.sh   (from anywhere; CC overrides the compiler, default cc)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
mkdir -p "$here/bin"
for prog in policyc-cni policyc-wire; do
  "${CC:-cc}" -O2 -Wall -Wextra -Werror -std=gnu11 -o "$here/bin/$prog.tmp" "$here/plugin/$prog.c"
  # rename so a runtime never execs a half-written binary
  mv -f "$here/bin/$prog.tmp" "$here/bin/$prog"
done
