#!/usr/bin/env bash
# benches/echo.sh: echo-server benchmark of `sockscope echo` against socat, side by side.
#
# What it measures (the same client, sockscope's own load mode `sockscope echo --connect ...
# --json`, drives both servers; the peer is `socat TCP-LISTEN:PORT,fork,reuseaddr,bind=127.0.0.1
# PIPE`, the sockscope server is `sockscope echo --tcp --quiet`):
#   1. stream: one connection streaming 512 MiB through the server (written and read back at
#      once, `--connections 1 --bytes 536870912`), MB/s (10^6 bytes/s); RUNS_STREAM runs of
#      each, alternating, median. Target: sockscope >= 1.5x socat.
#   2. round trips: 1,000 concurrent connections doing 64-byte round trips for 5 s
#      (`--connections 1000 --duration 5s --size 64`), round trips/s; RUNS_RT runs of each,
#      alternating, median. Target: sockscope >= 2x socat. Every run's JSON is checked for
#      errors == 0 and mismatches == 0 (and, for the stream, all bytes back); a sockscope run
#      that fails the check fails the row, socat's failures are reported next to it.
#      For information only (no verdict), the same load against socat with `backlog=4096`:
#      socat listens with a backlog of 5 by default, so most of the 1,000 simultaneous connects
#      wait for SYN retransmits; this row shows how much of the gap that explains.
#   3. idle: 10,000 idle TCP connections held open against a fresh `sockscope echo --tcp --quiet
#      --max-conns 20000` (a small python3 program opens them, sends nothing, prints "ready" and
#      holds them). --max-conns is raised from its default of 10000 because the default would
#      refuse the 10,001st connection, the probe. While they are held: one `sockscope echo
#      --connect 127.0.0.1:PORT -m hello` (must exit 0; its RTT is reported), then the server's
#      VmRSS and VmHWM from /proc/PID/status. Target: VmRSS < 100 MiB. socat is not measured
#      here: it forks a process per connection, so its RSS is not comparable.
# It prints the machine's core count (client and server share those cores), the per-run
# figures, and a results table with the ratios sockscope/socat and PASS/FAIL against the targets.
# It is a report: it exits 0 whatever the figures, and 1 only when the setup failed.
#
# How to run (by hand, not in CI; no root needed unless socat must be installed):
#     bash benches/echo.sh
#     bash benches/echo.sh 2>&1 | tee /tmp/echo_bench.txt
# Takes about 2-3 minutes on a 2-core machine (plus the build). Knobs (environment):
# SOCKSCOPE_BIN (use this binary and skip `cargo build --release`; the build goes to
# ${CARGO_TARGET_DIR:-target}), RUNS_STREAM (3), RUNS_RT (3), STREAM_BYTES (536870912),
# RT_CONNS (1000), RT_DURATION (5s), RT_SIZE (64), IDLE_CONNS (10000), IDLE_MAX_CONNS (the server's default),
# SOCAT_INFO_BACKLOG (4096; 0 skips the informational socat backlog row),
# RUN_TIMEOUT (60 s, one client run), READY_TIMEOUT (60 s, the idle holder's setup).
#
# Network: every server listens on 127.0.0.1 only and every client connects to 127.0.0.1; nothing
# leaves the machine. Every loop is bounded in count and time. Every server this script starts is
# stopped on exit (trap EXIT INT TERM), also on failure: the sockscope servers by pid, socat by
# its process group (setsid), which also takes the per-connection children; whatever is left of
# the group after 10 s gets SIGKILL. The idle holder also ends by itself when this script is gone
# or after HOLDER_MAX_LIFE seconds (default 600), and uses SO_LINGER 0 (no TIME-WAIT left).

set -euo pipefail

cd "$(dirname "$0")/.."
ROOT=$PWD

RUNS_STREAM=${RUNS_STREAM:-3}
RUNS_RT=${RUNS_RT:-3}
STREAM_BYTES=${STREAM_BYTES:-536870912}
RT_CONNS=${RT_CONNS:-1000}
RT_DURATION=${RT_DURATION:-5s}
RT_SIZE=${RT_SIZE:-64}
IDLE_CONNS=${IDLE_CONNS:-10000}
IDLE_MAX_CONNS=${IDLE_MAX_CONNS:-}
SOCAT_INFO_BACKLOG=${SOCAT_INFO_BACKLOG:-4096}
RUN_TIMEOUT=${RUN_TIMEOUT:-60}
READY_TIMEOUT=${READY_TIMEOUT:-60}
HOLDER_MAX_LIFE=${HOLDER_MAX_LIFE:-600}

