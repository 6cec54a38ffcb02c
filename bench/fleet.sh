#!/usr/bin/env bash
# Fleet server benchmark (issue 16): a PostgreSQL 15 cluster of its own, two
# `attestd-server run` instances on it over HTTPS, and server/examples/fleet_load.rs
# simulating hosts (each its own Ed25519 key, enrolled with a one-use token, pushing
# signed chained segments through the real API, alternating instances).
#
# Prints, with the load average beside them:
#   1. ingest: HOSTS hosts (default 1000), each its first ledger (one push) then RUNS
#      15-minute runs pushed one run per push (3 rows: evidence, verdicts, run);
#      rows/s and pushes/s; each server's peak RSS (VmHWM);
#   2. fleet bundle: for each HxD in BUNDLE_SIZES (default "20x30 40x30"), H hosts x D
#      days of 15-minute runs ingested the same way (96 runs a push), then
#      `attestd-server bundle` over those days: wall and CPU seconds, peak RSS, size; and
#      `attestd verify` of it (debug build; VERIFY=0 skips it: about 100 s per 60k rows).
#
# Usage: bash bench/fleet.sh   (env: HOSTS, RUNS, BUNDLE_SIZES, VERIFY=0, PROFILE=debug, KEEP=1,
#        AVAILABILITY_SCHEDULE (default "*/15 * * * *", the runs' cadence))
# Needs: postgresql-15 (initdb/pg_ctl), openssl (the test certificate), sqlite3.
set -euo pipefail
cd "$(dirname "$0")/.."
HOSTS=${HOSTS:-1000}
RUNS=${RUNS:-4}
BUNDLE_SIZES=${BUNDLE_SIZES:-"20x30 40x30"}
PG_BIN=/usr/lib/postgresql/15/bin

# PROFILE=release (default): optimised, but without the release profile's fat LTO
# (that takes many minutes on this machine); PROFILE=debug for a quick smoke run.
PROFILE=${PROFILE:-release}
if [ "$PROFILE" = release ]; then
  export CARGO_PROFILE_RELEASE_LTO=false CARGO_PROFILE_RELEASE_CODEGEN_UNITS=16 CARGO_PROFILE_RELEASE_OPT_LEVEL=2
  cargo build -q --release -p attestd-server --bin attestd-server --example fleet_load
else
  cargo build -q -p attestd-server --bin attestd-server --example fleet_load
fi
cargo build -q --bin attestd
SERVER=target/$PROFILE/attestd-server
LOAD=target/$PROFILE/examples/fleet_load
echo "binaries: $PROFILE profile"
ATTESTD=target/debug/attestd

W=$(mktemp -d /tmp/attestd-fleet-bench.XXXXXX)
chmod 755 "$W"  # the postgres user must reach $W/pg
PIDS=()
cleanup() {
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
  if [ -d "$W/pg" ]; then
    runuser -u postgres -- "$PG_BIN/pg_ctl" -w -m fast -D "$W/pg/data" stop >/dev/null 2>&1 || true
  fi
  [ "${KEEP:-0}" = 1 ] || rm -rf "$W"
}
trap cleanup EXIT
load() { cut -d' ' -f1-3 /proc/loadavg; }
hwm() { awk '/VmHWM/ {printf "%.1f MB", $2/1024}' "/proc/$1/status"; }
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

# PostgreSQL, as in server/tests/support.
mkdir -p "$W/pg" && chown postgres:postgres "$W/pg"
runuser -u postgres -- "$PG_BIN/initdb" -A trust -U postgres -E UTF8 --no-sync -D "$W/pg/data" >/dev/null
PGPORT=$(free_port)
runuser -u postgres -- "$PG_BIN/pg_ctl" -w -D "$W/pg/data" -l "$W/pg/log" \
  -o "-k $W/pg -p $PGPORT -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=200" start >/dev/null
psql -X -q -h 127.0.0.1 -p "$PGPORT" -U postgres -d postgres -c "CREATE DATABASE attestd"
OWNER="postgresql://postgres@127.0.0.1:$PGPORT/attestd"
"$SERVER" migrate --database "$OWNER" 2>/dev/null

# A self-signed end-entity certificate (webpki refuses a CA certificate as the server's).
cat > "$W/openssl.cnf" <<'EOF'
[req]
distinguished_name = dn
x509_extensions = ee
prompt = no
[dn]
CN = localhost
[ee]
basicConstraints = critical,CA:FALSE
keyUsage = critical,digitalSignature
extendedKeyUsage = serverAuth
subjectAltName = DNS:localhost,IP:127.0.0.1
EOF
openssl req -x509 -config "$W/openssl.cnf" -newkey ed25519 -nodes -days 2 \
  -keyout "$W/server.key" -out "$W/server.crt" 2>/dev/null
PA=$(free_port); PB=$(free_port)
for n in a b; do
  port=$PA; [ $n = b ] && port=$PB
  cat > "$W/$n.toml" <<EOF
