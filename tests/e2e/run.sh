#!/usr/bin/env bash
# End-to-end test of the packaged service under a real systemd: build the .deb, boot a
# Debian 12 root with systemd-nspawn, `apt install` the package inside it and drive it
# with nsenter. Every check that fails ends the script with exit 1 and the reason;
# nothing is skipped. The container is stopped and its root removed whatever happens.
# Needs root, debootstrap, systemd-container (nsenter is in util-linux) and cargo-deb.
# Usage: tests/e2e/run.sh [path/to/attestd_VERSION_amd64.deb]
set -euo pipefail
cd "$(dirname "$0")/../.."
. tests/e2e/lib.sh

fail() {
  e2e_log "FAIL: $*"
  if [ -n "$E2E_PID" ]; then
    e2e_log "journal of attestd inside the container:"
    in_ct journalctl -u attestd --no-pager -n 60 >&2 || true
  fi
  echo "e2e: $(( steps > 0 ? steps - 1 : 0 )) passed, 1 failed"
  exit 1
}
# Every step that starts has passed the one before; the closing line counts them.
steps=0
step() { steps=$((steps + 1)); e2e_log "== $*"; }

[ "$(id -u)" = 0 ] || fail "must run as root (debootstrap, systemd-nspawn, nsenter)"
for tool in debootstrap systemd-nspawn nsenter jq curl; do
  command -v "$tool" >/dev/null 2>&1 || fail "$tool is missing (apt-get install debootstrap systemd-container jq curl)"
done

if [ $# -ge 1 ]; then
  deb=$1
else
  step "build the .deb"
  deb=$(bash packaging/build-deb.sh | tail -n1)
fi
[ -f "$deb" ] || fail "no package at $deb"
case "$(basename "$deb")" in
  attestd_*_amd64.deb) ;;
  *) fail "package name $(basename "$deb") is not attestd_VERSION_amd64.deb" ;;
esac

trap e2e_stop EXIT
step "Debian 12 root (cached in $E2E_CACHE_DIR)"
e2e_fresh_root
# Start from a compliant password-aging policy so that weakening it later is drift.
sed -i 's/^PASS_MAX_DAYS.*/PASS_MAX_DAYS\t90/' "$E2E_ROOT/etc/login.defs"
grep -q '^PASS_MAX_DAYS[[:space:]]*90$' "$E2E_ROOT/etc/login.defs" || fail "could not set PASS_MAX_DAYS in the root"

step "boot it with systemd-nspawn"
e2e_boot "${E2E_ROOT}.console.log" || fail "the container did not boot"
e2e_log "container PID 1 is $E2E_PID on the host"

step "apt install ./$(basename "$deb")"
e2e_install_deb "$deb" || fail "apt install of the package failed"
in_ct getent passwd attestd >/dev/null || fail "postinst did not create the attestd user"
[ "$(in_ct systemctl is-enabled attestd)" = enabled ] || fail "postinst did not enable attestd.service"
state=$(in_ct systemctl is-active attestd || true)
[ "$state" = inactive ] || fail "postinst must enable, not start, the unit (it is $state)"
for f in /usr/bin/attestd /etc/attestd/attestd.toml /usr/share/attestd/policies/password_policy.toml \
         /usr/share/attestd/policies/frameworks/soc2.toml /usr/share/man/man8/attestd.8.gz \
         /usr/share/bash-completion/completions/attestd /usr/lib/sysusers.d/attestd.conf \
         /usr/lib/tmpfiles.d/attestd.conf /etc/attestd/policies.d; do
  in_ct test -e "$f" || fail "the package did not install $f"
done
in_ct test -x /usr/lib/attestd/attestd-worker || fail "the package did not install the worker /usr/lib/attestd/attestd-worker"
worker_rc=0
in_ct /usr/lib/attestd/attestd-worker collect-worker </dev/null >/dev/null 2>&1 || worker_rc=$?
[ "$worker_rc" -eq 4 ] || fail "/usr/lib/attestd/attestd-worker does not serve as attestd's worker (an empty request must be refused with status 4)"
in_ct dpkg-query --control-show attestd conffiles 2>/dev/null | grep -qx /etc/attestd/attestd.toml \
  || in_ct grep -qx /etc/attestd/attestd.toml /var/lib/dpkg/info/attestd.conffiles \
  || fail "/etc/attestd/attestd.toml is not a conffile"