TMP=$(mktemp -d /tmp/echo_bench.XXXXXX)
SERVER_PIDS=() # sockscope echo servers (killed by pid)
SOCAT_PGIDS=() # socat listeners, each the leader of its own process group (killed by group)
HOLDER_PIDS=() # idle-connection holders
NOTES=()       # odd things seen, printed with the results

log() { printf '[%s] %s\n' "$(date +%T)" "$*"; }
warn() {
    printf '[%s] WARNING: %s\n' "$(date +%T)" "$*"
    NOTES+=("$*")
}
die() {
    printf '[%s] SETUP FAILED: %s\n' "$(date +%T)" "$*" >&2
    exit 1
}

# wait_gone SECONDS PID...: bounded wait until none of the pids is alive; 0 if all are gone.
wait_gone() {
    local secs=$1 i pid alive
    shift
    for ((i = 0; i < secs * 10; i++)); do
        alive=0
        for pid in "$@"; do
            if kill -0 "$pid" 2>/dev/null; then alive=1; fi
        done
        ((alive)) || return 0
        sleep 0.1
    done
    return 1
}

# group_count PGID: processes still in the process group.
group_count() { { pgrep -g "$1" 2>/dev/null || true; } | wc -l; }

# stop_socat PGID: SIGTERM the whole group, bounded wait (10 s), SIGKILL what is left.
# Sets STOP_LEFT: how many processes were still there 10 s after SIGTERM (and got SIGKILL).
stop_socat() {
    local pg=$1 i left
    kill -TERM -- "-$pg" 2>/dev/null || true
    for ((i = 0; i < 100; i++)); do
        (($(group_count "$pg") == 0)) && break
        sleep 0.1
    done
    left=$(group_count "$pg")
    if ((left > 0)); then
        kill -KILL -- "-$pg" 2>/dev/null || true
        for ((i = 0; i < 50; i++)); do
            (($(group_count "$pg") == 0)) && break
            sleep 0.1
        done
    fi
    wait "$pg" 2>/dev/null || true
    local -a keep=()
    local p
    for p in ${SOCAT_PGIDS[@]+"${SOCAT_PGIDS[@]}"}; do
        [[ $p == "$pg" ]] || keep+=("$p")
    done
    SOCAT_PGIDS=(${keep[@]+"${keep[@]}"})
    STOP_LEFT=$left
}

# stop_pid PID: SIGTERM, bounded wait (10 s), SIGKILL. Only pids this script started.
stop_pid() {
    local pid=$1
    kill -TERM "$pid" 2>/dev/null || true
    wait_gone 10 "$pid" || kill -KILL "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
}

