#!/usr/bin/env bash
# Builds dataplane/policy/conntrack/bin/policyc-conntrack (the daemon's long-lived conntrack
# list/delete and local-routes helper for the denied-flow flush). Needs a C compiler,
# libnetfilter_conntrack's headers (Debian libnetfilter-conntrack-dev, in scripts/setup.sh) and
# the kernel's uapi headers for rtnetlink (linux-libc-dev, pulled in by libc6-dev). CC overrides the compiler. Without
# it the flush cannot run: the daemon says so in its log, status and metrics.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
if [ ! -e /usr/include/libnetfilter_conntrack/libnetfilter_conntrack.h ] && ! pkg-config --exists libnetfilter_conntrack 2>/dev/null; then
  echo "conntrack/build.sh: libnetfilter_conntrack headers not found (apt-get install libnetfilter-conntrack-dev, or bash scripts/setup.sh)" >&2
  exit 1
fi
flags=$(pkg-config --cflags --libs libnetfilter_conntrack 2>/dev/null || echo "-lnetfilter_conntrack -lnfnetlink")
mkdir -p "$here/bin"
# shellcheck disable=SC2086 # pkg-config output is a word list
"${CC:-cc}" -O2 -Wall -Wextra -Werror -std=gnu11 -o "$here/bin/policyc-conntrack.tmp" "$here/policyc-conntrack.c" $flags
# rename so the daemon never execs a half-written binary
mv -f "$here/bin/policyc-conntrack.tmp" "$here/bin/policyc-conntrack"
