#!/usr/bin/env bash
# Brings up what ticketrush needs on this machine, on loopback only, reusing what already
# runs: PostgreSQL (else a private cluster in .run/postgres), Redis, and the AWS emulator
# (MiniStack, or moto with AWS_EMULATOR=moto) in a project-local virtualenv. It never changes
# the settings of a server it did not start. Installs missing packages with apt when run as
# root. Safe to run again. With --reset-emulator, the emulator is emptied afterwards.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../../.." && pwd)"
RUN_DIR="$ROOT/.run"
PG_PORT="${PG_PORT:-5432}"
PG_DATA_GIVEN="${PG_DATA:-}"
PG_DATA="${PG_DATA:-$RUN_DIR/postgres}"
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

# PostgreSQL: one that already answers on 127.0.0.1:$PG_PORT and lets the postgres role in
# without a password is used as it is. Its settings are never changed: where none answers,
# a private cluster of the project's own runs in $PG_DATA, on loopback only, started here.
pg_trusts() {
  psql -X -q -w -h 127.0.0.1 -p "$PG_PORT" -U postgres -d postgres -Atc 'select 1' >/dev/null 2>&1
}

pg_bindir() { # the server binaries: those the private cluster was made with, else the newest
  local v
  if [ -f "$PG_DATA/PG_VERSION" ] && [ -x "/usr/lib/postgresql/$(cat "$PG_DATA/PG_VERSION")/bin/initdb" ]; then
    echo "/usr/lib/postgresql/$(cat "$PG_DATA/PG_VERSION")/bin"; return
  fi
  for v in $(ls /usr/lib/postgresql 2>/dev/null | sort -rV); do
    [ -x "/usr/lib/postgresql/$v/bin/initdb" ] && { echo "/usr/lib/postgresql/$v/bin"; return; }
  done
  if command -v initdb >/dev/null; then dirname "$(readlink -f "$(command -v initdb)")"; fi
}

# The server refuses to run as root: as root, the private cluster belongs to the postgres user.
pg_as_owner() {
  if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

# As root, a data directory the postgres user can reach: $PG_DATA, or when the project lives
# where it cannot (under /root), one in its home named after the project.
pg_data_dir() {
  [ "$(id -u)" = 0 ] || return 0
  mkdir -p "$PG_DATA" && chown postgres: "$PG_DATA"
  runuser -u postgres -- test -w "$PG_DATA" && return 0
  [ -z "$PG_DATA_GIVEN" ] || { say "postgresql: the postgres user cannot reach PG_DATA=$PG_DATA"; exit 1; }
  PG_DATA="$(getent passwd postgres | cut -d: -f6)/ticketrush-$(printf %s "$ROOT" | sha256sum | cut -c1-12)"
  say "postgresql: the postgres user cannot reach $ROOT; the private cluster lives in $PG_DATA"
  mkdir -p "$PG_DATA" && chown postgres: "$PG_DATA"
}

ensure_postgres() {
  command -v psql >/dev/null || { say "postgresql: installing the client"; apt_install postgresql-client; }
  if command -v pg_isready >/dev/null && pg_isready -q -h 127.0.0.1 -p "$PG_PORT"; then
    if pg_trusts; then say "postgresql: running on 127.0.0.1:$PG_PORT"; return; fi
    say "postgresql on 127.0.0.1:$PG_PORT wants a password from the postgres role, and this script"
    say "  does not change a server's authentication. Set PG_PORT to a free port (make dev PG_PORT=5433)"
    say "  for a private cluster of the project's own, or let the postgres role in over loopback yourself."
    exit 1
  fi
  if [ -z "$(pg_bindir)" ]; then
    say "postgresql: installing"
    # A machine without PostgreSQL gets the server binaries only: Debian would otherwise
    # create and start a system cluster on 5432, which this script then could not use.
    if [ "$(id -u)" = 0 ] && [ ! -d /etc/postgresql ]; then
      mkdir -p /etc/postgresql-common/createcluster.d
      printf '# Written by ticketrush infra/local/scripts/services.sh: no default cluster.\ncreate_main_cluster = off\n' \
        >/etc/postgresql-common/createcluster.d/ticketrush.conf
    fi
    apt_install postgresql
  fi
  pg_data_dir
  local bin
  bin="$(pg_bindir)"
  if [ ! -f "$PG_DATA/PG_VERSION" ]; then
    say "postgresql: creating a private cluster in $PG_DATA"
    pg_as_owner "$bin/initdb" -D "$PG_DATA" -U postgres -A reject -E UTF8 --locale=C.UTF-8 >/dev/null
    # Reached over loopback TCP only (no socket file), and only there without a password.
    pg_as_owner tee -a "$PG_DATA/postgresql.conf" >/dev/null <<<"
# ticketrush's private cluster (infra/local/scripts/services.sh)
listen_addresses = '127.0.0.1'
unix_socket_directories = ''"
    pg_as_owner tee "$PG_DATA/pg_hba.conf" >/dev/null <<<"# ticketrush's private cluster: loopback only, no passwords (local development).
host all all 127.0.0.1/32 trust"
  fi
  if pg_as_owner "$bin/pg_ctl" -D "$PG_DATA" status >/dev/null 2>&1; then
    say "postgresql: the private cluster in $PG_DATA runs, but not on 127.0.0.1:$PG_PORT;"
    say "  stop it ($bin/pg_ctl -D $PG_DATA stop) or set PG_PORT to its port"
    exit 1
  fi
  say "postgresql: starting the private cluster in $PG_DATA on 127.0.0.1:$PG_PORT"
  pg_as_owner "$bin/pg_ctl" -D "$PG_DATA" -l "$PG_DATA/server.log" -o "-p $PG_PORT" -w -t 60 start >/dev/null \
    || { say "postgresql: the private cluster did not start; see $PG_DATA/server.log"; exit 1; }
  wait_for postgresql 100 pg_trusts
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