cleanup() {
    local rc=$?
    trap - EXIT INT TERM
    local pid pg
    for pid in ${HOLDER_PIDS[@]+"${HOLDER_PIDS[@]}"}; do stop_pid "$pid"; done
    for pid in ${SERVER_PIDS[@]+"${SERVER_PIDS[@]}"}; do stop_pid "$pid"; done
    for pg in ${SOCAT_PGIDS[@]+"${SOCAT_PGIDS[@]}"}; do stop_socat "$pg"; done
    rm -rf "$TMP"
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# ---------------------------------------------------------------------------------------------
# Prerequisites

[[ $(uname -s) == Linux ]] || die "Linux only (/proc/PID/status, ss)"

APT_UPDATED=0
apt_install() {
    command -v apt-get >/dev/null || die "missing $*, and no apt-get to install it"
    [[ $(id -u) -eq 0 ]] || die "missing $*; install it (as root: apt-get install $*)"
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
    apt_install "$2" || die "could not install $2 (for $1); see $TMP/apt.log"
    command -v "$1" >/dev/null 2>&1 || die "$1 still missing after installing $2"
}
need python3 python3
need socat socat
need ss iproute2
need pgrep procps
need setsid util-linux
need timeout coreutils

# ---------------------------------------------------------------------------------------------
# Build

if [[ -n ${SOCKSCOPE_BIN:-} ]]; then
    BIN=$SOCKSCOPE_BIN
    log "using SOCKSCOPE_BIN=$BIN (no build)"
else
    TARGET_DIR=${CARGO_TARGET_DIR:-target}
    [[ $TARGET_DIR == /* ]] || TARGET_DIR=$ROOT/$TARGET_DIR
    log "cargo build --release in $ROOT (target dir $TARGET_DIR)"
    if [[ $(id -u) -eq 0 && -n ${SUDO_USER:-} && $SUDO_USER != root ]]; then
        # Under sudo: build as the calling user, with their toolchain, so the target dir stays theirs.
        user_home=$(getent passwd "$SUDO_USER" | cut -d: -f6)
        runuser -u "$SUDO_USER" -- env HOME="$user_home" PATH="$user_home/.cargo/bin:$PATH" \
            CARGO_TARGET_DIR="$TARGET_DIR" cargo build --release || die "cargo build --release failed"
    else
        PATH="$HOME/.cargo/bin:$PATH" CARGO_TARGET_DIR="$TARGET_DIR" cargo build --release ||
            die "cargo build --release failed"
    fi
    BIN=$TARGET_DIR/release/sockscope
fi
[[ -x $BIN ]] || die "no sockscope binary at $BIN"

# ---------------------------------------------------------------------------------------------
# Helpers: servers

# start_sockscope NAME ARGS...: a sockscope echo server on 127.0.0.1:0 (a free port); sets
# SPID and SPORT. Waits (10 s) for its first stdout line "listening on tcp 127.0.0.1:PORT".
start_sockscope() {
    local name=$1
    shift
    "$BIN" echo -l 127.0.0.1:0 "$@" >"$TMP/$name.out" 2>"$TMP/$name.err" &
    SPID=$!
    SERVER_PIDS+=("$SPID")
    local i line=
    for ((i = 0; i < 100; i++)); do
        line=$(head -n 1 "$TMP/$name.out" 2>/dev/null || true)
        [[ -n $line ]] && break
        kill -0 "$SPID" 2>/dev/null || die "sockscope server $name exited at start: $(head -c 300 "$TMP/$name.err")"
        sleep 0.1
    done
    SPORT=$(sed -n '1s/^listening on tcp 127\.0\.0\.1:\([0-9][0-9]*\).*/\1/p' "$TMP/$name.out")
    [[ -n $SPORT ]] || die "sockscope server $name: unexpected first line '$line'"
    log "sockscope server $name: pid $SPID, '$line'"
}

free_port() {
    python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# start_socat NAME [EXTRA_OPTS]: socat echo on a free 127.0.0.1 port, in its own process group;
# sets OPGID (= its pid) and OPORT. Waits (10 s) until the port listens.
start_socat() {
    local name=$1 extra=${2:-}
    OPORT=$(free_port)
    setsid socat "TCP-LISTEN:$OPORT,fork,reuseaddr,bind=127.0.0.1$extra" PIPE \
        >"$TMP/$name.out" 2>"$TMP/$name.err" &
    OPGID=$!
    SOCAT_PGIDS+=("$OPGID")
    local pg= i
    # setsid makes the new group right after the fork: wait for it (bounded, 5 s).
    for ((i = 0; i < 50; i++)); do
        pg=$(ps -o pgid= -p "$OPGID" 2>/dev/null | tr -d ' ' || true)
        [[ $pg == "$OPGID" ]] && break
        sleep 0.1
    done
    [[ $pg == "$OPGID" ]] || die "socat $name (pid $OPGID) is not the leader of its own process group (pgid '$pg')"
    for ((i = 0; i < 100; i++)); do
        [[ -n $(ss -Htln "sport = :$OPORT" 2>/dev/null) ]] && break
        kill -0 "$OPGID" 2>/dev/null || die "socat $name exited at start: $(head -c 300 "$TMP/$name.err")"
        sleep 0.1
    done
    [[ -n $(ss -Htln "sport = :$OPORT") ]] || die "socat $name does not listen on 127.0.0.1:$OPORT"
    log "socat $name: pid/pgid $OPGID, 'socat TCP-LISTEN:$OPORT,fork,reuseaddr,bind=127.0.0.1$extra PIPE'"
}

# wait_socat_idle PGID: bounded wait (15 s) until only the listener is left in the group
# (the per-connection children of the previous run have exited). Prints the count left.
wait_socat_idle() {
    local pg=$1 i
    for ((i = 0; i < 150; i++)); do
        (($(group_count "$pg") <= 1)) && break
        sleep 0.1
    done
    group_count "$pg"
}

check_sockscope_alive() { # check_sockscope_alive PID NAME WHEN
    if ! kill -0 "$1" 2>/dev/null; then
        local rc=0
        wait "$1" 2>/dev/null || rc=$?
        warn "sockscope server $2 (pid $1) is gone $3 (exit $rc): $(tail -c 300 "$TMP/$2.err" | tr '\n' ' ')"
        return 1
    fi
}

# ---------------------------------------------------------------------------------------------
# Helpers: the client and its JSON

cat >"$TMP/fields.py" <<'PY'
"""fields.py FILE KEY...: the keys of the JSON object in FILE, separated by \x1f ("" if missing)."""
import json, sys
try:
    doc = json.load(open(sys.argv[1]))
except Exception as e:  # a crash or a non-JSON answer
    print("\x1f".join(["PARSE_ERROR"] * (len(sys.argv) - 2)))
    sys.exit(0)
out = []
for k in sys.argv[2:]:
    v = doc.get(k)
    out.append("" if v is None else (f"{v:.6g}" if isinstance(v, float) else str(v)).replace("\t", " ").replace("\n", " "))
print("\x1f".join(out))
PY
fields() { python3 "$TMP/fields.py" "$@"; }

RUN_SEQ=0
# load_run LABEL SERVER_NAME PORT METRIC CLIENT_ARGS...: one client run; appends to $TMP/runs.tsv
# "label server run value connected seconds bytes errors mismatches rc first_error" and logs it.
load_run() {
    local label=$1 server=$2 port=$3 metric=$4
    shift 4
    RUN_SEQ=$((RUN_SEQ + 1))
    local json=$TMP/run.$RUN_SEQ.json rc=0
    timeout "$RUN_TIMEOUT" "$BIN" echo --connect "127.0.0.1:$port" "$@" --json \
        >"$json" 2>"$TMP/run.$RUN_SEQ.err" || rc=$?
    local value connected seconds bytes errors mismatches first_error
    IFS=$'\x1f' read -r value connected seconds bytes errors mismatches first_error \
        < <(fields "$json" "$metric" connected seconds bytes errors mismatches first_error) || true
    ((rc == 124)) && first_error="client killed after ${RUN_TIMEOUT}s (timeout); ${first_error:-}"
    printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$label" "$server" "$RUN_SEQ" "${value:-}" \
        "${connected:-}" "${seconds:-}" "${bytes:-}" "${errors:-}" "${mismatches:-}" "$rc" \
        "${first_error:-}" >>"$TMP/runs.tsv"
    log "  $label $server: $metric=${value:-?} connected=${connected:-?} seconds=${seconds:-?} bytes=${bytes:-?} errors=${errors:-?} mismatches=${mismatches:-?} exit=$rc${first_error:+ first_error: $first_error}"
    if [[ $rc -ne 0 && -s $TMP/run.$RUN_SEQ.err ]]; then
        log "    client stderr: $(head -c 300 "$TMP/run.$RUN_SEQ.err" | tr '\n' ' ')"
    fi
}

# median LABEL SERVER: median of the values of that label and server.
median() {
    awk -F'\t' -v l="$1" -v s="$2" '$1 == l && $2 == s && $4 != "" && $4 != "PARSE_ERROR" { print $4 }' \
        "$TMP/runs.tsv" | sort -g | awk '{ v[NR] = $1 } END {
            if (NR == 0) print ""; else if (NR % 2) print v[(NR + 1) / 2]; else printf "%.6g\n", (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}

# bad_runs LABEL SERVER [EXPECT_BYTES]: "N/M runs bad (...)" for runs with errors, mismatches, a
# non-zero exit, missing JSON or (with EXPECT_BYTES) short byte counts; "" when all are clean.
bad_runs() {
    awk -F'\t' -v l="$1" -v s="$2" -v eb="${3:-}" '
        $1 == l && $2 == s {
            n++
            why = ""
            if ($4 == "" || $4 == "PARSE_ERROR") why = why " no JSON"
            if ($8 != "" && $8 + 0 != 0) why = why " errors=" $8
            if ($9 != "" && $9 + 0 != 0) why = why " mismatches=" $9
            if (eb != "" && $7 != eb) why = why " bytes=" $7
            if ($10 != 0) why = why " exit=" $10
            if (why != "") { bad++; list = list (list == "" ? "" : ";") " run " $3 ":" why }
        }
        END { if (bad) printf "%d/%d runs bad:%s\n", bad, n, list }' "$TMP/runs.tsv"
}

ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (a == "" || b == "" || b + 0 == 0) print "n/a"; else printf "%.2f", a / b }'; }
ge() { awk -v r="$1" -v l="$2" 'BEGIN { if (r == "n/a" || r == "") print "n/a"; else print (r + 0 >= l + 0) ? "PASS" : "FAIL" }'; }
fmt() { awk -v v="$1" -v d="$2" 'BEGIN { if (v == "") print "n/a"; else printf "%.*f", d, v }'; }

: >"$TMP/runs.tsv"
NPROC=$(nproc)
log "sockscope echo benchmark: $NPROC cores (client and server share them), kernel $(uname -r), $("$BIN" --version 2>/dev/null || echo sockscope), $(socat -V 2>/dev/null | sed -n 's/^socat version \([^ ]*\).*/socat \1/p'), descriptors soft $(ulimit -Sn) hard $(ulimit -Hn)"

# ---------------------------------------------------------------------------------------------
# Scenarios 1 and 2: one sockscope server and one socat (the exact peer command) serve both.

start_sockscope main --tcp --quiet
MAIN_PID=$SPID
MAIN_PORT=$SPORT
start_socat socat
SOCAT_PG=$OPGID
SOCAT_PORT=$OPORT

log "=== 1. one connection streaming $STREAM_BYTES bytes, $RUNS_STREAM runs each, alternating ==="
for ((r = 1; r <= RUNS_STREAM; r++)); do
    if ((r % 2)); then order="sockscope socat"; else order="socat sockscope"; fi
    for who in $order; do
        if [[ $who == sockscope ]]; then
            load_run stream sockscope "$MAIN_PORT" mb_per_s --connections 1 --bytes "$STREAM_BYTES"
        else
            load_run stream socat "$SOCAT_PORT" mb_per_s --connections 1 --bytes "$STREAM_BYTES"
            wait_socat_idle "$SOCAT_PG" >/dev/null
        fi
    done
done
check_sockscope_alive "$MAIN_PID" main "after the stream runs" || true

log "=== 2. $RT_CONNS connections, $RT_SIZE-byte round trips for $RT_DURATION, $RUNS_RT runs each, alternating ==="
SOCAT_PEAK=0
for ((r = 1; r <= RUNS_RT; r++)); do
    if ((r % 2)); then order="sockscope socat"; else order="socat sockscope"; fi
    for who in $order; do
        if [[ $who == sockscope ]]; then
            load_run rt sockscope "$MAIN_PORT" round_trips_per_s \
                --connections "$RT_CONNS" --duration "$RT_DURATION" --size "$RT_SIZE"
        else
            # Sample the socat process count while the load runs (bounded by the client's run).
            rm -f "$TMP/socat_stop"
            (
                peak=0
                for ((i = 0; i < RUN_TIMEOUT * 2; i++)); do
                    n=$(group_count "$SOCAT_PG")
                    ((n > peak)) && peak=$n
                    echo "$peak" >"$TMP/socat_peak"
                    [[ -e $TMP/socat_stop ]] && break
                    sleep 0.5
                done
            ) &
            sampler=$!
            load_run rt socat "$SOCAT_PORT" round_trips_per_s \
                --connections "$RT_CONNS" --duration "$RT_DURATION" --size "$RT_SIZE"
            touch "$TMP/socat_stop"
            wait "$sampler" 2>/dev/null || true
            p=$(cat "$TMP/socat_peak" 2>/dev/null || echo 0)
            ((p > SOCAT_PEAK)) && SOCAT_PEAK=$p
            left=$(wait_socat_idle "$SOCAT_PG")
            log "  socat: up to $p processes during the run; $left left 15 s after it at most"
        fi
    done
done
check_sockscope_alive "$MAIN_PID" main "after the round-trip runs" || true

stop_socat "$SOCAT_PG"
left=$STOP_LEFT
after=$(group_count "$SOCAT_PG")
log "socat stopped (process group $SOCAT_PG): $left processes still there 10 s after SIGTERM (then SIGKILLed), $after left now"
((after == 0)) || warn "socat process group $SOCAT_PG still has $after processes after SIGKILL"
((left == 0)) || warn "$left socat processes ignored SIGTERM for 10 s and were SIGKILLed"

if ((SOCAT_INFO_BACKLOG > 0)); then
    log "=== 2b. (info) the same round trips against socat with backlog=$SOCAT_INFO_BACKLOG, $RUNS_RT runs ==="
    start_socat socat_backlog ",backlog=$SOCAT_INFO_BACKLOG"
    SOCAT_B_PG=$OPGID
    for ((r = 1; r <= RUNS_RT; r++)); do
        load_run rt socat_backlog "$OPORT" round_trips_per_s \
            --connections "$RT_CONNS" --duration "$RT_DURATION" --size "$RT_SIZE"
        wait_socat_idle "$SOCAT_B_PG" >/dev/null
    done
    stop_socat "$SOCAT_B_PG"
    left=$STOP_LEFT
    after=$(group_count "$SOCAT_B_PG")
    log "socat backlog=$SOCAT_INFO_BACKLOG stopped: $left SIGKILLed after 10 s, $after left now"
    ((after == 0)) || warn "socat process group $SOCAT_B_PG still has $after processes after SIGKILL"
fi

MAIN_TOTALS=
if kill -0 "$MAIN_PID" 2>/dev/null; then
    kill -INT "$MAIN_PID" 2>/dev/null || true
    if wait_gone 10 "$MAIN_PID"; then
        rc=0
        wait "$MAIN_PID" 2>/dev/null || rc=$?
        MAIN_TOTALS="$(tail -n +2 "$TMP/main.out" | tr '\n' ' ') (exit $rc)"
        log "sockscope server main stopped: $MAIN_TOTALS"
    else
        warn "sockscope server main did not stop within 10 s of SIGINT; SIGKILLed"
        stop_pid "$MAIN_PID"
    fi
fi

# ---------------------------------------------------------------------------------------------
# Scenario 3: idle connections held against a fresh sockscope server.

cat >"$TMP/idle_holder.py" <<'PY'
"""idle_holder.py PORT N PARENT_PID SETUP_TIMEOUT MAX_LIFE: opens N TCP connections to
127.0.0.1:PORT, sends nothing, prints "ready ..." and holds them until killed, until PARENT_PID
is gone, or MAX_LIFE seconds. SO_LINGER 0: closing resets, no TIME-WAIT left behind."""
import os, resource, socket, struct, sys, time

port, n, parent, setup_timeout, max_life = (
    int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]), float(sys.argv[4]), float(sys.argv[5]))
need = n + 64
soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
if hard != resource.RLIM_INFINITY and hard < need:
    sys.exit(f"idle_holder: needs {need} descriptors, hard limit is {hard}")
if soft != resource.RLIM_INFINITY and soft < need:
    resource.setrlimit(resource.RLIMIT_NOFILE, (need, hard))
LINGER0 = struct.pack("ii", 1, 0)
start = time.monotonic()
held = []
for i in range(n):
    if time.monotonic() - start > setup_timeout:
        sys.exit(f"idle_holder: setup timeout after {i} of {n} connections")
    c = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    c.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, LINGER0)
    c.settimeout(10)
    try:
        c.connect(("127.0.0.1", port))
    except OSError as e:
        sys.exit(f"idle_holder: connection {i + 1} of {n} failed: {e}")
    held.append(c)
