#!/usr/bin/env bash
# benches/capture.sh: capture benchmark of sockscope against tcpdump (libpcap, TPACKET_V3).
#
# What it measures, side by side, alternating tcpdump and sockscope, ROUNDS rounds (default 2):
#   1. Burst: COUNT (default 1,000,000) UDP datagrams of 18 bytes sent with sendmmsg to a port
#      on 127.0.0.1 (benches/udp_burst.rs), captured with `-i lo -w FILE 'udp port P'`.
#      Reports the packets each wrote to its pcap (counted by tcpdump -r), the drops each reported,
#      and for sockscope whether written + dropped = sent (its drop count is the kernel's
#      PACKET_STATISTICS). Target: sockscope writes at least as many as tcpdump (goal: all).
#   2. No match: the same burst with a filter that matches nothing (`udp port Q`): CPU time
#      (user+system, from /proc/PID/stat) of each capture process. Target: sockscope's CPU at
#      most tcpdump's + 0.05 s (the kernel BPF filter must discard everything).
# It is a report: it exits 0 whatever the figures, and 1 only when the setup failed.
#
# How to run (by hand, not in CI; capturing needs root):
#     sudo bash benches/capture.sh
# Knobs (environment): ROUNDS (2), COUNT (1000000), SOCKSCOPE_BIN (use this binary and skip the
# release build). Installs tcpdump with apt-get when it is missing.
#
# Network: only 127.0.0.1 is sent to; nothing leaves the machine. Every loop is bounded in count
# and time; temporary files are removed on exit (trap EXIT INT TERM).

set -euo pipefail

cd "$(dirname "$0")/.."
ROUNDS=${ROUNDS:-2}
COUNT=${COUNT:-1000000}
TMP=$(mktemp -d /tmp/sockscope-capture-bench.XXXXXX)
CAP_PID=
cleanup() {
    [[ -n $CAP_PID ]] && kill -9 "$CAP_PID" 2>/dev/null || true
    rm -rf "$TMP"
}
trap cleanup EXIT INT TERM

if [[ $(id -u) -ne 0 ]]; then
    echo "run as root (sudo): capturing needs CAP_NET_RAW" >&2
    exit 1
fi
if ! command -v tcpdump >/dev/null 2>&1; then
    echo "installing tcpdump ..."
    apt-get update -qq >/dev/null
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq tcpdump >/dev/null
fi

export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-/tmp/capture-target}
if [[ -n ${SOCKSCOPE_BIN:-} ]]; then
    BIN=$SOCKSCOPE_BIN
else
    cargo build --release --quiet
    BIN=$CARGO_TARGET_DIR/release/sockscope
fi
cargo bench --bench udp_burst --no-run --quiet 2>/dev/null
BURST=$(find "$CARGO_TARGET_DIR/release/deps" -maxdepth 1 -type f -executable -name 'udp_burst-*' | head -1)
[[ -x $BURST ]] || { echo "cannot build benches/udp_burst.rs" >&2; exit 1; }
echo "sockscope: $BIN"
echo "tcpdump:   $(tcpdump --version 2>&1 | head -2 | tr '\n' ' ')"
echo "burst:     $COUNT datagrams of 18 bytes to 127.0.0.1, sendmmsg"
echo

# CPU seconds (user+system) a live process has used so far.
cpu_of() {
    awk -v hz="$(getconf CLK_TCK)" '{ printf "%.2f", ($14 + $15) / hz }' "/proc/$1/stat"
}

# Starts a capture in the background (CAP_PID), waits until it says it is ready.
start_capture() { # tool file expr...
    local tool=$1 file=$2
    shift 2
    : >"$TMP/err"
    if [[ $tool == tcpdump ]]; then
        tcpdump -i lo -n -w "$file" "$@" 2>"$TMP/err" &
        CAP_PID=$!
        ready='listening on'
    else
        "$BIN" capture -i lo -w "$file" "$@" 2>"$TMP/err" &
        CAP_PID=$!
        ready='capturing on'
    fi
    for _ in $(seq 1 100); do
        grep -q "$ready" "$TMP/err" && return 0
        sleep 0.1
    done
    echo "$tool did not start: $(cat "$TMP/err")" >&2
    exit 1
}

