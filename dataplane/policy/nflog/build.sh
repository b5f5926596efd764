#!/usr/bin/env bash
# Builds dataplane/policy/nflog/bin/policyc-nflog (the daemon's NFLOG drop-sample reader; raw
# netlink, no library). Needs a C compiler and the kernel uapi headers (linux-libc-dev).
# CC overrides the compiler. Without it the daemon runs without drop samples.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
mkdir -p "$here/bin"
"${CC:-cc}" -O2 -Wall -Wextra -Werror -std=gnu11 -o "$here/bin/policyc-nflog.tmp" "$here/policyc-nflog.c"
# rename so the daemon never execs a half-written binary
mv -f "$here/bin/policyc-nflog.tmp" "$here/bin/policyc-nflog"
