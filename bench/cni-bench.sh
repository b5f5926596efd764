#!/usr/bin/env bash
# cni-bench.sh — CNI ADD/DEL latency of Debian's bridge+host-local (the reference) and of
# policyc-cni (+ its daemon), back to back in one run, driven as a runtime does: fork+exec
# of the plugin with CNI_* env and the config on stdin, timed with $EPOCHREALTIME.
#
# Usage (root): bash bench/cni-bench.sh [RUNS=50] [MODE=cycle|par]
#   cycle: per run: netns add -> ADD (timed) -> DEL (timed) -> netns del (one live pod),
#          reference and ours interleaved run by run
#   par:   RUNS pods ADDed all at once (each timed), then all DELed at once
#   env: WARMUP (default 5) untimed cycles; REF_DIR (default /usr/lib/cni)
# Prints median/p90 per plugin and the ratio ours/reference. Our DEL replies once the IP is
# released and the veth queued; the kernel teardown (15-40 ms per veth, batched) happens
# after, and its durations are printed from the daemon's log.
#
# Safety: everything runs in a throwaway netns "pcni-bench-<id>-host" (the stand-in node)
# and pod netns "pcni-bench-<id>-<n>"; the root netns is never touched. A trap deletes them
# and stops the daemon by its PID.
set -uo pipefail
RUNS=${1:-${RUNS:-50}}; MODE=${2:-${MODE:-cycle}}; WARMUP=${WARMUP:-5}; REF_DIR=${REF_DIR:-/usr/lib/cni}
REPO=$(cd "$(dirname "$0")/.." && pwd)

if [ "${PCNI_BENCH_INNER:-}" != 1 ]; then
  ID=$(head -c3 /dev/urandom | od -An -tx1 | tr -d ' \n')
  HOSTNS=pcni-bench-$ID-host
  WORK=$(mktemp -d /tmp/pcni-bench.XXXXXX)
  DAEMON_PID=
  cleanup() {
    [ -n "$DAEMON_PID" ] && kill "$DAEMON_PID" 2>/dev/null && wait "$DAEMON_PID" 2>/dev/null
    for n in $(ip netns list | awk -v p="pcni-bench-$ID-" 'index($1,p)==1{print $1}'); do ip netns del "$n"; done
    rm -rf "$WORK"
  }
  trap cleanup EXIT
  [ -x "$REPO/cni/bin/policyc-cni" ] || bash "$REPO/cni/build.sh" || exit 1
  ip netns add "$HOSTNS" || exit 1
  ip -n "$HOSTNS" link set lo up
  cat >"$WORK/ref.json" <<JSON
{"cniVersion":"1.0.0","name":"benchref","type":"bridge","bridge":"pcnibr0","isGateway":true,"ipMasq":false,
 "ipam":{"type":"host-local","dataDir":"$WORK/ref-ipam","ranges":[[{"subnet":"198.18.0.0/20","gateway":"198.18.0.1"}]],
         "routes":[{"dst":"0.0.0.0/0"}]}}
JSON
  cat >"$WORK/ours.json" <<JSON
{"cniVersion":"1.0.0","name":"benchours","type":"policyc-cni","podCIDR":"198.18.16.0/20",
 "daemonSocket":"$WORK/policyc.sock","spoolDir":"$WORK/spool"}
JSON
  # the daemon reaches the bench netns by name (ip -n / setns); started once, like a node agent
  (cd "$REPO" && exec node --import tsx dataplane/daemon/main.ts --state-dir "$WORK/state" --socket "$WORK/policyc.sock" \
     --spool-dir "$WORK/spool" --host-netns "$HOSTNS" >"$WORK/daemon.out" 2>"$WORK/daemon.log") &
  DAEMON_PID=$!
  for _ in $(seq 100); do grep -q ready "$WORK/daemon.out" 2>/dev/null && break; sleep 0.1; done
  grep -q ready "$WORK/daemon.out" || { echo "daemon did not start:"; cat "$WORK/daemon.log"; exit 1; }
  echo "# runs=$RUNS mode=$MODE warmup=$WARMUP kernel=$(uname -r) cpus=$(nproc) load=$(cut -d' ' -f1 /proc/loadavg)"
  PCNI_BENCH_INNER=1 ID=$ID WORK=$WORK RUNS=$RUNS MODE=$MODE WARMUP=$WARMUP REF_DIR=$REF_DIR OURS_BIN=$REPO/cni/bin/policyc-cni \
    nsenter --net="/run/netns/$HOSTNS" "$0" || exit 1
  med() { sort -n "$1" | awk '{a[NR]=$1} END{print (NR%2)?a[(NR+1)/2]:(a[NR/2]+a[NR/2+1])/2}'; }
  for op in add del; do
    awk -v o="$(med "$WORK/ours-$op.txt")" -v r="$(med "$WORK/ref-$op.txt")" -v op="${op^^}" \
      'BEGIN{printf "ratio ours/reference median %s: %.2f (%.2f / %.2f ms)\n", op, o/r, o, r}'
  done
  td=$(grep -o 'teardown: [0-9]* veth(s) in [0-9.]* ms' "$WORK/daemon.log" | awk '{print $5}')
  [ -n "$td" ] && echo "$td" | sort -n | awk '{a[NR]=$1} END{printf "our background veth teardown (per batch, after DEL replied): median %.2f ms over %d batches\n", (NR%2)?a[(NR+1)/2]:(a[NR/2]+a[NR/2+1])/2, NR}'
  exit 0
