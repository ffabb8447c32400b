#!/usr/bin/env bash
# benches/socket_table.sh: socket-table benchmark of sockscope against ss, lsof and netstat.
#
# What it measures, at two socket counts (about 20,000 and about 100,000 TCP sockets):
#   * wall time (median) of `sockscope list -t` next to `ss -tanp`, `ss -tan`,
#     `lsof -nP -iTCP` and `netstat -tanp`, and of `sockscope list -t -i` (tcp_info, memory
#     and every socket's problems) next to `ss -tanpi`, all in one hyperfine run, output to a
#     pipe, owners included (root);
#   * `sockscope who PORT` next to `ss -tanp 'sport = :PORT'`, PORT being one holder's listener;
#   * peak memory (max RSS) of `sockscope list -t` and of `sockscope list -t -i`, from
#     /usr/bin/time -f %M;
#   * a correctness check: row counts of `sockscope list -t` vs `ss -tan`, and that
#     `sockscope who PORT` names the holder's pid.
# It prints a table per scenario with the ratios and PASS/FAIL against the targets:
#   20k:  list -t <= 1.0x ss -tanp, faster than lsof and netstat;
#         list -t -i <= 0.5x ss -tanpi (goal, report only: <= 0.3x)
#   100k: list -t <= 0.5x ss -tanp, faster than lsof; (goal, report only) <= 2x ss -tan;
#         who PORT <= 1.0x ss -tanp 'sport = :PORT'; peak RSS < 100 MiB;
#         list -t -i <= 0.3x ss -tanpi; peak RSS of list -t -i < 150 MiB
# It is a report: it exits 0 whatever the ratios, and 1 only when the setup failed.
#
# How to run (by hand, not in CI; needs root to see every process's sockets):
#     sudo bash benches/socket_table.sh
#     sudo bash benches/socket_table.sh 2>&1 | tee /tmp/socket_table_bench.txt
# Takes a few minutes on a 2-core machine. Knobs (environment): RUNS (default 5), RUNS_WHO (10),
# HOLDERS1/PER1 (2 x 10000), HOLDERS2/PER2 (6 x 16700), READY_TIMEOUT (120 s),
# SOCKSCOPE_BIN (use this binary and skip `cargo build --release`), USE_HYPERFINE=0 (bash loop),
# BASE_BIN (an older release build, e.g. of the commit before a change: its `list -t` is timed
# in the same run, and the table shows the ratio new/old, to see what a change cost).
#
# How the sockets are made: "holder" processes (a small python3 program written to a temp dir)
# each open a listener on 127.0.0.1 and connect to it from their own source addresses
# (127.1.H.1, 127.1.H.2, ...), accepting every connection, so each connection is two
# ESTABLISHED sockets held by the holder. The sockets are spread over several holders because
# one process may hold at most ~20,000 descriptors. Every socket has SO_LINGER 0, so tearing a
# holder down resets its connections instead of leaving TIME-WAIT sockets behind.
#
# Network: only loopback addresses in 127.0.0.0/8 are used; nothing leaves the machine.
# Every loop is bounded in count and time; the holders, any raised sysctl and the temp dir are
# cleaned up on exit (trap EXIT INT TERM), also on failure; a holder also ends by itself when
# this script is gone or after HOLDER_MAX_LIFE seconds (default 1800).

set -euo pipefail

cd "$(dirname "$0")/.."
ROOT=$PWD

RUNS=${RUNS:-5}
RUNS_WHO=${RUNS_WHO:-10}
HOLDERS1=${HOLDERS1:-2}
PER1=${PER1:-10000}
HOLDERS2=${HOLDERS2:-6}
PER2=${PER2:-16700}
READY_TIMEOUT=${READY_TIMEOUT:-120}
HOLDER_MAX_LIFE=${HOLDER_MAX_LIFE:-1800}
HYPERFINE_TIMEOUT=${HYPERFINE_TIMEOUT:-600} # one hyperfine invocation, seconds
RUN_TIMEOUT=${RUN_TIMEOUT:-120}             # one command run in the fallback loop, seconds