step "systemd-analyze verify and security"
unit=/usr/lib/systemd/system/attestd.service
verify_err=$(in_ct systemd-analyze verify --man=no "$unit" 2>&1 >/dev/null) || fail "systemd-analyze verify failed: $verify_err"
[ -z "$verify_err" ] || fail "systemd-analyze verify warned: $verify_err"
security=$(in_ct systemd-analyze security --offline=yes --no-pager "$unit" 2>&1) || fail "systemd-analyze security failed: $security"
score=$(printf '%s\n' "$security" | sed -n 's/.*Overall exposure level for attestd.service: \([0-9.]*\).*/\1/p')
[ -n "$score" ] || fail "no exposure score in: $security"
e2e_log "systemd-analyze security --offline=yes: exposure $score (must be at most 2.5)"
awk -v s="$score" 'BEGIN { exit !(s <= 2.5) }' || fail "exposure $score is above 2.5"

step "systemctl start attestd reaches active (running) through READY=1"
in_ct systemctl start attestd || fail "systemctl start attestd failed"
props=$(in_ct systemctl show attestd -p ActiveState -p SubState -p Type -p StatusText -p User)
printf '%s\n' "$props" | grep -qx ActiveState=active || fail "not active after start: $props"
printf '%s\n' "$props" | grep -qx SubState=running || fail "not running after start: $props"
printf '%s\n' "$props" | grep -qx Type=notify || fail "the unit is not Type=notify: $props"
printf '%s\n' "$props" | grep -q '^StatusText=.\+' || fail "no STATUS= from the daemon: $props"
mainpid=$(in_ct systemctl show -p MainPID --value attestd)
[ "$(in_ct stat -c %U "/proc/$mainpid")" = attestd ] || fail "the daemon does not run as the attestd user"

# The first run completes after READY; wait for it in the ledger. JSON is read with the
# host's jq (the minimal root has none).
status_json() { in_ct attestd status --format json 2>/dev/null; }
runs_stored() { status_json | jq -r '.ledger_rows.run // 0' 2>/dev/null || echo 0; }
for _ in $(seq 1 60); do
  [ "$(runs_stored)" -ge 1 ] && break
  sleep 0.5
done
[ "$(runs_stored)" -ge 1 ] || fail "no completed run in the ledger 30 s after start"
in_ct attestd status >&2 || fail "attestd status failed"
doc=$(status_json)
failing() { printf '%s' "$doc" | jq -r --arg r "$1" '.failing_rules[] | select(.rule == $r) | .status'; }
# Real verdicts about this host: both collectors observed it, the rules that need
# /etc/shadow were judged (CAP_DAC_READ_SEARCH works as user attestd), stock Debian's
# missing pam_pwquality fails, and the PASS_MAX_DAYS 90 set above passes.
for c in password_policy availability; do
  printf '%s' "$doc" | jq -e --arg c "$c" '.collectors[] | select(.collector == $c and .error == null)' >/dev/null \
    || fail "collector $c did not observe the host: $doc"
done
[ "$(failing password.account_max_age)" != error ] || fail "password.account_max_age is error: the service cannot read /etc/shadow"
[ "$(failing password.min_length)" = fail ] || fail "password.min_length should fail on a stock Debian 12 root: $doc"
[ -z "$(failing password.max_age)" ] || fail "password.max_age should pass (PASS_MAX_DAYS 90 was set): $doc"

step "the status endpoint serves /health and /metrics on its unix socket"
http_get() {
  # The minimal root has no curl: the host's curl talks to the socket through the
  # container's root directory.
  curl -sS --fail --max-time 5 --unix-socket "/proc/$E2E_PID/root/run/attestd/status.sock" "http://localhost$1"
}
health=$(http_get /health) || fail "GET /health failed"
  printf '%s' "$health" | grep -q '"status": "ok"' || fail "/health is not ok: $health"
  printf '%s' "$health" | grep -q '/usr/share/attestd/policies' || fail "the packaged policies are not the ones loaded: $health"
  metrics=$(http_get /metrics) || fail "GET /metrics failed"
  for m in attestd_runs_total attestd_rules attestd_collector_duration_seconds_bucket \
           attestd_collector_last_success_timestamp_seconds; do
    printf '%s\n' "$metrics" | grep -q "^$m" || fail "/metrics lacks $m"
  done
  printf '%s\n' "$metrics" | grep -q '^attestd_rules{status="fail"} [1-9]' || fail "/metrics reports no failing rules: $metrics"

