#!/usr/bin/env bash
# Brings up what ticketrush needs on this machine, on loopback only, reusing what already
# runs: PostgreSQL, Redis, and the AWS emulator (moto) in a project-local virtualenv.
# Installs missing packages with apt when run as root. Safe to run again.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../../.." && pwd)"
RUN_DIR="$ROOT/.run"
VENV="$ROOT/.venv"
PG_PORT="${PG_PORT:-5432}"
REDIS_PORT="${REDIS_PORT:-6379}"
MOTO_PORT="${MOTO_PORT:-4566}"
mkdir -p "$RUN_DIR"

say() { printf '[services] %s\n' "$*"; }

apt_updated=""
apt_install() {
  if [ "$(id -u)" != 0 ]; then
    say "missing: $* — install it (apt-get install $*) or run as root"; exit 1
  fi
  if [ -z "$apt_updated" ]; then apt-get update -qq; apt_updated=1; fi
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null
}

port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

wait_for() { # name, tries, command...
  local name=$1 tries=$2; shift 2
  for _ in $(seq "$tries"); do "$@" && return 0; sleep 0.2; done
  say "$name did not come up"; return 1
}

redis_ping() {
  (
    exec 3<>"/dev/tcp/127.0.0.1/$REDIS_PORT" || exit 1
    printf 'PING\r\n' >&3
    reply=""; read -r -t 1 reply <&3 || true
    [[ "$reply" == +PONG* ]]
  ) 2>/dev/null
}

ensure_postgres() {
  if command -v pg_isready >/dev/null && pg_isready -q -h 127.0.0.1 -p "$PG_PORT"; then
    say "postgresql: running on 127.0.0.1:$PG_PORT"; return
  fi
  command -v pg_ctlcluster >/dev/null || { say "postgresql: installing"; apt_install postgresql; }
  local version
  version="$(ls /etc/postgresql 2>/dev/null | sort -V | tail -n1 || true)"
  if [ -z "$version" ]; then
    version="$(ls /usr/lib/postgresql | sort -V | tail -n1)"
    pg_createcluster "$version" main >/dev/null
  fi
  local conf="/etc/postgresql/$version/main"
  # Local development only: the postgres role may connect over loopback without a password.
  if ! grep -q '^host[[:space:]]\+all[[:space:]]\+all[[:space:]]\+127.0.0.1/32[[:space:]]\+trust' "$conf/pg_hba.conf"; then
    sed -i '1i host all all 127.0.0.1/32 trust\nhost all all ::1/128 trust' "$conf/pg_hba.conf"
  fi
  grep -q "^listen_addresses = 'localhost'" "$conf/postgresql.conf" \
    || echo "listen_addresses = 'localhost'" >>"$conf/postgresql.conf"
  say "postgresql: starting cluster $version/main"
  pg_ctlcluster --skip-systemctl-redirect "$version" main start || true
  wait_for postgresql 100 pg_isready -q -h 127.0.0.1 -p "$PG_PORT"
}

ensure_redis() {
  if redis_ping; then say "redis: running on 127.0.0.1:$REDIS_PORT"; return; fi
  command -v redis-server >/dev/null || { say "redis: installing"; apt_install redis-server; }
  say "redis: starting"
  redis-server --daemonize yes --bind 127.0.0.1 --port "$REDIS_PORT" --save "" --appendonly no \
    --dir "$RUN_DIR" --logfile "$RUN_DIR/redis.log" --pidfile "$RUN_DIR/redis.pid"
  wait_for redis 100 redis_ping
}

ensure_moto() {
  if [ ! -x "$VENV/bin/moto_server" ] || ! cmp -s "$ROOT/infra/local/requirements.txt" "$VENV/.requirements"; then
    python3 -m venv --help >/dev/null 2>&1 || apt_install python3-venv
    say "emulator: installing moto into $VENV"
    python3 -m venv "$VENV"
    "$VENV/bin/pip" install -q --disable-pip-version-check -r "$ROOT/infra/local/requirements.txt"
    cp "$ROOT/infra/local/requirements.txt" "$VENV/.requirements"
  fi
  if port_open "$MOTO_PORT"; then say "emulator: running on 127.0.0.1:$MOTO_PORT"; return; fi
  say "emulator: starting moto on 127.0.0.1:$MOTO_PORT"
  nohup setsid "$VENV/bin/moto_server" -H 127.0.0.1 -p "$MOTO_PORT" >"$RUN_DIR/moto.log" 2>&1 &
  echo $! >"$RUN_DIR/moto.pid"
  wait_for emulator 150 port_open "$MOTO_PORT"
}

ensure_postgres
ensure_redis
ensure_moto
