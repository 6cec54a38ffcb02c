#!/usr/bin/env bash
# Idle cost of the packaged daemon under a real systemd: boots the e2e Debian 12
# container (tests/e2e/lib.sh), installs the .deb, starts attestd with the default
# config (default schedules, file watches on) and after DURATION seconds (default 600)
# prints its resident memory and the CPU time it used. Targets: RSS under 15 MB, CPU
# under 1 s over 10 minutes. Prints figures, asserts nothing; CI does not run it.
# Usage: bench/idle.sh [path/to/attestd_VERSION_amd64.deb]   (DURATION=600 by default)
set -euo pipefail
cd "$(dirname "$0")/.."
. tests/e2e/lib.sh
duration=${DURATION:-600}

deb=${1:-$(bash packaging/build-deb.sh | tail -n1)}
trap e2e_stop EXIT
e2e_fresh_root
e2e_boot "${E2E_ROOT}.console.log"
e2e_install_deb "$deb" >/dev/null 2>&1
in_ct systemctl start attestd

pid=$(in_ct systemctl show -p MainPID --value attestd)
ticks=$(getconf CLK_TCK)
cpu_seconds() { in_ct cat "/proc/$pid/stat" | awk -v t="$ticks" '{ printf "%.2f", ($14 + $15) / t }'; }
status_kb() { in_ct awk -v k="$1:" '$1 == k { print $2 }' "/proc/$pid/status"; }

# Let the first run finish, then measure the idle period from there.
for _ in $(seq 1 60); do
  in_ct journalctl -u attestd -o cat --no-pager | grep -q 'run stored' && break
  sleep 0.5
done
watches=$(in_ct journalctl -u attestd -o json --no-pager | jq -r 'select(.DIRECTORIES != null) | .DIRECTORIES' | tail -n1)
cpu0=$(cpu_seconds)
rss0=$(status_kb VmRSS)
e2e_log "first run stored; idling for $duration s (file watches on $watches directories)"
sleep "$duration"
[ "$(in_ct systemctl show -p MainPID --value attestd)" = "$pid" ] || { echo "attestd restarted during the benchmark" >&2; exit 1; }
cpu1=$(cpu_seconds)
rss1=$(status_kb VmRSS)
hwm=$(status_kb VmHWM)
anon=$(status_kb RssAnon)
file=$(status_kb RssFile)
runs=$(in_ct attestd status --format json | jq -r '.ledger_rows.run')
threads=$(status_kb Threads)

echo "attestd idle benchmark (Debian 12 container, systemd $(in_ct systemctl --version | head -n1 | awk '{print $2}'), default config)"
echo "  duration:                 ${duration} s after the first run"
echo "  runs stored meanwhile:    $((runs - 1)) (default schedules)"
echo "  watched directories:      ${watches:-?}"
echo "  threads:                  ${threads}"
echo "  RSS after first run:      $(awk -v k="$rss0" 'BEGIN{printf "%.1f", k/1024}') MB"
echo "  RSS at the end:           $(awk -v k="$rss1" 'BEGIN{printf "%.1f", k/1024}') MB   (target < 15 MB)"
echo "    of which private:      $(awk -v k="$anon" 'BEGIN{printf "%.1f", k/1024}') MB (heap, stacks, relocated data)"
echo "    of which file-backed:  $(awk -v k="$file" 'BEGIN{printf "%.1f", k/1024}') MB (attestd's and libc's code, shared with the page cache)"
echo "  peak RSS (VmHWM):         $(awk -v k="$hwm" 'BEGIN{printf "%.1f", k/1024}') MB"
echo "  CPU time while idle:      $(awk -v a="$cpu0" -v b="$cpu1" 'BEGIN{printf "%.2f", b-a}') s   (target < 1 s)"
echo "  CPU time since start:     ${cpu1} s (includes the first run)"