database = "postgresql://attestd_server@127.0.0.1:$PGPORT/attestd"
listen = "127.0.0.1:$port"
witness_key = "$W/witness-key.pem"
tls_cert = "$W/server.crt"
tls_key = "$W/server.key"
# The simulated runs are dated in the past: do not count them late.
late_after_secs = 100000000
not_reporting_after_secs = 100000000
EOF
  "$SERVER" run --config "$W/$n.toml" 2>"$W/$n.log" &
  PIDS+=($!)
  for _ in $(seq 200); do
    (exec 3<>/dev/tcp/127.0.0.1/$port) 2>/dev/null && break
    sleep 0.1
  done
done
A_PID=${PIDS[0]}; B_PID=${PIDS[1]}

# The template: a real `attestd collect` of a fixture host, twice (the second run's rows
# are what each later run adds: the run row, and evidence and verdicts that changed).
mkdir -p "$W/tpl"
# The runs are written every 15 minutes, so the availability collector (default every
# 5 minutes) is scheduled every 15 too; AVAILABILITY_SCHEDULE='*/5 * * * *' measures the
# older shape (two missed runs in every 15 minutes: thousands of attestd_down gaps).
AVAILABILITY_SCHEDULE=${AVAILABILITY_SCHEDULE:-*/15 * * * *}
printf '[daemon]\npolicy_dirs = []\n\n[collectors.availability]\nschedule = "%s"\n' \
  "$AVAILABILITY_SCHEDULE" > "$W/tpl/attestd.toml"
for _ in 1 2; do
  "$ATTESTD" collect --root tests/fixtures/hosts/hardened --db "$W/tpl/a.db" \
    --config "$W/tpl/attestd.toml" >/dev/null 2>&1 || true
done
sqlite3 -json "$W/tpl/a.db" "SELECT seq, kind, recorded_at, body FROM ledger ORDER BY seq" > "$W/tpl/rows.json"
echo "template: $(sqlite3 "$W/tpl/a.db" 'SELECT count(*) FROM ledger') rows, $(stat -c %s "$W/tpl/rows.json") bytes (two runs)"
SERVERS="https://localhost:$PA,https://localhost:$PB"

echo "== ingest: $HOSTS hosts, 2 servers, one PostgreSQL (load before: $(load))"
"$LOAD" --pg "$OWNER" --servers "$SERVERS" --ca "$W/server.crt" --template "$W/tpl/rows.json" \
  --hosts "$HOSTS" --runs "$RUNS" --runs-per-push 1 --prefix ingest
echo "load after: $(load)"
echo "server a peak RSS: $(hwm "$A_PID"), server b peak RSS: $(hwm "$B_PID")"

for size in $BUNDLE_SIZES; do
  h=${size%x*}; d=${size#*x}
  # Hosts are enrolled now and a bundle's population is the hosts enrolled in its
  # period, so the simulated runs start at the next minute and go D days ahead.
  start=$(date -u -d '+1 minute' +%Y-%m-%dT%H:%M:00Z)
  echo "== bundle: $h hosts x $d days of 15-minute runs (load before: $(load))"
  "$LOAD" --pg "$OWNER" --servers "$SERVERS" --ca "$W/server.crt" --template "$W/tpl/rows.json" \
    --hosts "$h" --runs $((d * 96 - 1)) --runs-per-push 96 --concurrency 16 \
    --prefix "b${h}x$d" --start "$start" | sed 's/^/  /'
  from=$(date -u +%F); to=$(date -u -d "+$((d + 1)) days" +%F)
  out="$W/b${h}x$d.tar.gz"
  /usr/bin/time -f "%e %U %S %M" -o "$W/time" "$SERVER" bundle --config "$W/a.toml" \
    --from "$from" --to "$to" --scope "b${h}x$d" --out "$out" 2>"$W/bundle.log" >/dev/null \
    || { cat "$W/bundle.log"; exit 1; }
  read -r secs usr sys kb < "$W/time"
  cpu=$(awk -v u="$usr" -v s="$sys" 'BEGIN {printf "%.1f", u + s}')
  echo "  bundle: ${secs} s wall, ${cpu} s CPU, peak RSS $((kb / 1024)) MB, size $(awk -v b="$(stat -c %s "$out")" 'BEGIN {printf "%.1f", b / 1048576}') MB .tar.gz (load: $(load))"
  [ "${VERIFY:-1}" = 1 ] || continue
  /usr/bin/time -f "%e %M" -o "$W/time" "$ATTESTD" verify "$out" >"$W/verify.log" 2>&1 \
    && v=ok || v="FAILED: $(tail -3 "$W/verify.log")"
  read -r secs kb < "$W/time"
  echo "  attestd verify (debug build): $v, ${secs} s, peak RSS $((kb / 1024)) MB"
done
echo "server a peak RSS: $(hwm "$A_PID"), server b peak RSS: $(hwm "$B_PID") (load: $(load))"