TMP=$(mktemp -d /tmp/socket_table.XXXXXX)
HOLDER_PIDS=()
HOLDER_PORTS=()
SYSCTL_RESTORE=()
NEXT_HOLDER=1 # global holder number: holder H uses source addresses 127.1.H.*
RESULTS=()    # files holding the result table of each scenario

log() { printf '[%s] %s\n' "$(date +%T)" "$*"; }
warn() { printf '[%s] WARNING: %s\n' "$(date +%T)" "$*"; }
die() {
    printf '[%s] SETUP FAILED: %s\n' "$(date +%T)" "$*" >&2
    exit 1
}

stop_holders() {
    local pid i
    ((${#HOLDER_PIDS[@]})) || return 0
    for pid in "${HOLDER_PIDS[@]}"; do
        kill -TERM "$pid" 2>/dev/null || true
    done
    # Bounded wait (10 s), then SIGKILL whatever is left: only the pids this script started.
    for ((i = 0; i < 100; i++)); do
        local alive=0
        for pid in "${HOLDER_PIDS[@]}"; do
            if kill -0 "$pid" 2>/dev/null; then alive=1; fi
        done
        ((alive)) || break
        sleep 0.1
    done
    for pid in "${HOLDER_PIDS[@]}"; do
        kill -KILL "$pid" 2>/dev/null || true
        wait "$pid" 2>/dev/null || true
    done
    HOLDER_PIDS=()
    HOLDER_PORTS=()
}

cleanup() {
    local rc=$?
    trap - EXIT INT TERM
    stop_holders
    local kv
    for kv in ${SYSCTL_RESTORE[@]+"${SYSCTL_RESTORE[@]}"}; do
        sysctl -qw "$kv" || warn "could not restore sysctl $kv"
    done
    rm -rf "$TMP"
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# ---------------------------------------------------------------------------------------------
# Prerequisites

[[ $(id -u) -eq 0 ]] || die "needs root (ss -p, lsof and netstat -p see every process only as root): sudo bash benches/socket_table.sh"
[[ $(uname -s) == Linux ]] || die "Linux only"

APT_UPDATED=0
apt_install() {
    command -v apt-get >/dev/null || die "missing $*, and no apt-get to install it"
    log "installing $* with apt-get"
    if ! DEBIAN_FRONTEND=noninteractive apt-get install -y -q "$@" >"$TMP/apt.log" 2>&1; then
        if ((APT_UPDATED == 0)); then
            APT_UPDATED=1
            apt-get update -q >>"$TMP/apt.log" 2>&1 || true
            DEBIAN_FRONTEND=noninteractive apt-get install -y -q "$@" >>"$TMP/apt.log" 2>&1 && return 0
        fi
        return 1
    fi
}

need() { # need COMMAND PACKAGE
    command -v "$1" >/dev/null 2>&1 && return 0
    apt_install "$2" || die "could not install $2 (for $1); see the apt-get output above"
    command -v "$1" >/dev/null 2>&1 || die "$1 still missing after installing $2"
}
need python3 python3
need ss iproute2
need lsof lsof
need netstat net-tools
need timeout coreutils
[[ -x /usr/bin/time ]] || apt_install time || die "could not install time (/usr/bin/time)"

HYPERFINE=0
if [[ ${USE_HYPERFINE:-1} == 0 ]]; then
    : # forced fallback
elif command -v hyperfine >/dev/null 2>&1 || apt_install hyperfine; then
    if command -v hyperfine >/dev/null 2>&1 && hyperfine --help 2>&1 | grep -q -- '--output'; then
        HYPERFINE=1
    fi
fi
if ((HYPERFINE)); then
    log "timing with $(hyperfine --version)"
else
    log "hyperfine unavailable (or too old for --output=pipe): timing with a bash loop, median of $RUNS runs after 1 warm-up"
fi

# ---------------------------------------------------------------------------------------------
# Build

if [[ -n ${SOCKSCOPE_BIN:-} ]]; then
    BIN=$SOCKSCOPE_BIN
    log "using SOCKSCOPE_BIN=$BIN (no build)"
else
    log "cargo build --release in $ROOT"
    if [[ -n ${SUDO_USER:-} && $SUDO_USER != root ]]; then
        # Under sudo: build as the calling user, with their toolchain, so target/ stays theirs.
        user_home=$(getent passwd "$SUDO_USER" | cut -d: -f6)
        runuser -u "$SUDO_USER" -- env HOME="$user_home" PATH="$user_home/.cargo/bin:$PATH" \
            cargo build --release || die "cargo build --release failed"
    else
        PATH="$HOME/.cargo/bin:$PATH" cargo build --release || die "cargo build --release failed"
    fi
    BIN=$ROOT/target/release/sockscope
fi
[[ -x $BIN ]] || die "no sockscope binary at $BIN"
[[ -z ${BASE_BIN:-} || -x $BASE_BIN ]] || die "BASE_BIN=$BASE_BIN is not an executable"

# ---------------------------------------------------------------------------------------------
# Sysctls: the holders connect in batches of at most 512 before accepting, so the listen
# backlog (capped by net.core.somaxconn) must hold a batch; raise it only when lower than 4096.

raise_sysctl() { # raise_sysctl KEY MIN
    local cur
    cur=$(sysctl -n "$1")
    if ((cur < $2)); then
        SYSCTL_RESTORE+=("$1=$cur")
        sysctl -qw "$1=$2" || die "could not set $1=$2"
        log "raised $1 from $cur to $2 (restored on exit)"
    fi
}
raise_sysctl net.core.somaxconn 4096

# ---------------------------------------------------------------------------------------------
# The holder

cat >"$TMP/holder.py" <<'PY'
"""Holds N TCP sockets open: established loopback pairs (client + accepted server end).

Usage: holder.py SOCKETS SRC_PREFIX PARENT_PID SETUP_TIMEOUT MAX_LIFE
Clients bind to SRC_PREFIX.1, SRC_PREFIX.2, ... (10,000 connections per address, far below the
28,000-port ephemeral range), all inside 127.0.0.0/8. Prints "ready pid=.. port=.. sockets=.."
once every socket is open, then sleeps until killed, until PARENT_PID is gone, or MAX_LIFE s.
"""
import os
import resource
import socket
import struct
import sys
import time

sockets_wanted, prefix, parent, setup_timeout, max_life = (
    int(sys.argv[1]), sys.argv[2], int(sys.argv[3]), float(sys.argv[4]), float(sys.argv[5]))
if not prefix.startswith("127."):
    sys.exit("holder: source prefix must be inside 127.0.0.0/8")
pairs = sockets_wanted // 2
PER_SRC = 10000
LINGER0 = struct.pack("ii", 1, 0)  # close = RST, no TIME-WAIT left behind

need = 2 * pairs + 64
soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
if hard != resource.RLIM_INFINITY and hard < need:
    sys.exit(f"holder: needs {need} descriptors, hard limit is {hard}")
if soft != resource.RLIM_INFINITY and soft < need:
    resource.setrlimit(resource.RLIMIT_NOFILE, (need, hard))

try:
    with open("/proc/sys/net/core/somaxconn") as f:
        somaxconn = int(f.read())
except OSError:
    somaxconn = 128
batch = max(1, min(512, somaxconn // 2))

start = time.monotonic()
listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
listener.bind(("127.0.0.1", 0))
listener.listen(4096)
listener.settimeout(10)
port = listener.getsockname()[1]
held = [listener]
made = 0
while made < pairs:
    if time.monotonic() - start > setup_timeout:
        sys.exit(f"holder: setup timeout after {made} of {pairs} connections")
    k = min(batch, pairs - made)
    clients = []
    for j in range(k):
        src = f"{prefix}.{1 + (made + j) // PER_SRC}"
        c = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        c.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, LINGER0)
        c.settimeout(10)
        c.bind((src, 0))
        c.connect(("127.0.0.1", port))
        clients.append(c)
    for _ in range(k):
        s, _ = listener.accept()
        s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, LINGER0)
        held.append(s)
    held.extend(clients)
    made += k

print(f"ready pid={os.getpid()} port={port} sockets={len(held) - 1} "
      f"setup={time.monotonic() - start:.1f}s", flush=True)
deadline = time.monotonic() + max_life
while time.monotonic() < deadline:
    if os.getppid() != parent:
        break
    time.sleep(1)
PY

# start_holders COUNT SOCKETS_EACH: start COUNT holders in parallel and wait for all "ready".
start_holders() {
    local count=$1 each=$2 i h pid
    for ((i = 0; i < count; i++)); do
        h=$NEXT_HOLDER
        NEXT_HOLDER=$((NEXT_HOLDER + 1))
        ((h < 255)) || die "out of source prefixes"
        python3 "$TMP/holder.py" "$each" "127.1.$h" "$$" "$READY_TIMEOUT" "$HOLDER_MAX_LIFE" \
            >"$TMP/holder.$h.out" 2>"$TMP/holder.$h.err" &
        HOLDER_PIDS+=("$!")
        echo "$h" >"$TMP/holder.pid.$!"
    done
    local deadline=$((SECONDS + READY_TIMEOUT + 5))
    for pid in "${HOLDER_PIDS[@]}"; do
        h=$(cat "$TMP/holder.pid.$pid")
        while ! grep -q '^ready' "$TMP/holder.$h.out" 2>/dev/null; do
            if ! kill -0 "$pid" 2>/dev/null; then
                die "holder $h (pid $pid) exited before ready: $(tail -n 3 "$TMP/holder.$h.err")"
            fi
            ((SECONDS < deadline)) || die "holder $h (pid $pid) not ready after ${READY_TIMEOUT}s"
            sleep 0.2
        done
        HOLDER_PORTS+=("$(sed -n 's/^ready .*port=\([0-9]*\).*/\1/p' "$TMP/holder.$h.out")")
        log "holder $h: $(cat "$TMP/holder.$h.out")"
    done
}

tcp_count() { # TCP sockets in the kernel table, header excluded
    echo $(($(ss -tan | wc -l) - 1))
}

# ---------------------------------------------------------------------------------------------
# Timing

# time_cmds JSON_OUT RUNS NAME CMD [NAME CMD ...]: medians (seconds) into "NAME<TAB>median" lines.
time_cmds() {
    local out=$1 runs=$2
    shift 2
    local -a names=() cmds=() hf_args=()
    while (($#)); do
        names+=("$1")
        cmds+=("$2")
        hf_args+=(-n "$1" "$2")
        shift 2
    done
    # One plain run each first: a failing command would make its times meaningless.
    local i
    for i in "${!cmds[@]}"; do
        if ! timeout "$RUN_TIMEOUT" bash -c "${cmds[$i]}" >/dev/null 2>"$TMP/precheck.err"; then
            warn "'${cmds[$i]}' failed or timed out once: $(head -c 300 "$TMP/precheck.err")"
        fi
    done
    if ((HYPERFINE)); then
        if timeout "$HYPERFINE_TIMEOUT" hyperfine --style basic --output=pipe -i --warmup 1 \
            --runs "$runs" --export-json "$TMP/hf.json" "${hf_args[@]}"; then
            python3 - "$TMP/hf.json" >"$out" <<'PY'
import json, sys
for r in json.load(open(sys.argv[1]))["results"]:
    print(f'{r["command"]}\t{r["median"]:.4f}')
PY
            return 0
        fi
        warn "hyperfine failed or timed out; falling back to the bash loop"
    fi
    : >"$out"
    for i in "${!cmds[@]}"; do
        local -a times=()
        local r t0 t1
        for ((r = 0; r <= runs; r++)); do # run 0 is the warm-up
            t0=$(date +%s.%N)
            timeout "$RUN_TIMEOUT" bash -c "${cmds[$i]}" 2>/dev/null | wc -l >/dev/null || true
            t1=$(date +%s.%N)
            ((r == 0)) || times+=("$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.4f", b - a }')")
        done
        local med
        med=$(printf '%s\n' "${times[@]}" | sort -g | awk '{ v[NR] = $1 } END {
            if (NR % 2) print v[(NR + 1) / 2]; else printf "%.4f\n", (v[NR / 2] + v[NR / 2 + 1]) / 2 }')
        printf '  %-28s median %s s  (runs: %s)\n' "${names[$i]}" "$med" "${times[*]}"
        printf '%s\t%s\n' "${names[$i]}" "$med" >>"$out"
    done
}

median_of() { awk -F'\t' -v n="$2" '$1 == n { print $2 }' "$1"; }

ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (a == "" || b == "" || b + 0 == 0) print "n/a"; else printf "%.2f", a / b }'; }

# verdict RATIO OP LIMIT: PASS/FAIL of "RATIO OP LIMIT" (OP is <= or <).
verdict() {
    awk -v r="$1" -v op="$2" -v l="$3" 'BEGIN {
        if (r == "n/a") { print "n/a"; exit }
        ok = (op == "<=") ? (r + 0 <= l + 0) : (r + 0 < l + 0)
        print ok ? "PASS" : "FAIL" }'
}

# ---------------------------------------------------------------------------------------------
# One scenario

run_scenario() { # run_scenario LABEL HOLDERS PER_HOLDER
    local label=$1 holders=$2 per=$3
    local target=$((holders * per))
    local base
    base=$(tcp_count)
    log "=== scenario $label: $holders holders x $per sockets = $target TCP sockets (baseline $base) ==="
    start_holders "$holders" "$per"
    local total added
    total=$(tcp_count)
    added=$((total - base))
    log "ss -tan counts $total TCP sockets ($added added by the holders)"
    ((added * 100 >= target * 95)) || die "only $added of $target sockets were created"

    local port=${HOLDER_PORTS[0]} hpid=${HOLDER_PIDS[0]}

    # Correctness checks (warnings only).
    local n_ss n_sc
    n_ss=$(ss -tan | wc -l)
    n_sc=$("$BIN" list -t 2>"$TMP/sc.err" | wc -l) || warn "sockscope list -t failed: $(head -c 300 "$TMP/sc.err")"
    local check_list check_who
    if awk -v a="$n_sc" -v b="$n_ss" 'BEGIN { d = a - b; if (d < 0) d = -d; exit !(d <= 0.03 * b) }'; then
        check_list="ok: sockscope list -t $n_sc lines, ss -tan $n_ss lines"
    else
        check_list="WARNING: sockscope list -t $n_sc lines vs ss -tan $n_ss lines (differ by more than 3%)"
        warn "$check_list"
    fi
    local who_rc=0
    "$BIN" who "$port" >"$TMP/who.out" 2>"$TMP/who.err" || who_rc=$?
    local who_rows ss_rows
    who_rows=$(($(wc -l <"$TMP/who.out") - 1))
    ss_rows=$(($(ss -tanp "sport = :$port" | wc -l) - 1))
    if grep -qw "$hpid" "$TMP/who.out"; then
        check_who="ok: sockscope who $port names holder pid $hpid (exit $who_rc, $who_rows rows; ss sport: $ss_rows rows)"
    else
        check_who="WARNING: sockscope who $port does not name holder pid $hpid (exit $who_rc, $who_rows rows; ss sport: $ss_rows rows)"
        warn "$check_who: $(head -c 300 "$TMP/who.err")"
    fi

    # Timings.
    log "timing the socket table commands (warm-up 1, runs $RUNS)"
    time_cmds "$TMP/list.$label.tsv" "$RUNS" \
        "ss -tanp" "ss -tanp" \
        "ss -tan" "ss -tan" \
        "lsof -nP -iTCP" "lsof -nP -iTCP" \
        "netstat -tanp" "netstat -tanp" \
        "sockscope list -t" "$BIN list -t" \
        "ss -tanpi" "ss -tanpi" \
        "sockscope list -t -i" "$BIN list -t -i" \
        ${BASE_BIN:+"base list -t" "$BASE_BIN list -t"}
    log "timing who PORT (port $port, warm-up 1, runs $RUNS_WHO)"
    time_cmds "$TMP/who.$label.tsv" "$RUNS_WHO" \
        "sockscope who $port" "$BIN who $port" \
        "ss -tanp 'sport = :$port'" "ss -tanp 'sport = :$port'"

    # Peak memory: the largest of 3 runs.
    local rss=0 rss_i=0 r k
    for r in 1 2 3; do
        if /usr/bin/time -f %M -o "$TMP/rss" "$BIN" list -t 2>/dev/null | wc -l >/dev/null; then
            k=$(tail -n 1 "$TMP/rss")
            if ((k > rss)); then rss=$k; fi
        else
            warn "sockscope list -t failed under /usr/bin/time"
        fi
        if /usr/bin/time -f %M -o "$TMP/rss" "$BIN" list -t -i 2>/dev/null | wc -l >/dev/null; then
            k=$(tail -n 1 "$TMP/rss")
            if ((k > rss_i)); then rss_i=$k; fi
        else
            warn "sockscope list -t -i failed under /usr/bin/time"
        fi
    done
    local rss_ss=0
    /usr/bin/time -f %M -o "$TMP/rss" ss -tanp 2>/dev/null | wc -l >/dev/null && rss_ss=$(tail -n 1 "$TMP/rss")
    local rss_ss_i=0
    /usr/bin/time -f %M -o "$TMP/rss" ss -tanpi 2>/dev/null | wc -l >/dev/null && rss_ss_i=$(tail -n 1 "$TMP/rss")
    local rss_mib rss_ss_mib rss_i_mib rss_ss_i_mib
    rss_mib=$(awk -v k="$rss" 'BEGIN { printf "%.1f", k / 1024 }')
    rss_i_mib=$(awk -v k="$rss_i" 'BEGIN { printf "%.1f", k / 1024 }')
    rss_ss_i_mib=$(awk -v k="$rss_ss_i" 'BEGIN { printf "%.1f", k / 1024 }')
    rss_ss_mib=$(awk -v k="$rss_ss" 'BEGIN { printf "%.1f", k / 1024 }')

    # The table.
    local L=$TMP/list.$label.tsv W=$TMP/who.$label.tsv
    local t_sc t_sstp t_sst t_lsof t_net t_who t_sport
    t_sc=$(median_of "$L" "sockscope list -t")
    t_sstp=$(median_of "$L" "ss -tanp")
    t_sst=$(median_of "$L" "ss -tan")
    t_lsof=$(median_of "$L" "lsof -nP -iTCP")
    t_net=$(median_of "$L" "netstat -tanp")
    t_who=$(median_of "$W" "sockscope who $port")
    t_sport=$(median_of "$W" "ss -tanp 'sport = :$port'")
    local t_sci t_ssi r_ssi t_base="" r_base="n/a"
    if [[ -n ${BASE_BIN:-} ]]; then
        t_base=$(median_of "$L" "base list -t")
        r_base=$(ratio "$t_sc" "$t_base")
    fi
    t_sci=$(median_of "$L" "sockscope list -t -i")
    t_ssi=$(median_of "$L" "ss -tanpi")
    r_ssi=$(ratio "$t_sci" "$t_ssi")
    local r_sstp r_sst r_lsof r_net r_who
    r_sstp=$(ratio "$t_sc" "$t_sstp")
    r_sst=$(ratio "$t_sc" "$t_sst")
    r_lsof=$(ratio "$t_sc" "$t_lsof")
    r_net=$(ratio "$t_sc" "$t_net")
    r_who=$(ratio "$t_who" "$t_sport")

    local v_sstp v_sst v_lsof v_net v_who v_rss t_sstp_lim t_sst_lim t_lsof_lim t_net_lim t_who_lim t_rss_lim
    local v_ssi t_ssi_lim v_rss_i t_rss_i_lim
    if [[ $label == 20k ]]; then
        t_ssi_lim="<= 0.5"; v_ssi="$(verdict "$r_ssi" "<=" 0.5), goal <= 0.3: $(verdict "$r_ssi" "<=" 0.3)"
        t_rss_i_lim="(info)"; v_rss_i="-"
        t_sstp_lim="<= 1.0"; v_sstp=$(verdict "$r_sstp" "<=" 1.0)
        t_sst_lim="(info)"; v_sst="-"
        t_lsof_lim="< 1.0"; v_lsof=$(verdict "$r_lsof" "<" 1.0)
        t_net_lim="< 1.0"; v_net=$(verdict "$r_net" "<" 1.0)
        t_who_lim="(info)"; v_who="-"
        t_rss_lim="(info)"; v_rss="-"
    else
        t_sstp_lim="<= 0.5"; v_sstp=$(verdict "$r_sstp" "<=" 0.5)
        t_sst_lim="<= 2.0 goal"; v_sst="$(verdict "$r_sst" "<=" 2.0) (goal)"
        t_lsof_lim="< 1.0"; v_lsof=$(verdict "$r_lsof" "<" 1.0)
        t_net_lim="(info)"; v_net="-"
        t_who_lim="<= 1.0"; v_who=$(verdict "$r_who" "<=" 1.0)
        t_rss_lim="< 100 MiB"; v_rss=$(verdict "$rss_mib" "<" 100)
        t_ssi_lim="<= 0.3"; v_ssi=$(verdict "$r_ssi" "<=" 0.3)
        t_rss_i_lim="< 150 MiB"; v_rss_i=$(verdict "$rss_i_mib" "<" 150)
    fi

    local res=$TMP/result.$label.txt
    {
        echo "== $label: $holders holders x $per = $target TCP sockets requested; ss -tan counts $total ($added added) =="
        printf '%-34s %10s\n' "command" "median s"
        printf '%-34s %10s\n' "ss -tanp" "$t_sstp" "ss -tan" "$t_sst" "lsof -nP -iTCP" "$t_lsof" \
            "netstat -tanp" "$t_net" "sockscope list -t" "$t_sc" \
            "sockscope who PORT" "$t_who" "ss -tanp 'sport = :PORT'" "$t_sport" \
            "ss -tanpi" "$t_ssi" "sockscope list -t -i" "$t_sci"
        [[ -z ${BASE_BIN:-} ]] || printf '%-34s %10s\n' "base list -t (BASE_BIN)" "$t_base"
        echo
        printf '%-34s %10s  %-12s %s\n' "ratio" "value" "target" "result"
        printf '%-34s %10s  %-12s %s\n' \
            "sockscope list -t / ss -tanp" "$r_sstp" "$t_sstp_lim" "$v_sstp" \
            "sockscope list -t / ss -tan" "$r_sst" "$t_sst_lim" "$v_sst" \
            "sockscope list -t / lsof" "$r_lsof" "$t_lsof_lim" "$v_lsof" \
            "sockscope list -t / netstat -tanp" "$r_net" "$t_net_lim" "$v_net" \
            "sockscope who / ss -tanp sport" "$r_who" "$t_who_lim" "$v_who" \
            "sockscope list -t -i / ss -tanpi" "$r_ssi" "$t_ssi_lim" "$v_ssi"
        [[ -z ${BASE_BIN:-} ]] || printf '%-34s %10s  %-12s %s\n' \
            "sockscope list -t / base list -t" "$r_base" "(info)" "-"
        printf '%-34s %10s  %-12s %s\n' "peak RSS sockscope list -t (MiB)" "$rss_mib" "$t_rss_lim" "$v_rss"
        printf '%-34s %10s  %-12s %s\n' "peak RSS ss -tanp (MiB)" "$rss_ss_mib" "(info)" "-"
        printf '%-34s %10s  %-12s %s\n' "peak RSS sockscope list -t -i (MiB)" "$rss_i_mib" "$t_rss_i_lim" "$v_rss_i"
        printf '%-34s %10s  %-12s %s\n' "peak RSS ss -tanpi (MiB)" "$rss_ss_i_mib" "(info)" "-"
        echo "check list: $check_list"
        echo "check who:  $check_who"
    } >"$res"
    RESULTS+=("$res")
    cat "$res"

    log "tearing down scenario $label"
    stop_holders
    # Bounded wait for the kernel to drop the reset connections (30 s).
    local i
    for ((i = 0; i < 150; i++)); do
        (($(tcp_count) <= base + 50)) && break
        sleep 0.2
    done
    log "after teardown ss -tan counts $(tcp_count) TCP sockets"
}

log "sockscope socket-table benchmark: $(nproc) cores, kernel $(uname -r), descriptors soft $(ulimit -Sn) hard $(ulimit -Hn)"
run_scenario 20k "$HOLDERS1" "$PER1"
run_scenario 100k "$HOLDERS2" "$PER2"

echo
echo "==================== RESULTS ===================="
for res in "${RESULTS[@]}"; do
    cat "$res"
    echo
done
exit 0