step "a weakened watched file (PASS_MAX_DAYS 99999) is drift within seconds"
in_ct sed -i 's/^PASS_MAX_DAYS.*/PASS_MAX_DAYS\t99999/' /etc/login.defs
weakened_at=$(date +%s)
drift=""
for _ in $(seq 1 40); do
  drift=$(in_ct attestd history --rule password.max_age --format json 2>/dev/null \
    | jq -c '[.[] | select(.from == "pass" and .to == "fail")] | last // empty' || true)
  [ -n "$drift" ] && break
  sleep 0.5
done
[ -n "$drift" ] || fail "no pass -> fail drift event 20 s after weakening login.defs"
[ "$(printf '%s' "$drift" | jq -r .observed_after)" = 99999 ] || fail "the drift event does not show 99999: $drift"
e2e_log "drift recorded $(( $(date +%s) - weakened_at )) s after the edit: $drift"

step "journalctl -u attestd holds structured entries"
journal=$(in_ct journalctl -u attestd -o json --no-pager) || fail "journalctl failed"
entry=$(printf '%s\n' "$journal" | jq -c 'select(.RULE == "password.max_age" and .TO == "fail")' | head -n1)
[ -n "$entry" ] || fail "no journal entry with RULE=password.max_age"
for field in RULE CONTROL COLLECTOR RUN_ID; do
  printf '%s' "$entry" | jq -e --arg f "$field" '.[$f] | type == "string" and length > 0' >/dev/null \
    || fail "the drift entry lacks the $field field: $entry"
done
e2e_log "structured journal entry: $(printf '%s' "$entry" | jq -c '{MESSAGE, RULE, CONTROL, COLLECTOR, RUN_ID, PRIORITY}')"

step "SIGKILL: systemd restarts it, the ledger verifies, no completed run is lost"
before=$(runs_stored)
pid_before=$(in_ct systemctl show -p MainPID --value attestd)
in_ct systemctl kill --kill-who=main -s SIGKILL attestd || fail "systemctl kill failed"
for _ in $(seq 1 60); do
  pid_now=$(in_ct systemctl show -p MainPID --value attestd)
  if [ "$pid_now" != 0 ] && [ "$pid_now" != "$pid_before" ] && [ "$(in_ct systemctl is-active attestd || true)" = active ]; then
    break
  fi
  sleep 0.5
done
[ "$(in_ct systemctl is-active attestd || true)" = active ] || fail "not restarted after SIGKILL"
[ "$(in_ct systemctl show -p NRestarts --value attestd)" -ge 1 ] || fail "systemd did not count a restart"
in_ct attestd verify >&2 || fail "attestd verify failed after SIGKILL"
for _ in $(seq 1 60); do
  [ "$(runs_stored)" -gt "$before" ] && break
  sleep 0.5
done
after=$(runs_stored)
[ "$after" -gt "$before" ] || fail "runs before the kill: $before, after the restart: $after (expected more)"
e2e_log "runs stored before SIGKILL: $before, after the restart: $after"
# The run that recorded the drift above is still in the ledger, with its event.
drift_run=$(printf '%s' "$drift" | jq -r .run)
in_ct attestd history --rule password.max_age --format json \
  | jq -e --arg r "$drift_run" 'any(.[]; .run == $r and .to == "fail")' >/dev/null \
  || fail "run $drift_run (the drift) is missing after the SIGKILL"

step "systemctl reload with a broken config fails, keeps the old config and says why"
in_ct cp /etc/attestd/attestd.toml /root/attestd.toml.good
pid_before=$(in_ct systemctl show -p MainPID --value attestd)
# A good config reloads: ExecReload (attestd reload) waits for the daemon's answer.
in_ct systemctl reload attestd || fail "systemctl reload of the unchanged config failed"
in_ct sh -c 'printf "[daemon]\nwatch = maybe\n" > /etc/attestd/attestd.toml'
since=$(in_ct date '+%Y-%m-%d %H:%M:%S')
if in_ct systemctl reload attestd; then
  fail "systemctl reload exited 0 although the daemon refused the new config"
fi
status_text=$(in_ct systemctl status --no-pager -l attestd 2>&1 || true)
case "$status_text" in
  *"reload refused"*"/etc/attestd/attestd.toml:2"*) e2e_log "systemctl status names the refused config" ;;
  *) fail "systemctl status does not show why the reload was refused: $status_text" ;;
esac
status_out=$(in_ct attestd status 2>&1) || fail "attestd status failed while the config is refused: $status_out"
case "$status_out" in
  *"config: REFUSED: /etc/attestd/attestd.toml:2"*) ;;
  *) fail "attestd status does not say the config is refused: $status_out" ;;
