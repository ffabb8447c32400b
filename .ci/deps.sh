#!/usr/bin/env bash
# Installs the Debian packages the test suite uses, when they are missing:
#   python3     independent socket peers written in the tests (holders, pre-forked servers, RAW)
#   iproute2    ip netns / veth for test hosts in network namespaces; ss for the benchmarks;
#               nstat, the reference for `stats` (tests/stats.rs, benches/stats.sh)
#   util-linux  setpriv, for the unprivileged runs (drop to nobody)
#   lsof, net-tools: the peers the benchmarks compare against
#   tcpdump     the filter reference (tcpdump -r FILE EXPR) and the capture benchmark peer
#   tshark      reads back the pcaps sockscope writes; editcap/mergecap make pcapng fixtures
#   prometheus  for promtool only: `promtool check metrics` lints `stats --prometheus` (a 19 MB
#               download; the package also installs a Prometheus server unit, which a machine
#               with systemd would start: tests need only the promtool binary)
#   nftables    nft drops a share of the data segments inside a test namespace, so
#               tests/health.rs sees real retransmissions (compared with ss -ti); and a drop
#               rule on a router namespace for tests/trace.rs
#   traceroute, mtr-tiny: the references for `trace` (traceroute -n -T -p PORT, mtr -n --report),
#               compared hop by hop in tests/trace.rs and timed in benches/trace.sh
#   man-db, bash-completion, dpkg-dev: tests/package.rs installs the Debian package and reads
#               its man page, completes `sockscope li<TAB>` through bash-completion, and
#               cargo-deb works out Depends with dpkg-shlibdeps (dpkg-dev)
# and cargo-deb itself (a pinned version, built with cargo: .ci/cargo-deb.sh), which builds
# the package (.ci/package.sh).
# Needs root to install; without root it only says what is missing.
set -euo pipefail

need=()
# Debian's own python3 too: tests run peers as 'nobody', who cannot use a python under /root.
{ command -v python3 >/dev/null 2>&1 && [ -x /usr/bin/python3 ]; } || need+=(python3)
command -v setpriv >/dev/null 2>&1 || need+=(util-linux)
{ command -v ss >/dev/null 2>&1 && command -v ip >/dev/null 2>&1 && command -v nstat >/dev/null 2>&1; } || need+=(iproute2)
command -v lsof >/dev/null 2>&1 || need+=(lsof)
command -v netstat >/dev/null 2>&1 || need+=(net-tools)
command -v tcpdump >/dev/null 2>&1 || need+=(tcpdump)
{ command -v tshark >/dev/null 2>&1 && command -v editcap >/dev/null 2>&1; } || need+=(tshark)
command -v promtool >/dev/null 2>&1 || need+=(prometheus)
command -v nft >/dev/null 2>&1 || need+=(nftables)
command -v traceroute >/dev/null 2>&1 || need+=(traceroute)
command -v mtr >/dev/null 2>&1 || need+=(mtr-tiny)
command -v man >/dev/null 2>&1 || need+=(man-db)
[ -f /usr/share/bash-completion/bash_completion ] || need+=(bash-completion)
command -v dpkg-shlibdeps >/dev/null 2>&1 || need+=(dpkg-dev)

# Not a Debian package: cargo builds it (no root needed), once per machine.
bash "$(dirname "$0")/cargo-deb.sh"

if [ ${#need[@]} -eq 0 ]; then
  exit 0
fi
if [ "$(id -u)" -ne 0 ]; then
  echo "deps: missing Debian packages: ${need[*]} (run as root, or: sudo apt-get install ${need[*]})" >&2
  exit 0
fi
export DEBIAN_FRONTEND=noninteractive
# tshark asks whether non-root users may capture; answer no without a prompt.
echo "wireshark-common wireshark-common/install-setuid boolean false" | debconf-set-selections 2>/dev/null || true
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
echo "deps: installed ${need[*]}" >&2