print(f"ready connections={len(held)} setup={time.monotonic() - start:.1f}s", flush=True)
deadline = time.monotonic() + max_life
while time.monotonic() < deadline and os.getppid() == parent:
    time.sleep(0.5)
PY

status_kib() { awk -v k="$2:" '$1 == k { print $2 }' "/proc/$1/status" 2>/dev/null || true; }
fd_count() { find "/proc/$1/fd" -mindepth 1 -maxdepth 1 2>/dev/null | wc -l; }
mib() { awk -v k="$1" 'BEGIN { if (k == "") print "n/a"; else printf "%.1f", k / 1024 }'; }

log "=== 3. $IDLE_CONNS idle connections held against sockscope echo --tcp --quiet ${IDLE_MAX_CONNS:+--max-conns $IDLE_MAX_CONNS} ==="
start_sockscope idle --tcp --quiet ${IDLE_MAX_CONNS:+--max-conns "$IDLE_MAX_CONNS"}
IDLE_PID=$SPID
IDLE_PORT=$SPORT
sleep 0.2
IDLE_RSS0=$(status_kib "$IDLE_PID" VmRSS)
log "server idle: VmRSS $(mib "$IDLE_RSS0") MiB before any connection"

python3 "$TMP/idle_holder.py" "$IDLE_PORT" "$IDLE_CONNS" "$$" "$READY_TIMEOUT" "$HOLDER_MAX_LIFE" \
    >"$TMP/holder.out" 2>"$TMP/holder.err" &