esac
why=""
for _ in $(seq 1 40); do
  why=$(in_ct journalctl -u attestd --since "$since" --no-pager -o cat | grep 'reload failed' || true)
  [ -n "$why" ] && break
  sleep 0.25
done
[ -n "$why" ] || fail "no 'reload failed' in the journal after a broken reload"
case "$why" in
  *"/etc/attestd/attestd.toml:2:"*) e2e_log "journal: $why" ;;
  *) fail "the reload error does not name the config file and line: $why" ;;
esac
# After RELOADING=1 the unit shows `reloading` until the daemon sends READY=1 again.
for _ in $(seq 1 20); do
  [ "$(in_ct systemctl is-active attestd || true)" = active ] && break
  sleep 0.25
done
[ "$(in_ct systemctl is-active attestd || true)" = active ] || fail "the daemon is not active after a broken reload"
[ "$(in_ct systemctl show -p MainPID --value attestd)" = "$pid_before" ] || fail "the daemon restarted on a broken reload"
in_ct cp /root/attestd.toml.good /etc/attestd/attestd.toml
in_ct systemctl reload attestd || fail "reload of the restored config failed"

step "an upgrade keeps the operator's config edits and restarts the running service"
in_ct sh -c 'printf "\n# local edit by the e2e test\n" >> /etc/attestd/attestd.toml'
pid_before=$(in_ct systemctl show -p MainPID --value attestd)
in_ct sh -c "cd /root && apt-get install -y -q --reinstall -o Dpkg::Options::=--force-confold ./$(basename "$deb")" >/dev/null 2>&1 \
  || fail "reinstalling the package failed"
in_ct grep -q "local edit by the e2e test" /etc/attestd/attestd.toml || fail "the upgrade overwrote /etc/attestd/attestd.toml"
[ "$(in_ct systemctl is-active attestd || true)" = active ] || fail "not active after the upgrade"
[ "$(in_ct systemctl show -p MainPID --value attestd)" != "$pid_before" ] || fail "the upgrade did not restart the running service"

step "the daemon feeds the watchdog (WatchdogSec=2s for this check)"
in_ct mkdir -p /etc/systemd/system/attestd.service.d
in_ct sh -c 'printf "[Service]\nWatchdogSec=2s\n" > /etc/systemd/system/attestd.service.d/e2e-watchdog.conf'
in_ct systemctl daemon-reload
in_ct systemctl restart attestd || fail "restart with WatchdogSec=2s failed"
restarts=$(in_ct systemctl show -p NRestarts --value attestd)
pid_before=$(in_ct systemctl show -p MainPID --value attestd)
sleep 7
[ "$(in_ct systemctl show -p MainPID --value attestd)" = "$pid_before" ] || fail "the watchdog killed the daemon (no WATCHDOG=1 pings)"
[ "$(in_ct systemctl show -p NRestarts --value attestd)" = "$restarts" ] || fail "restarted during the watchdog check"
in_ct rm /etc/systemd/system/attestd.service.d/e2e-watchdog.conf
in_ct systemctl daemon-reload

step "systemctl stop ends within seconds and loses no write"
start_ns=$(date +%s%N)
in_ct systemctl stop attestd || fail "systemctl stop failed"
elapsed_ms=$(( ($(date +%s%N) - start_ns) / 1000000 ))
e2e_log "systemctl stop took ${elapsed_ms} ms"
[ "$elapsed_ms" -lt 5000 ] || fail "systemctl stop took ${elapsed_ms} ms (limit 5000)"
in_ct attestd verify >&2 || fail "attestd verify failed after stop"
result=$(in_ct systemctl show -p Result --value attestd)
[ "$result" = success ] || fail "the service stopped with result $result"

step "apt remove stops and disables it and keeps the ledger; purge keeps it too"
in_ct apt-get remove -y -q attestd >/dev/null 2>&1 || fail "apt-get remove failed"
in_ct test -f /var/lib/attestd/attestd.db || fail "apt-get remove deleted the ledger"
in_ct test -e /etc/systemd/system/multi-user.target.wants/attestd.service && fail "the unit is still enabled after remove"
in_ct apt-get purge -y -q attestd >/dev/null 2>&1 || fail "apt-get purge failed"
in_ct test -f /var/lib/attestd/attestd.db || fail "apt-get purge deleted the ledger"

e2e_log "== all end-to-end checks passed"
# The closing line CI reads: each step is a group of checks, all of which passed.
echo "e2e: $steps passed, 0 failed"
