#!/usr/bin/env bash
# benches/trace.sh: `sockscope trace` against `mtr --report` over a 4-hop chain of namespaces.
#
# What it measures: the wall time of `sockscope trace -c 3 SERVER` next to
# `mtr -n --report -c 3 SERVER`, both run in the client namespace of a chain
# client -> router1 -> router2 -> server, alternating, ROUNDS rounds (default 3); prints each
# time, the medians and their ratio. Target: sockscope under 0.2x of mtr's time. It also checks
# that both list the same hops.
# It is a report: it exits 0 whatever the figures, and 1 only when the setup failed.
#
# How to run (by hand, not in CI; needs root for the namespaces):
#     sudo bash benches/trace.sh
# Knobs (environment): ROUNDS (3), SOCKSCOPE_BIN (use this binary and skip the release build).
# Installs mtr-tiny with apt-get when it is missing.
#
# Network: the addresses (198.18.20-22.0/24) exist only inside the namespaces this script
# makes; nothing leaves the machine. Every loop is bounded; the namespaces and temporary files
# are removed on exit (trap EXIT INT TERM). The lab routers answer every probe
# (icmp_ratelimit=0), so a fast tool is not penalised by Linux's 1-a-second ICMP error limit.

set -euo pipefail

cd "$(dirname "$0")/.."
ROUNDS=${ROUNDS:-3}
TMP=$(mktemp -d /tmp/sockscope-trace-bench.XXXXXX)
ID=$$
C=sstb-$ID-c R1=sstb-$ID-r1 R2=sstb-$ID-r2 S=sstb-$ID-s
cleanup() {
    for n in "$C" "$R1" "$R2" "$S"; do ip netns del "$n" 2>/dev/null || true; done
    rm -rf "$TMP"
}
trap cleanup EXIT INT TERM

if [[ $(id -u) -ne 0 ]]; then
    echo "run as root (sudo): the namespaces need it" >&2
    exit 1
fi
if ! command -v mtr >/dev/null 2>&1; then
    echo "installing mtr-tiny ..."
    apt-get update -qq >/dev/null
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq mtr-tiny >/dev/null
fi

if [[ -n ${SOCKSCOPE_BIN:-} ]]; then
    BIN=$SOCKSCOPE_BIN
else
    export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-/tmp/trace-target}
    cargo build --release --quiet
    BIN=$CARGO_TARGET_DIR/release/sockscope
fi

for n in "$C" "$R1" "$R2" "$S"; do
    ip netns add "$n"
    ip -n "$n" link set lo up
done
link() { # left-ns left-addr right-ns right-addr index
    ip -n "$1" link add "stb${ID}l$5" type veth peer name "stb${ID}r$5" netns "$3"
    ip -n "$1" addr add "$2/24" dev "stb${ID}l$5"
    ip -n "$3" addr add "$4/24" dev "stb${ID}r$5"
    ip -n "$1" link set "stb${ID}l$5" up
    ip -n "$3" link set "stb${ID}r$5" up
}
link "$C" 198.18.20.2 "$R1" 198.18.20.1 0
link "$R1" 198.18.21.1 "$R2" 198.18.21.2 1
link "$R2" 198.18.22.1 "$S" 198.18.22.2 2
ip -n "$C" route add default via 198.18.20.1
ip -n "$R1" route add default via 198.18.21.2
ip -n "$R2" route add default via 198.18.21.1
ip -n "$S" route add default via 198.18.22.1
for n in "$R1" "$R2"; do ip netns exec "$n" sysctl -qw net.ipv4.ip_forward=1; done
for n in "$R1" "$R2" "$S"; do ip netns exec "$n" sysctl -qw net.ipv4.icmp_ratelimit=0; done
SERVER=198.18.22.2

echo "sockscope: $BIN"
echo "mtr:       $(mtr --version 2>&1 | head -1)"
echo "chain:     client -> 198.18.20.1 -> 198.18.21.2 -> $SERVER"
echo

now_ns() { date +%s%N; }
ours=() theirs=()
for ((i = 1; i <= ROUNDS; i++)); do
    t0=$(now_ns)
    ip netns exec "$C" "$BIN" trace -c 3 "$SERVER" >"$TMP/ours.txt" 2>&1 || true
    t1=$(now_ns)
    ip netns exec "$C" mtr -n --report -c 3 "$SERVER" >"$TMP/mtr.txt" 2>&1 || true
    t2=$(now_ns)
    ours+=($(((t1 - t0) / 1000000)))
    theirs+=($(((t2 - t1) / 1000000)))
    printf 'round %d: sockscope trace -c 3: %6d ms   mtr --report -c 3: %6d ms\n' \
        "$i" "${ours[-1]}" "${theirs[-1]}"
done

median() { printf '%s\n' "$@" | sort -n | awk '{ a[NR] = $1 } END { print a[int((NR + 1) / 2)] }'; }
mo=$(median "${ours[@]}")
mm=$(median "${theirs[@]}")
echo
echo "sockscope trace output:"
cat "$TMP/ours.txt"
echo "mtr output:"
cat "$TMP/mtr.txt"
hops_ours=$(awk '/^ *[0-9]+\. / { print $2 }' "$TMP/ours.txt" | paste -sd' ')
hops_mtr=$(awk -F'\\|-- ' 'NF > 1 { split($2, a, " "); print a[1] }' "$TMP/mtr.txt" | paste -sd' ')
echo
echo "hops: sockscope [$hops_ours]  mtr [$hops_mtr]  $([[ $hops_ours == "$hops_mtr" ]] && echo same || echo DIFFERENT)"
ratio=$(awk -v a="$mo" -v b="$mm" 'BEGIN { if (b > 0) printf "%.3f", a / b; else print "n/a" }')
verdict=$(awk -v r="$ratio" 'BEGIN { print (r != "n/a" && r < 0.2) ? "met" : "NOT met" }')
echo "median wall time: sockscope ${mo} ms, mtr ${mm} ms; ratio ${ratio}x (target < 0.2x: ${verdict})"