HOLDER=$!
HOLDER_PIDS+=("$HOLDER")
deadline=$((SECONDS + READY_TIMEOUT + 5))
while ! grep -q '^ready' "$TMP/holder.out" 2>/dev/null; do
    kill -0 "$HOLDER" 2>/dev/null || die "idle holder exited before ready: $(tail -n 3 "$TMP/holder.err")"
    ((SECONDS < deadline)) || die "idle holder not ready after ${READY_TIMEOUT}s"
    sleep 0.2
done
log "idle holder (pid $HOLDER): $(cat "$TMP/holder.out")"

# A connect completes once the kernel queued it; wait (bounded, 30 s) until the server has
# accepted them all, i.e. holds at least IDLE_CONNS descriptors.
for ((i = 0; i < 300; i++)); do
    (($(fd_count "$IDLE_PID") >= IDLE_CONNS)) && break
    kill -0 "$IDLE_PID" 2>/dev/null || break
    sleep 0.1
done
IDLE_FDS=$(fd_count "$IDLE_PID")
((IDLE_FDS >= IDLE_CONNS)) || warn "server idle holds only $IDLE_FDS descriptors with $IDLE_CONNS connections open"
sleep 1 # let the server settle after the accept burst

HELLO_RC=0
timeout 10 "$BIN" echo --connect "127.0.0.1:$IDLE_PORT" -m hello --json >"$TMP/hello.json" 2>"$TMP/hello.err" ||
    HELLO_RC=$?