# Waits until FILE stops growing (at most 30 s), then the capture's CPU is read and it is
# stopped with SIGINT.
stop_capture() { # file -> prints cpu seconds
    local file=$1 last=-1 size
    for _ in $(seq 1 60); do
        sleep 0.5
        size=$(stat -c %s "$file" 2>/dev/null || echo 0)
        [[ $size == "$last" ]] && break
        last=$size
    done
    local cpu
    cpu=$(cpu_of "$CAP_PID")
    kill -INT "$CAP_PID"
    wait "$CAP_PID" || true
    CAP_PID=
    echo "$cpu"
}

written() { tcpdump -r "$1" -n 2>/dev/null | wc -l; }
drops_tcpdump() { awk '/packets dropped by kernel/ { print $1 }' "$TMP/err"; }
drops_sockscope() { sed -n 's/.* \([0-9]*\) dropped by the kernel.*/\1/p' "$TMP/err" | tail -1; }

port=$((20000 + RANDOM % 20000))
none=$((port + 1))

echo "== 1. Burst of $COUNT datagrams: packets written to the pcap ($ROUNDS rounds, alternating) =="
printf '%-6s %-10s %10s %10s %8s %12s %s\n' round tool written dropped cpu_s "sent/s" check
declare -A sum_written
for ((r = 1; r <= ROUNDS; r++)); do
    for tool in tcpdump sockscope; do
        f="$TMP/$tool.$r.pcap"
        start_capture "$tool" "$f" udp port "$port"
        "$BURST" "$port" "$COUNT" 18 >"$TMP/burst"
        cpu=$(stop_capture "$f")
        w=$(written "$f")
        if [[ $tool == tcpdump ]]; then
            d=$(drops_tcpdump)
            check=
        else
            d=$(drops_sockscope)
            check=$( ((w + d == COUNT)) && echo "written+dropped=sent" || echo "written+dropped=$((w + d)) != $COUNT")
        fi
        sum_written[$tool]=$(( ${sum_written[$tool]:-0} + w ))
        rate=$(sed -n 's/.*(\([0-9]*\)\/s).*/\1/p' "$TMP/burst")
        printf '%-6s %-10s %10s %10s %8s %12s %s\n' "$r" "$tool" "$w" "${d:-?}" "$cpu" "$rate" "$check"
        rm -f "$f"
    done
done
awk -v s="${sum_written[sockscope]}" -v t="${sum_written[tcpdump]}" -v n="$ROUNDS" 'BEGIN {
    printf "mean written: sockscope %.0f, tcpdump %.0f -> ratio %.3f (target >= 1.0) %s\n",
        s / n, t / n, (t ? s / t : 0), (s >= t ? "PASS" : "FAIL") }'
echo

echo "== 2. Same burst, filter matching nothing: CPU of the capture process =="
printf '%-6s %-10s %8s\n' round tool cpu_s
declare -A sum_cpu
for ((r = 1; r <= ROUNDS; r++)); do
    for tool in tcpdump sockscope; do
        f="$TMP/$tool.none.pcap"
        start_capture "$tool" "$f" udp port "$none"
        "$BURST" "$port" "$COUNT" 18 >"$TMP/burst"
        cpu=$(stop_capture "$f")
        sum_cpu[$tool]=$(awk -v a="${sum_cpu[$tool]:-0}" -v b="$cpu" 'BEGIN { print a + b }')
        printf '%-6s %-10s %8s\n' "$r" "$tool" "$cpu"
        rm -f "$f"
    done
done
awk -v s="${sum_cpu[sockscope]}" -v t="${sum_cpu[tcpdump]}" -v n="$ROUNDS" 'BEGIN {
    printf "mean CPU: sockscope %.2f s, tcpdump %.2f s -> difference %+.2f s (target <= +0.05 s) %s\n",
        s / n, t / n, (s - t) / n, ((s - t) / n <= 0.05 ? "PASS" : "FAIL") }'
