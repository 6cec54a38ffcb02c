#!/usr/bin/env bash
# One `attestd collect` on this host: wall time and peak RSS, beside
# `lynis audit system --quick` on the same host. Prints figures; asserts nothing.
#
#   bash bench/collect.sh            # installs hyperfine, lynis and time if missing
#
# Run as root for a full assessment (both tools read /etc/shadow).
set -euo pipefail
cd "$(dirname "$0")/.."
export DEBIAN_FRONTEND=noninteractive
missing=()
command -v hyperfine >/dev/null || missing+=(hyperfine)
command -v lynis >/dev/null || missing+=(lynis)
[ -x /usr/bin/time ] || missing+=(time)
if [ "${#missing[@]}" -gt 0 ]; then
  apt-get update -qq && apt-get install -y -qq "${missing[@]}" >/dev/null
fi
cargo build --release -q
bin=target/release/attestd
echo "attestd binary: $(du -h "$bin" | cut -f1)"

echo "== attestd collect (embedded config and policies, this host)"
hyperfine --warmup 3 --runs 30 -i -N "$bin collect --format json" --export-json /tmp/attestd-collect.json | sed -n '1,4p'
# collect exits 1 when a rule fails; the figure is what matters here.
rss_a=$( { /usr/bin/time -f %M "$bin" collect --format json 2>&1 >/dev/null || true; } | tail -1)
echo "attestd peak RSS: ${rss_a} KiB"

echo "== lynis audit system --quick"
hyperfine --runs 3 -i "lynis audit system --quick --no-colors --no-log --quiet" --export-json /tmp/lynis.json | sed -n '1,4p'
rss_l=$( { /usr/bin/time -f %M lynis audit system --quick --no-colors --no-log --quiet 2>&1 >/dev/null || true; } | tail -1)
echo "lynis peak RSS (largest single process): ${rss_l} KiB"

python3 - <<'PY'
import json
a = json.load(open('/tmp/attestd-collect.json'))['results'][0]['mean']
l = json.load(open('/tmp/lynis.json'))['results'][0]['mean']
print(f"attestd collect: {a*1000:.1f} ms   lynis --quick: {l*1000:.0f} ms   ratio: lynis takes {l/a:.0f}x as long")
PY