IFS=$'\x1f' read -r HELLO_RTT HELLO_ECHOED HELLO_FAIL HELLO_ERR < <(fields "$TMP/hello.json" rtt_avg_ms echoed failure error) || true
log "hello while $IDLE_CONNS are held: exit $HELLO_RC, rtt ${HELLO_RTT:-?} ms, echoed ${HELLO_ECHOED:-?}${HELLO_FAIL:+, failure $HELLO_FAIL}${HELLO_ERR:+, error $HELLO_ERR}"
((HELLO_RC == 0)) || warn "the hello client failed (exit $HELLO_RC) with $IDLE_CONNS idle connections held: $(head -c 300 "$TMP/hello.err" | tr '\n' ' ')"

IDLE_RSS=$(status_kib "$IDLE_PID" VmRSS)
IDLE_HWM=$(status_kib "$IDLE_PID" VmHWM)
IDLE_THREADS=$(status_kib "$IDLE_PID" Threads)
ESTAB=$(ss -Htn state established "dport = :$IDLE_PORT" | wc -l)
log "server idle: VmRSS $(mib "$IDLE_RSS") MiB, VmHWM $(mib "$IDLE_HWM") MiB, $IDLE_THREADS threads, $IDLE_FDS descriptors; $ESTAB client connections established"
check_sockscope_alive "$IDLE_PID" idle "with $IDLE_CONNS idle connections held" || true
((ESTAB >= IDLE_CONNS)) || warn "only $ESTAB of $IDLE_CONNS idle connections still established at the end"

