#!/usr/bin/env bash
# Run cargo-fuzz targets (fuzz/) for a given time each and print, per target, the
# executions libFuzzer made and the crashes it saved (crash, timeout, out-of-memory and
# leak files under fuzz/artifacts/TARGET/). Corpora start from the fixture hosts' files.
#
#   bench/fuzz.sh TARGET... SECONDS     e.g. bench/fuzz.sh sshd_config pam 600
#   bench/fuzz.sh all SECONDS           every target in fuzz/fuzz_targets/
#
# Needs the nightly toolchain and cargo-fuzz (`cargo install cargo-fuzz --locked`).
# Exits 1 when any target saved a crash. Prints figures; asserts nothing else.
set -euo pipefail
cd "$(dirname "$0")/.."

if [ "$#" -lt 2 ]; then
  echo "usage: bench/fuzz.sh TARGET... SECONDS   (or: bench/fuzz.sh all SECONDS)" >&2
  exit 2
fi
seconds="${*: -1}"
targets=("${@:1:$#-1}")
if [ "${targets[0]}" = all ]; then
  targets=()
  for f in fuzz/fuzz_targets/*.rs; do targets+=("$(basename "$f" .rs)"); done
fi
case "$seconds" in ''|*[!0-9]*) echo "SECONDS must be a whole number, got '$seconds'" >&2; exit 2;; esac

hosts=tests/fixtures/hosts
# seed TARGET FILE...: copy existing, non-empty files (at most 64 KiB each) into the corpus.
seed() {
  local dir="fuzz/corpus/$1"; shift
  mkdir -p "$dir"
  local f
  for f in "$@"; do
    [ -f "$f" ] && [ -s "$f" ] || continue
    head -c 65536 "$f" > "$dir/seed-$(echo "$f" | sha256sum | cut -c1-16)"
  done
}
shopt -s nullglob
seed sshd_config $hosts/*/etc/ssh/sshd_config $hosts/*/etc/ssh/sshd_config.d/*
seed pam $hosts/*/etc/pam.d/*
seed login_defs_pwquality $hosts/*/etc/login.defs $hosts/*/etc/security/pwquality.conf \
  $hosts/*/etc/security/pwquality.conf.d/* $hosts/*/etc/security/faillock.conf
seed sudoers $hosts/*/etc/sudoers $hosts/*/etc/sudoers.d/*
seed wtmp_lastlog $hosts/*/var/log/wtmp
seed nft_json $hosts/*/recorded/*nft*.json
seed iptables_save $hosts/*/recorded/*iptables* $hosts/*/recorded/*ufw*
seed x509_pem $hosts/*/etc/ssl/certs/local/*.pem tests/fixtures/tls/*.pem
seed restic_borg_json $hosts/*/recorded/*restic*.json $hosts/*/recorded/*borg*.json
seed plugin_output $hosts/*/recorded/*.json
# The daemon's own inputs: configs, rule files, the rules' CEL, schedules.
seed config_toml packaging/attestd.toml tests/fixtures/ledgers/*/config.toml $hosts/*/config.toml
seed rule_toml policies/*.toml
mkdir -p fuzz/corpus/cel fuzz/corpus/cron
grep -h '^\(check\|observed\|applies\) = "' policies/*.toml | sed 's/^[a-z]* = "//; s/"$//' | sort -u |
  while IFS= read -r expr; do
    printf '%s' "$expr" > "fuzz/corpus/cel/seed-$(printf '%s' "$expr" | sha256sum | cut -c1-16)"
  done
{ printf '%s\n' '*/15 * * * *' '0 9 * * 1' '30 2 1 * *' '@daily' '0 0 29 2 *' \
    '5-55/10 1,13 * jan-jun mon-fri' '0 0 1 * 7'
  sed -n 's/.*schedule *= *"\([^"]*\)".*/\1/p' packaging/attestd.toml; } | sort -u |
  while IFS= read -r expr; do
    printf '%s' "$expr" > "fuzz/corpus/cron/seed-$(printf '%s' "$expr" | sha256sum | cut -c1-16)"
  done
# A minimal TLS 1.2 ServerHello record (ECDHE-RSA-AES128-GCM-SHA256) and an alert.
mkdir -p fuzz/corpus/tls_server_hello
printf '\x16\x03\x03\x00\x2a\x02\x00\x00\x26\x03\x03%s\x00\xc0\x2f\x00' \
  "$(head -c 32 /dev/zero | tr '\0' 'R')" > fuzz/corpus/tls_server_hello/seed-hello
printf '\x15\x03\x03\x00\x02\x02\x28' > fuzz/corpus/tls_server_hello/seed-alert

cd fuzz
cargo +nightly fuzz build >/dev/null
failed=0
printf '%-22s %8s %14s %10s %8s\n' target seconds executions exec/s crashes
for t in "${targets[@]}"; do
  log="artifacts/$t.log"
  rm -rf "artifacts/$t"; mkdir -p "artifacts/$t"
  # -timeout: an input that takes 10 s is a hang; -rss_limit_mb: 2 GB is a runaway.
  cargo +nightly fuzz run "$t" -- -max_total_time="$seconds" -timeout=10 \
    -rss_limit_mb=2048 -max_len=65536 -print_final_stats=1 >"$log" 2>&1 || true
  runs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" | grep -o '[0-9]*$' | tail -1)
  speed=$(grep -o 'stat::average_exec_per_sec: *[0-9]*' "$log" | grep -o '[0-9]*$' | tail -1)
  crashes=$(find "artifacts/$t" -type f \( -name 'crash-*' -o -name 'timeout-*' -o -name 'oom-*' -o -name 'leak-*' \) | wc -l)
  printf '%-22s %8s %14s %10s %8s\n' "$t" "$seconds" "${runs:-?}" "${speed:-?}" "$crashes"
  if [ "$crashes" -gt 0 ]; then
    failed=1
    find "artifacts/$t" -type f | head -3 | sed 's/^/    fuzz\//'
    grep -m3 -E 'panicked at|ERROR: libFuzzer|SUMMARY' "$log" | sed 's/^/    /' || true
  fi
done
exit "$failed"
