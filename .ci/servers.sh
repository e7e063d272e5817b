#!/usr/bin/env bash
# Makes sure PostgreSQL, MariaDB and Redis answer on 127.0.0.1; starts one that is down with
# the command this kind of machine uses. Never stops or reconfigures a running server.
set -uo pipefail

up() { timeout 2 bash -c "exec 3<>/dev/tcp/127.0.0.1/$1" 2>/dev/null; }

wait_up() {
  for _ in $(seq 1 30); do up "$1" && return 0; sleep 1; done
  echo "$2 did not come up on port $1"
  return 1
}

if ! up 5432; then
  echo "PostgreSQL is down: starting it"
  pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql)" main start || true
  wait_up 5432 PostgreSQL || true
fi
if ! up 3306; then
  echo "MariaDB is down: starting it"
  start-stop-daemon --start --oknodo --background --exec /usr/sbin/mariadbd || true
  wait_up 3306 MariaDB || true
fi
if ! up 6379; then
  echo "Redis is down: starting it"
  redis-server --daemonize yes --bind 127.0.0.1 -::1 --port 6379 --save "" --appendonly no || true
  wait_up 6379 Redis || true
fi
for p in 5432:PostgreSQL 3306:MariaDB 6379:Redis; do
  if up "${p%%:*}"; then echo "${p##*:} is up on ${p%%:*}"; else echo "${p##*:} is NOT reachable on ${p%%:*}"; fi
done
# The tests themselves fail under CI=true when a server they need is unreachable.
exit 0
