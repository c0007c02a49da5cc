#!/usr/bin/env bash
# Brings up what ticketrush needs on this machine, on loopback only, reusing what already
# runs: PostgreSQL, Redis, and the AWS emulator (MiniStack, or moto with AWS_EMULATOR=moto) in
# a project-local virtualenv. Installs missing packages with apt when run as root. Safe to run
# again. With --reset-emulator, the emulator is emptied afterwards.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../../.." && pwd)"
RUN_DIR="$ROOT/.run"
PG_PORT="${PG_PORT:-5432}"
REDIS_PORT="${REDIS_PORT:-6379}"
AWS_EMULATOR="${AWS_EMULATOR:-ministack}"
EMULATOR_PORT="${EMULATOR_PORT:-4566}"
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

# The AWS emulator: MiniStack by default, moto with AWS_EMULATOR=moto. Each has a virtualenv
# of its own (their pinned botocore versions differ from each other and from the SAM CLI's).
emulator_probe() { # prints ministack, moto or nothing for whatever answers on the port
  local body
  body="$(curl -fsS -m 2 "http://127.0.0.1:$EMULATOR_PORT/_ministack/health" 2>/dev/null || true)"
  if [ -n "$body" ] && [[ "$body" == *services* || "$body" == *running* || "$body" == *ok* ]]; then
    echo ministack; return
  fi
  if curl -fsS -m 2 -o /dev/null "http://127.0.0.1:$EMULATOR_PORT/moto-api/data.json" 2>/dev/null; then
    echo moto
  fi
}

emulator_stop() { # the one this script started, by its pid file
  local pidfile="$RUN_DIR/emulator.pid"
  [ -f "$pidfile" ] || { say "emulator: port $EMULATOR_PORT holds another emulator that this script did not start; stop it or set AWS_ENDPOINT_URL"; exit 1; }
  say "emulator: stopping $(cat "$RUN_DIR/emulator.name" 2>/dev/null || echo it) to start $AWS_EMULATOR"
  kill -- "-$(cat "$pidfile")" 2>/dev/null || kill "$(cat "$pidfile")" 2>/dev/null || true
  for _ in $(seq 100); do port_open "$EMULATOR_PORT" || break; sleep 0.1; done
  rm -f "$pidfile" "$RUN_DIR/emulator.name"
}

ensure_emulator() {
  local venv="$ROOT/.venv-$AWS_EMULATOR" req="$ROOT/infra/local/emulators/$AWS_EMULATOR.txt"
  [ -f "$req" ] || { say "AWS_EMULATOR=$AWS_EMULATOR: use ministack or moto"; exit 1; }
  command -v curl >/dev/null || apt_install curl
  if [ ! -x "$venv/bin/python" ] || ! cmp -s "$req" "$venv/.requirements"; then
    python3 -m venv --help >/dev/null 2>&1 || apt_install python3-venv
    say "emulator: installing $AWS_EMULATOR into $venv"
    python3 -m venv "$venv"
    "$venv/bin/pip" install -q --disable-pip-version-check -r "$req"
    cp "$req" "$venv/.requirements"
  fi
  if port_open "$EMULATOR_PORT"; then
    local running
    running="$(emulator_probe)"
    if [ "$running" = "$AWS_EMULATOR" ]; then
      say "emulator: $AWS_EMULATOR running on 127.0.0.1:$EMULATOR_PORT"; return
    fi
    emulator_stop
  fi
  say "emulator: starting $AWS_EMULATOR on 127.0.0.1:$EMULATOR_PORT"
  case "$AWS_EMULATOR" in
    ministack)
      BIND_HOST=127.0.0.1 GATEWAY_PORT="$EMULATOR_PORT" SERVICES=sqs,dynamodb,secretsmanager \
        LOG_LEVEL=WARNING PERSIST_STATE=0 \
        nohup setsid "$venv/bin/ministack" >"$RUN_DIR/emulator.log" 2>&1 &
      ;;
    moto)
      nohup setsid "$venv/bin/moto_server" -H 127.0.0.1 -p "$EMULATOR_PORT" >"$RUN_DIR/emulator.log" 2>&1 &
      ;;
  esac
  echo $! >"$RUN_DIR/emulator.pid"
  echo "$AWS_EMULATOR" >"$RUN_DIR/emulator.name"
  wait_for emulator 300 emulator_ready
}

emulator_ready() { [ "$(emulator_probe)" = "$AWS_EMULATOR" ]; }

# Empties the emulator (make test and make bench start from a fresh state).
emulator_reset() {
  local path
  case "$AWS_EMULATOR" in
    ministack) path=/_ministack/reset ;;
    moto) path=/moto-api/reset ;;
  esac
  curl -fsS -m 30 -X POST -o /dev/null "http://127.0.0.1:$EMULATOR_PORT$path" \
    || { say "emulator: reset of $AWS_EMULATOR failed"; exit 1; }
  say "emulator: $AWS_EMULATOR reset to an empty state"
}

ensure_postgres
ensure_redis
ensure_emulator
if [ "${1:-}" = --reset-emulator ]; then emulator_reset; fi