stop_pid "$HOLDER"
HOLDER_PIDS=()
IDLE_TOTALS=
if kill -0 "$IDLE_PID" 2>/dev/null; then
    kill -INT "$IDLE_PID" 2>/dev/null || true
    if wait_gone 10 "$IDLE_PID"; then
        rc=0
        wait "$IDLE_PID" 2>/dev/null || rc=$?
        IDLE_TOTALS="$(tail -n +2 "$TMP/idle.out" | tr '\n' ' ') (exit $rc)"
        log "sockscope server idle stopped: $IDLE_TOTALS"
    else
        warn "sockscope server idle did not stop within 10 s of SIGINT; SIGKILLed"
        stop_pid "$IDLE_PID"
    fi
fi

# ---------------------------------------------------------------------------------------------
# Results

S1_SC=$(median stream sockscope)
S1_SO=$(median stream socat)
S1_R=$(ratio "$S1_SC" "$S1_SO")
S1_BAD_SC=$(bad_runs stream sockscope "$STREAM_BYTES")
S1_BAD_SO=$(bad_runs stream socat "$STREAM_BYTES")
S1_V=$(ge "$S1_R" 1.5)
[[ -z $S1_BAD_SC ]] || S1_V="FAIL (runs)"

S2_SC=$(median rt sockscope)
S2_SO=$(median rt socat)
S2_R=$(ratio "$S2_SC" "$S2_SO")
S2_BAD_SC=$(bad_runs rt sockscope)
S2_BAD_SO=$(bad_runs rt socat)
S2_V=$(ge "$S2_R" 2.0)
[[ -z $S2_BAD_SC ]] || S2_V="FAIL (runs)"
if ((SOCAT_INFO_BACKLOG > 0)); then
    S2B_SO=$(median rt socat_backlog)
    S2B_R=$(ratio "$S2_SC" "$S2B_SO")
    S2B_BAD=$(bad_runs rt socat_backlog)
