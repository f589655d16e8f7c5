#!/usr/bin/env bash
# Make sure PostgreSQL and Redis answer on 127.0.0.1 for the tests: start them when they are
# installed but stopped, install them (Debian/Ubuntu, as root) when they are missing. Also
# installs Debian's Chromium for the dashboard's browser test.
# Exits non-zero, naming what is missing, when any cannot be had.
set -uo pipefail

PG_HOST=127.0.0.1 PG_PORT=${HUB_TEST_PG_PORT:-5432}
REDIS_PORT=${HUB_TEST_REDIS_PORT:-6379}
apt_updated=""

say() { echo "services: $*" >&2; }

apt_install() {
  if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null; then
    say "cannot install $* (needs root and apt-get); install it and run again"
    return 1
  fi
  if [ -z "$apt_updated" ]; then apt-get update -qq >/dev/null 2>&1; apt_updated=1; fi
  say "installing $*"
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null
}

wait_for() {  # wait_for NAME COMMAND...
  local name="$1"; shift
  for _ in $(seq 1 60); do "$@" >/dev/null 2>&1 && return 0; sleep 0.5; done
  say "$name did not become ready"; return 1
}

pg_ready() { pg_isready -q -h "$PG_HOST" -p "$PG_PORT"; }
redis_ready() { [ "$(redis-cli -h 127.0.0.1 -p "$REDIS_PORT" ping 2>/dev/null)" = PONG ]; }

ensure_postgres() {
  command -v pg_isready >/dev/null || apt_install postgresql-client || return 1
  pg_ready && return 0
  if ! ls /etc/postgresql/*/main >/dev/null 2>&1; then
    apt_install postgresql || return 1
  fi
  local version; version=$(ls /etc/postgresql | sort -V | tail -1)
  say "starting PostgreSQL $version"
  if command -v pg_ctlcluster >/dev/null; then
    pg_ctlcluster --skip-systemctl-redirect "$version" main start 2>/dev/null ||
      pg_ctlcluster "$version" main start || true
  fi
  wait_for PostgreSQL pg_ready || return 1
  # Trust on loopback for the tests, as on the development machines.
  if ! psql -h "$PG_HOST" -p "$PG_PORT" -U postgres -tAc 'select 1' >/dev/null 2>&1; then
    say "PostgreSQL runs but user postgres cannot connect over TCP without a password;"
    say "allow it (trust for 127.0.0.1 in pg_hba.conf) or set HUB_TEST_PG_URL"
    return 1
  fi
}

ensure_redis() {
  command -v redis-cli >/dev/null || apt_install redis-server || return 1
  redis_ready && return 0
  command -v redis-server >/dev/null || apt_install redis-server || return 1
  say "starting Redis on port $REDIS_PORT"
  mkdir -p /var/lib/redis /var/log/redis 2>/dev/null || true
  redis-server --daemonize yes --bind 127.0.0.1 -::1 --port "$REDIS_PORT" --save "" \
    --appendonly no --dir /var/lib/redis --logfile /var/log/redis/ci.log ||
    redis-server --daemonize yes --bind 127.0.0.1 --port "$REDIS_PORT" --save "" --appendonly no
  wait_for Redis redis_ready
}

ensure_chromium() {
  [ -n "${HUB_TEST_CHROMIUM:-}" ] && return 0
  command -v chromium >/dev/null || apt_install chromium || return 1
}

status=0
if [ -z "${HUB_TEST_PG_URL:-}" ]; then ensure_postgres || status=1; fi
ensure_redis || status=1
ensure_chromium || status=1
exit $status
