#!/usr/bin/env bash
# `attestd collect` on this host beside `lynis audit system --quick`, in one run: wall
# time (median and best of N) and the peak RSS of the largest process of each (the
# process or any child it waited for, /usr/bin/time's %M), and the ratio. Then each
# collector alone and `collect --root tests/fixtures/hosts/hardened`. Prints figures;
# asserts nothing. Targets (issue 15): full collect < 50 ms and < 20 MB, one collector
# < 10 ms, lynis >= 500x as long.
#
#   sudo bash bench/collect.sh          # RUNS=30 LYNIS_RUNS=3 by default
#
# Installs lynis and GNU time when missing (the bench only; CI does not run it). Run as
# root for a full assessment: both tools read /etc/shadow.
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS=${RUNS:-30}
LYNIS_RUNS=${LYNIS_RUNS:-3}
export DEBIAN_FRONTEND=noninteractive
missing=()
command -v lynis >/dev/null || missing+=(lynis)
[ -x /usr/bin/time ] || missing+=(time)
if [ "${#missing[@]}" -gt 0 ]; then
  apt-get update -qq && apt-get install -y -qq "${missing[@]}" >/dev/null
fi
[ "$(id -u)" -eq 0 ] || echo "warning: not root; both tools see less of the host" >&2
bin=${BIN:-$PWD/target/release/attestd}   # BIN=... to measure another build
[ -x "$bin" ] || cargo build --release -q
echo "attestd binary: $(du -h "$bin" | cut -f1), $(nproc) CPUs, load $(cut -d' ' -f1-3 /proc/loadavg)"

# wall NAME RUNS WARMUP CMD...: median and best wall time in ms (exit status ignored:
# collect exits 1 when a rule fails).
wall() {
  python3 - "$@" <<'PY'
import statistics, subprocess, sys, time
name, runs, warm, cmd = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4:]
for _ in range(warm):
    subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
t = []
for _ in range(runs):
    s = time.perf_counter()
    subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    t.append((time.perf_counter() - s) * 1000)
print(f"{statistics.median(t):.1f} {min(t):.1f}")
PY
}
# rss CMD...: peak RSS in KiB of the largest process.
rss() { { /usr/bin/time -f %M "$@" 2>&1 >/dev/null || true; } | tail -1; }

row() { printf '%-44s %10s %10s %12s\n' "$@"; }
row "" "median ms" "best ms" "peak RSS"
read -r a_med a_min < <(wall full "$RUNS" 3 "$bin" collect --format json)
a_rss=$(rss "$bin" collect --format json)
row "attestd collect (all collectors)" "$a_med" "$a_min" "$((a_rss / 1024)) MiB"
# Every built-in collector alone (the list `collect --help` gives), or SINGLES="a b".
singles=${SINGLES:-$("$bin" collect --help | tr -s ' \n' ' ' \
  | sed -n 's/.*Run only this collector (repeatable): \(.*\), or a configured plugin.*/\1/p' | tr -d ',')}
[ -n "$singles" ] || { echo "cannot read the collector list from collect --help" >&2; exit 1; }
for c in $singles; do
  read -r med min < <(wall "$c" "$RUNS" 3 "$bin" collect --collector "$c" --format json)
  row "attestd collect --collector $c" "$med" "$min" "$(( $(rss "$bin" collect --collector "$c" --format json) / 1024 )) MiB"
done
read -r med min < <(wall root "$RUNS" 3 "$bin" collect --root tests/fixtures/hosts/hardened --format json)
row "attestd collect --root fixtures/hardened" "$med" "$min" "$(( $(rss "$bin" collect --root tests/fixtures/hosts/hardened --format json) / 1024 )) MiB"
lynis_cmd=(lynis audit system --quick --no-colors --no-log --quiet)
read -r l_med l_min < <(wall lynis "$LYNIS_RUNS" 0 "${lynis_cmd[@]}")
l_rss=$(rss "${lynis_cmd[@]}")
row "lynis audit system --quick" "$l_med" "$l_min" "$((l_rss / 1024)) MiB"
python3 -c "print(f'ratio: lynis takes {float($l_med)/float($a_med):.0f}x as long as attestd collect (medians)')"
