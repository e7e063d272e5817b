#!/usr/bin/env bash
# PgBouncer on 127.0.0.1:6432 in transaction pooling mode in front of the local PostgreSQL
# (127.0.0.1:5432, database `test`), for tests/tests/server_pgbouncer.rs. Installs it from
# Debian's packages when missing, runs it as user `postgres` with an ini in a temp dir, waits
# until it answers, and leaves it running. Idempotent: if 6432 already answers, it does
# nothing. Stop it with: kill "$(cat /tmp/tarn-pgbouncer/pgbouncer.pid)".
set -euo pipefail

port=6432
dir=/tmp/tarn-pgbouncer

up() { timeout 2 bash -c "exec 3<>/dev/tcp/127.0.0.1/$1" 2>/dev/null; }

if up "$port"; then
  echo "PgBouncer (or something) already answers on 127.0.0.1:$port"
  exit 0
fi

if ! command -v pgbouncer >/dev/null && [ ! -x /usr/sbin/pgbouncer ]; then
  echo "installing PgBouncer from Debian's packages"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq pgbouncer >/dev/null
  # The package starts its own service on some systems; it listens on 6432 only if
  # configured to, and the ini below is the one the tests use.
fi
bin=$(command -v pgbouncer || echo /usr/sbin/pgbouncer)

mkdir -p "$dir"
cat > "$dir/pgbouncer.ini" <<INI
[databases]
test = host=127.0.0.1 port=5432 dbname=test user=postgres
; The same database under a second name has server sessions of its own: the test that shows
; named statements failing leaves some behind on its sessions, never on those of "test".
test_named = host=127.0.0.1 port=5432 dbname=test user=postgres

[pgbouncer]
listen_addr = 127.0.0.1
listen_port = $port
unix_socket_dir =
auth_type = any
pool_mode = transaction
default_pool_size = 4
max_client_conn = 200
logfile = $dir/pgbouncer.log
pidfile = $dir/pgbouncer.pid
INI
chown -R postgres:postgres "$dir"

# A stale pid file from an earlier run that died would stop a new one from starting.
if [ -f "$dir/pgbouncer.pid" ] && ! kill -0 "$(cat "$dir/pgbouncer.pid")" 2>/dev/null; then
  rm -f "$dir/pgbouncer.pid"
fi

echo "starting PgBouncer $("$bin" --version | head -1) on 127.0.0.1:$port (transaction pooling)"
su postgres -s /bin/sh -c "$bin -d $dir/pgbouncer.ini"

for _ in $(seq 1 30); do
  if up "$port"; then
    echo "PgBouncer is up on 127.0.0.1:$port"
    exit 0
  fi
  sleep 1
done
echo "PgBouncer did not come up on 127.0.0.1:$port; its log:"
cat "$dir/pgbouncer.log" || true
exit 1
