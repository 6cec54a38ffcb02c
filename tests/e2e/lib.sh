# Shared by tests/e2e/run.sh and bench/idle.sh: a cached Debian 12 root, booted with
# systemd-nspawn in the background and driven with nsenter. Source it; needs root,
# debootstrap and systemd-container.

# Bump when the root's recipe changes; the cache key also covers suite and packages.
E2E_SUITE=bookworm
E2E_INCLUDE=systemd,systemd-sysv,dbus
E2E_RECIPE_VERSION=1
E2E_CACHE_DIR=${ATTESTD_E2E_CACHE:-/var/cache/attestd-e2e}
# A cached root older than this is rebuilt (it would miss security updates).
E2E_CACHE_MAX_DAYS=30

E2E_NSPAWN_PID=""
E2E_PID=""
E2E_ROOT=""

e2e_log() { printf '[e2e %s] %s\n' "$(date -u +%H:%M:%S)" "$*" >&2; }

# The path of a pristine cached root; built with debootstrap when missing or stale.
e2e_cached_root() {
  local key dir
  key=$(printf '%s %s %s v%s' "$E2E_SUITE" minbase "$E2E_INCLUDE" "$E2E_RECIPE_VERSION" | sha256sum | cut -c1-12)
  dir="$E2E_CACHE_DIR/root-$key"
  if [ -d "$dir" ] && [ -n "$(find "$dir/.complete" -mtime -"$E2E_CACHE_MAX_DAYS" 2>/dev/null)" ]; then
    printf '%s\n' "$dir"
    return
  fi
  mkdir -p "$E2E_CACHE_DIR"
  rm -rf "$dir" "$dir.tmp"
  e2e_log "debootstrap $E2E_SUITE into $dir (about a minute)"
  debootstrap --variant=minbase --include="$E2E_INCLUDE" "$E2E_SUITE" "$dir.tmp" >&2
  touch "$dir.tmp/.complete"
  mv "$dir.tmp" "$dir"
  printf '%s\n' "$dir"
}

# Copy the cached root to a fresh working root (the cache stays pristine).
e2e_fresh_root() {
  local cached
  cached=$(e2e_cached_root)
  E2E_ROOT=$(mktemp -d /var/tmp/attestd-e2e.XXXXXX)
  cp -a --reflink=auto "$cached/." "$E2E_ROOT/"
  rm -f "$E2E_ROOT/.complete"
}

# Boot $E2E_ROOT in the background; sets E2E_PID to the container's PID 1.
e2e_boot() {
  local log=$1 i
  systemd-nspawn --register=no --keep-unit --quiet --console=pipe \
    --private-network --machine="attestd-e2e-$$" -D "$E2E_ROOT" --boot >"$log" 2>&1 &
  E2E_NSPAWN_PID=$!
  for i in $(seq 1 100); do
    E2E_PID=$(pgrep -P "$E2E_NSPAWN_PID" | head -n1 || true)
    if [ -n "$E2E_PID" ] && [ "$(cat "/proc/$E2E_PID/comm" 2>/dev/null)" = systemd ]; then
      break
    fi
    E2E_PID=""
    sleep 0.2
  done
  [ -n "$E2E_PID" ] || { e2e_log "the container did not boot; nspawn said:"; cat "$log" >&2; return 1; }
  # Wait until systemd inside is up (degraded is fine: a minimal root lacks some units).
  for i in $(seq 1 150); do
    case "$(in_ct systemctl is-system-running 2>/dev/null || true)" in
      running|degraded) return 0 ;;
    esac
    sleep 0.2
  done
  e2e_log "systemd in the container did not finish booting"
  return 1
}

# Run a command inside the container (all its namespaces).
in_ct() {
  nsenter -t "$E2E_PID" -a env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin LANG=C.UTF-8 "$@"
}

# Power the container off and remove the working root, whatever state it is in.
e2e_stop() {
  if [ -n "$E2E_NSPAWN_PID" ] && kill -0 "$E2E_NSPAWN_PID" 2>/dev/null; then
    if [ -n "$E2E_PID" ]; then
      in_ct systemctl poweroff --no-block >/dev/null 2>&1 || true
    fi
    for _ in $(seq 1 100); do
      kill -0 "$E2E_NSPAWN_PID" 2>/dev/null || break
      sleep 0.2
    done
    if kill -0 "$E2E_NSPAWN_PID" 2>/dev/null; then
      kill -KILL "$E2E_NSPAWN_PID" 2>/dev/null || true
    fi
    wait "$E2E_NSPAWN_PID" 2>/dev/null || true
  fi
  E2E_NSPAWN_PID=""
  if [ -n "$E2E_ROOT" ] && [ -d "$E2E_ROOT" ]; then
    rm -rf --one-file-system "$E2E_ROOT"
    rm -f "$E2E_ROOT.console.log"
  fi
  E2E_ROOT=""
}

# Install a .deb inside the container the way an operator does.
e2e_install_deb() {
  local deb=$1
  cp "$deb" "$E2E_ROOT/root/"
  in_ct sh -c "cd /root && apt-get install -y -q ./$(basename "$deb")" >&2
}
