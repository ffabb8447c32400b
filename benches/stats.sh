#!/usr/bin/env bash
# benches/stats.sh: `sockscope stats` against iproute2's nstat.
#
# What it measures:
#   * wall time per run of `sockscope stats --all` next to `nstat -az`, RUNS runs of each
#     (default 200), alternated so both see the same machine, output to /dev/null; the mean
#     and median per run and the ratio sockscope/nstat;
#   * the CPU that `sockscope stats --watch 1` uses over WATCH_SECS seconds (default 20),
#     from utime+stime in /proc/PID/stat, as a percent of one core; also for the heaviest
#     form, `stats --all --watch 1 --json` (every counter, one line every second).
# Targets it prints PASS/FAIL against: --watch 1 under 1% of a core. The nstat ratio is a
# report (both are one short process; sockscope's larger binary costs more to start).
# It exits 0 whatever the figures, and 1 only when the setup failed.
#
# How to run (by hand, not in CI; no root needed):
#     bash benches/stats.sh
# Knobs (environment): RUNS (200), WATCH_SECS (20), SOCKSCOPE_BIN (use this binary and skip
# `cargo build --release`).
#
# Network: none; it only reads /proc/net. nstat's history goes to a temp dir (NSTAT_HISTORY),
# removed on exit, as are the --watch processes (trap EXIT INT TERM).

set -euo pipefail
cd "$(dirname "$0")/.."

RUNS=${RUNS:-200}
WATCH_SECS=${WATCH_SECS:-20}

command -v nstat >/dev/null || { echo "nstat (iproute2) is needed: bash .ci/deps.sh" >&2; exit 1; }
if [ -z "${SOCKSCOPE_BIN:-}" ]; then
  cargo build --release --locked -q
  SOCKSCOPE_BIN=$PWD/target/release/sockscope
fi
[ -x "$SOCKSCOPE_BIN" ] || { echo "no binary at $SOCKSCOPE_BIN" >&2; exit 1; }

tmp=$(mktemp -d)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; wait "$p" 2>/dev/null || true; done
  rm -rf "$tmp"
}
trap cleanup EXIT INT TERM
export NSTAT_HISTORY=$tmp/nstat.history

# Wall time per run, in microseconds, one line per run.
now_us() { local t; t=$(date +%s%N); echo $((t / 1000)); }
: >"$tmp/ours"; : >"$tmp/theirs"
for ((i = 0; i < RUNS; i++)); do
  t0=$(now_us); "$SOCKSCOPE_BIN" stats --all >/dev/null; t1=$(now_us)
  nstat -az >/dev/null; t2=$(now_us)
  echo $((t1 - t0)) >>"$tmp/ours"
  echo $((t2 - t1)) >>"$tmp/theirs"
done
stats() { sort -n "$1" | awk '{ a[NR] = $1; s += $1 } END { printf "%.0f %.0f\n", s / NR, a[int((NR + 1) / 2)] }'; }
read -r ours_mean ours_med < <(stats "$tmp/ours")
read -r theirs_mean theirs_med < <(stats "$tmp/theirs")
echo "== one-shot, $RUNS runs each (microseconds per run) =="
printf '%-28s %10s %10s\n' command mean median
printf '%-28s %10s %10s\n' "sockscope stats --all" "$ours_mean" "$ours_med"
printf '%-28s %10s %10s\n' "nstat -az" "$theirs_mean" "$theirs_med"
awk -v a="$ours_med" -v b="$theirs_med" -v c="$ours_mean" -v d="$theirs_mean" \
  'BEGIN { printf "ratio sockscope/nstat: %.2fx (median), %.2fx (mean)\n", a / b, c / d }'

# CPU of --watch: utime+stime (clock ticks) from /proc/PID/stat over WATCH_SECS, as a percent
# of one core; /proc/PID/schedstat's run time in nanoseconds too, which resolves what a tick
# (10 ms) cannot.
hz=$(getconf CLK_TCK)
ticks() { awk '{ print $14 + $15 }' "/proc/$1/stat"; }
run_ns() { if [ -r "/proc/$1/schedstat" ]; then awk '{ print $1 }' "/proc/$1/schedstat"; else echo 0; fi; }
watch_cpu() {
  local label=$1; shift
  "$SOCKSCOPE_BIN" stats "$@" >/dev/null &
  local pid=$!
  pids+=("$pid")
  sleep 1 # past start-up: measure the steady state
  local t0 c0 n0 t1 c1 n1
  c0=$(ticks "$pid"); n0=$(run_ns "$pid"); t0=$(now_us)
  sleep "$WATCH_SECS"
  c1=$(ticks "$pid"); n1=$(run_ns "$pid"); t1=$(now_us)
  kill "$pid"; wait "$pid" 2>/dev/null || true
  awk -v c=$((c1 - c0)) -v n=$((n1 - n0)) -v hz="$hz" -v us=$((t1 - t0)) -v l="$label" \
    'BEGIN { secs = us / 1e6; p = 100 * c / hz / secs; q = 100 * n / 1e9 / secs;
             ticks = (c > 0) ? sprintf("%.3f%%", p) : sprintf("< %.3f%%", 100 / hz / secs);
             printf "%-32s stat: %d ticks = %s; schedstat: %.3f ms = %.4f%% of a core  %s\n",
                    l, c, ticks, n / 1e6, q, ((p < 1 && q < 1) ? "PASS (< 1%)" : "FAIL (>= 1%)") }'
}
echo "== --watch CPU over ${WATCH_SECS}s (1 tick = $((1000 / hz)) ms) =="
watch_cpu "stats --watch 1" --watch 1
watch_cpu "stats --all --watch 1 --json" --all --watch 1 --json