fi

S3_V=$(awk -v k="$IDLE_RSS" 'BEGIN { if (k == "") print "n/a"; else print (k / 1024 < 100) ? "PASS" : "FAIL" }')
if ((HELLO_RC == 0)); then HELLO_V=PASS; else HELLO_V="FAIL (exit $HELLO_RC)"; fi

{
    echo "== sockscope echo vs socat on 127.0.0.1; nproc = $NPROC (client and server share these $NPROC cores) =="
    echo "   same client for both: sockscope echo --connect ... --json (load mode); medians of the runs"
    printf '%-46s %12s %12s %7s  %-12s %s\n' "measure" "sockscope" "socat" "ratio" "target" "result"
    printf '%-46s %12s %12s %7s  %-12s %s\n' \
        "1. stream $((STREAM_BYTES / 1048576)) MiB, 1 conn, MB/s (${RUNS_STREAM} runs)" \
        "$(fmt "$S1_SC" 1)" "$(fmt "$S1_SO" 1)" "$S1_R" ">= 1.5x" "$S1_V"
    printf '%-46s %12s %12s %7s  %-12s %s\n' \
        "2. $RT_CONNS conns x $RT_SIZE B, $RT_DURATION, round trips/s (${RUNS_RT} runs)" \
        "$(fmt "$S2_SC" 0)" "$(fmt "$S2_SO" 0)" "$S2_R" ">= 2.0x" "$S2_V"
    if ((SOCAT_INFO_BACKLOG > 0)); then
        printf '%-46s %12s %12s %7s  %-12s %s\n' \
            "2b. same, socat backlog=$SOCAT_INFO_BACKLOG (info)" \
            "$(fmt "$S2_SC" 0)" "$(fmt "$S2B_SO" 0)" "$S2B_R" "(info)" "-"
    fi
    printf '%-46s %12s %12s %7s  %-12s %s\n' \
        "3. $IDLE_CONNS idle conns: server VmRSS MiB" "$(mib "$IDLE_RSS")" "n/a*" "-" "< 100 MiB" "$S3_V"
    printf '%-46s %12s %12s %7s  %-12s %s\n' \
        "   $IDLE_CONNS idle conns: server VmHWM MiB" "$(mib "$IDLE_HWM")" "n/a*" "-" "(info)" "-"
    printf '%-46s %12s %12s %7s  %-12s %s\n' \
        "   hello RTT ms while $IDLE_CONNS are held" "$(fmt "$HELLO_RTT" 3)" "-" "-" "exit 0" "$HELLO_V"
    echo "   * socat forks a process per connection: its RSS is not comparable, so it is not measured."
    echo "   idle server: VmRSS $(mib "$IDLE_RSS0") MiB before the connections, $IDLE_THREADS threads, $IDLE_FDS fds held; --max-conns ${IDLE_MAX_CONNS:-default}"
    echo
    echo "checks (errors == 0, mismatches == 0, exit 0; stream: all bytes back):"
    echo "   1. sockscope: ${S1_BAD_SC:-all runs clean}"
    echo "   1. socat:     ${S1_BAD_SO:-all runs clean}"
    echo "   2. sockscope: ${S2_BAD_SC:-all runs clean}"
    echo "   2. socat:     ${S2_BAD_SO:-all runs clean}"
    if ((SOCAT_INFO_BACKLOG > 0)); then
        echo "   2b. socat backlog=$SOCAT_INFO_BACKLOG: ${S2B_BAD:-all runs clean}"
    fi
    echo "   socat: up to $SOCAT_PEAK processes in its group during the round-trip runs; all killed"
    echo
    echo "runs (label, server, run, value, connected, seconds, bytes, errors, mismatches, exit, first_error):"
    awk -F'\t' '{ printf "   %-6s %-14s #%-3s %12s  conn=%-5s s=%-8s bytes=%-10s err=%-4s mis=%-3s exit=%s %s\n",
        $1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11 }' "$TMP/runs.tsv"
    [[ -z $MAIN_TOTALS ]] || echo "   server main $MAIN_TOTALS"
    [[ -z $IDLE_TOTALS ]] || echo "   server idle $IDLE_TOTALS"
    if ((${#NOTES[@]})); then
        echo
        echo "notes:"
        for n in "${NOTES[@]}"; do echo "   - $n"; done
    fi
} >"$TMP/results.txt"

echo
echo "==================== RESULTS ===================="
cat "$TMP/results.txt"
exit 0
