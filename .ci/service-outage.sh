#!/usr/bin/env bash
# The main job rides out an outage. For each server (PostgreSQL always; MariaDB and Redis
# too), the job runs through a loopback TCP proxy (socat) that this script kills a few
# seconds in and starts again a few seconds later: every live connection drops and every
# connect attempt is refused meanwhile, as in a server restart. The job must exit 0 (the
# pool recovered, no unexpected error, the total balance kept) and report exactly one
# outage whose length matches the cut, with failed connect attempts in it.
set -euo pipefail
cd "$(dirname "$0")/.."

cut_at=${TARN_OUTAGE_CUT_AT:-4}     # seconds into the run
cut_for=${TARN_OUTAGE_CUT_FOR:-3}   # seconds without the server
run_for=${TARN_OUTAGE_RUN_FOR:-12}  # seconds the job runs

if ! command -v socat >/dev/null; then
  echo "installing socat from Debian's packages"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq socat >/dev/null
fi

timeout 900 cargo build --release -p tarn-pool --features postgres,mysql,redis --example service
job=target/release/examples/service

up() { timeout 2 bash -c "exec 3<>/dev/tcp/127.0.0.1/$1" 2>/dev/null; }

proxy=""
start_proxy() { # listen port, target port
  socat "TCP-LISTEN:$1,bind=127.0.0.1,reuseaddr,fork" "TCP:127.0.0.1:$2" &
  proxy=$!
  for _ in $(seq 1 50); do up "$1" && return 0; sleep 0.1; done
  echo "the proxy did not come up on 127.0.0.1:$1"; return 1
}
stop_proxy() { # the listener and the forked child of each live connection
  [ -n "$proxy" ] || return 0
  # Stopped first, so it forks no child between the listing of its children and its end.
  kill -STOP "$proxy" 2>/dev/null || true
  pkill -KILL -P "$proxy" 2>/dev/null || true
  kill -KILL "$proxy" 2>/dev/null || true
  wait "$proxy" 2>/dev/null || true
  proxy=""
}
trap stop_proxy EXIT

check() { # name, server port, proxy port, URL through the proxy, [job options...]
  local name=$1 port=$2 listen=$3 url=$4
  shift 4
  if ! up "$port"; then
    if [ "${CI:-}" = true ]; then echo "FAILED $name: not reachable on 127.0.0.1:$port"; return 1; fi
    echo "SKIPPED $name: not reachable on 127.0.0.1:$port"; return 0
  fi
  start_proxy "$listen" "$port"
  local report; report=$(mktemp)
  "$job" --database-url "$url" --duration "$run_for" --no-progress "$@" >"$report" &
  local pid=$!
  sleep "$cut_at"; echo "[$name] cutting the proxy for $cut_for s"; stop_proxy
  sleep "$cut_for"; echo "[$name] restoring the proxy"; start_proxy "$listen" "$port"
  local rc=0; wait "$pid" || rc=$?
  stop_proxy
  cat "$report"
  local outages lasted attempts gave_up
  outages=$(grep -c '^  outage [0-9]' "$report" || true)
  lasted=$(sed -n 's/^  outage 1 .*lasted \([0-9.]*\) s;.*/\1/p' "$report")
  attempts=$(sed -n 's/^  outage 1 .*; \([0-9]*\) failed connect attempts.*/\1/p' "$report")
  gave_up=$(sed -n 's/^  outage 1 .*, \([0-9]*\) operations gave up.*/\1/p' "$report")
  rm -f "$report"
  local fail=""
  [ "$rc" = 0 ] || fail="exit status $rc"
  [ "$outages" = 1 ] || fail="$fail; $outages outages reported (expected 1)"
  [ "${attempts:-0}" -gt 0 ] || fail="$fail; no failed connect attempt reported"
  # The outage spans the cut: at least most of it, at most the cut plus the backoff cap
  # and a reconnect.
  awk -v l="${lasted:-0}" -v c="$cut_for" 'BEGIN { exit !(l >= c - 1 && l <= c + 2) }' \
    || fail="$fail; outage lasted ${lasted:-?} s for a $cut_for s cut"
  # With a checkout deadline shorter than the cut, operations must give up inside it.
  if [ "${short_deadline:-}" = 1 ] && [ "${gave_up:-0}" -eq 0 ]; then
    fail="$fail; no operation gave up with a deadline shorter than the cut"
  fi
  if [ -n "$fail" ]; then echo "FAILED $name: $fail"; return 1; fi
  echo "ok $name: outage of ${lasted} s ridden out, $attempts failed connect attempts, $gave_up operations gave up, exit 0"
}

check PostgreSQL 5432 15432 postgres://postgres@127.0.0.1:15432/test
# Operations whose 1 s deadline passes inside the 3 s cut give up: counted in the outage,
# not as failures.
short_deadline=1 check "PostgreSQL (1 s deadline)" 5432 15432 \
  postgres://postgres@127.0.0.1:15432/test --timeout-ms 1000
# prefer_socket=false: the mysql client would otherwise switch to the server's Unix socket
# after connecting, around the proxy.
check MariaDB 3306 13306 'mysql://root@127.0.0.1:13306/test?prefer_socket=false'
check Redis 6379 16379 redis://127.0.0.1:16379/0
echo "service outage: ok"
