#!/usr/bin/env bash
# The tls collector against local `openssl s_server` peers: wall time of
# `attestd collect --collector tls` for one Mozilla-intermediate endpoint, one legacy
# endpoint (TLS 1.0/1.1, every suite at SECLEVEL=0) and both together, plus peak RSS.
# Each endpoint costs one handshake per version plus one per accepted suite.
# Prints figures; asserts nothing.
#
#   bash bench/tls_probe.sh                          # release build
#   ATTESTD_BIN=target/debug/attestd bash bench/tls_probe.sh
set -euo pipefail
cd "$(dirname "$0")/.."
export DEBIAN_FRONTEND=noninteractive
missing=()
command -v hyperfine >/dev/null || missing+=(hyperfine)
command -v openssl >/dev/null || missing+=(openssl)
[ -x /usr/bin/time ] || missing+=(time)
if [ "${#missing[@]}" -gt 0 ]; then
  apt-get update -qq && apt-get install -y -qq "${missing[@]}" >/dev/null
fi
bin=${ATTESTD_BIN:-target/release/attestd}
[ -n "${ATTESTD_BIN:-}" ] || cargo build --release -q
work=$(mktemp -d)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$work"; }
trap cleanup EXIT
ca=tests/fixtures/tls
openssl req -x509 -CA $ca/ca.pem -CAkey $ca/ca.key -newkey ec -pkeyopt ec_paramgen_curve:P-256 \
  -nodes -days 90 -subj /CN=localhost -addext subjectAltName=DNS:localhost,IP:127.0.0.1 \
  -addext basicConstraints=critical,CA:FALSE -keyout "$work/leaf.key" -out "$work/leaf.pem" 2>/dev/null
port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
good=$(port); old=$(port)
openssl s_server -quiet -accept 127.0.0.1:$good -cert "$work/leaf.pem" -key "$work/leaf.key" \
  -min_protocol TLSv1.2 -cipher 'ECDHE+AESGCM:ECDHE+CHACHA20' </dev/zero >/dev/null 2>&1 &
pids+=($!)
openssl s_server -quiet -accept 127.0.0.1:$old -cert "$work/leaf.pem" -key "$work/leaf.key" \
  -min_protocol TLSv1 -max_protocol TLSv1.1 -cipher 'DEFAULT@SECLEVEL=0' </dev/zero >/dev/null 2>&1 &
pids+=($!)
sleep 0.5
mkdir -p "$work/root/etc/ssl/certs"
cp $ca/ca.pem "$work/root/etc/ssl/certs/ca-certificates.crt"
for case in good old both; do
  case $case in
    good) eps="{ address = \"127.0.0.1:$good\", sni = \"localhost\" }" ;;
    old) eps="{ address = \"127.0.0.1:$old\", sni = \"localhost\" }" ;;
    both) eps="{ address = \"127.0.0.1:$good\", sni = \"localhost\" }, { address = \"127.0.0.1:$old\", sni = \"localhost\" }" ;;
  esac
  printf '[daemon]\npolicy_dirs = []\n[collectors.tls]\nendpoints = [%s]\n' "$eps" >"$work/$case.toml"
  echo "== $case"
  hyperfine --warmup 2 --runs 20 -i -N \
    "$bin collect --root $work/root --config $work/$case.toml --collector tls --format json" 2>/dev/null | grep -E 'Time|Range'
  echo "peak RSS: $(/usr/bin/time -f %M "$bin" collect --root "$work/root" --config "$work/$case.toml" --collector tls --format json 2>&1 >/dev/null | tail -1) KiB"
done