fi

# ---------- inside the bench host netns ----------
# cycle mode interleaves the two plugins run by run (ref, ours, ref, ours...), so load from
# anything else on the machine falls on both alike.
export CNI_PATH=$REF_DIR CNI_IFNAME=eth0
ms() { awk -v a="$1" -v b="$2" 'BEGIN{printf "%.3f\n",(b-a)*1000}'; }
pod() { echo "pcni-bench-$ID-$1"; }
bin() { if [ "$1" = ref ]; then echo "$REF_DIR/bridge"; else echo "$OURS_BIN"; fi; }

do_add() { # which index
  local t0 t1 b; b=$(bin "$1")
  t0=$EPOCHREALTIME
  CNI_COMMAND=ADD CNI_CONTAINERID=bench-$2 CNI_NETNS=/run/netns/$(pod "$2") "$b" <"$WORK/$1.json" >"$WORK/res.$2" 2>>"$WORK/stderr.$1" \
    || { echo "$1 ADD $2 failed: $(cat "$WORK/res.$2")" >&2; return 1; }
  t1=$EPOCHREALTIME
  # DEL gets prevResult, as a runtime passes the cached result
  jq --slurpfile r "$WORK/res.$2" '. + {prevResult: $r[0]}' "$WORK/$1.json" >"$WORK/prev.$2"
  ms "$t0" "$t1"
}
do_del() {
  local t0 t1 b; b=$(bin "$1")
  t0=$EPOCHREALTIME
  CNI_COMMAND=DEL CNI_CONTAINERID=bench-$2 CNI_NETNS=/run/netns/$(pod "$2") "$b" <"$WORK/prev.$2" >/dev/null 2>>"$WORK/stderr.$1" \
    || { echo "$1 DEL $2 failed" >&2; return 1; }
  t1=$EPOCHREALTIME
  ms "$t0" "$t1"
}
cycle() { # which index [timed]
  ip netns add "$(pod "$2")"
  if [ -n "${3:-}" ]; then do_add "$1" "$2" >>"$WORK/$1-add.txt" && do_del "$1" "$2" >>"$WORK/$1-del.txt"
  else do_add "$1" "$2" >/dev/null && do_del "$1" "$2" >/dev/null; fi
  local rc=$?
  ip netns del "$(pod "$2")"
  return $rc
}
stats() {
  sort -n "$1" | awk -v label="$2" '{a[NR]=$1; s+=$1} END{n=NR; med=(n%2)?a[(n+1)/2]:(a[n/2]+a[n/2+1])/2; p90=a[int(0.9*n+0.999)];
    printf "%-34s n=%d median=%.2f ms p90=%.2f mean=%.2f min=%.2f max=%.2f\n", label, n, med, p90, s/n, a[1], a[n]}'
}
for w in ref ours; do : >"$WORK/$w-add.txt"; : >"$WORK/$w-del.txt"; done
i=0
for ((w = 0; w < WARMUP; w++)); do for which in ref ours; do i=$((i + 1)); cycle $which $i || exit 1; done; done
if [ "$MODE" = par ]; then
  for which in ref ours; do
    first=$((i + 1)); last=$((i + RUNS))
    for ((j = first; j <= last; j++)); do ip netns add "$(pod $j)"; done
    w0=$EPOCHREALTIME
    for ((j = first; j <= last; j++)); do do_add $which $j >"$WORK/t.add.$j" & done; wait
    w1=$EPOCHREALTIME
    for ((j = first; j <= last; j++)); do do_del $which $j >"$WORK/t.del.$j" & done; wait
    w2=$EPOCHREALTIME
    for ((j = first; j <= last; j++)); do cat "$WORK/t.add.$j" >>"$WORK/$which-add.txt"; cat "$WORK/t.del.$j" >>"$WORK/$which-del.txt"; ip netns del "$(pod $j)"; done
    i=$last
    awk -v a="$w0" -v b="$w1" -v c="$w2" -v n="$RUNS" -v w="$which" 'BEGIN{printf "%s burst wall time: %d concurrent ADD %.0f ms, DEL %.0f ms\n", w, n, (b-a)*1000, (c-b)*1000}'
  done
else
  for ((r = 0; r < RUNS; r++)); do for which in ref ours; do i=$((i + 1)); cycle $which $i timed || exit 1; done; done
fi
stats "$WORK/ref-add.txt" "reference bridge+host-local ADD"
stats "$WORK/ref-del.txt" "reference bridge+host-local DEL"
stats "$WORK/ours-add.txt" "policyc-cni ADD"
stats "$WORK/ours-del.txt" "policyc-cni DEL"
for w in ref ours; do [ -s "$WORK/stderr.$w" ] && { echo "$w plugin stderr (first lines):"; head -3 "$WORK/stderr.$w"; }; done
exit 0
