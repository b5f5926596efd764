#!/usr/bin/env bash
# Builds the CNI plugin binary (a thin C client of the policyc daemon) into cni/bin/.
# Usage: bash cni/build.sh   (from anywhere; CC overrides the compiler, default cc)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
mkdir -p "$here/bin"
"${CC:-cc}" -O2 -Wall -Wextra -Werror -std=c11 -o "$here/bin/policyc-cni.tmp" "$here/plugin/policyc-cni.c"
# rename so a runtime never execs a half-written binary
mv -f "$here/bin/policyc-cni.tmp" "$here/bin/policyc-cni"
