#!/usr/bin/env bash
# A bounded load test of `imgproc serve` on 3 real ranks (tests/serve_load.py): 200 connections
# over 60 s from two users, mixed jobs, event streams and slow clients, on loopback only.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
# shellcheck source=scripts/env.sh
source scripts/env.sh
bin=$root/target/release/imgproc
work=$(mktemp -d)
port=$(/usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
ta=$("$bin" user add a --users "$work/users.toml")
tb=$("$bin" user add b --users "$work/users.toml")
mpirun --oversubscribe -np 3 "$bin" serve --listen "127.0.0.1:$port" --data "$work/data" \
  --users "$work/users.toml" --idle-timeout 5 2>"$work/server.log" &
server=$!
cleanup() {
  kill -TERM "$server" 2>/dev/null || true
  wait "$server" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT
for _ in $(seq 300); do
  curl -sf "http://127.0.0.1:$port/healthz" >/dev/null && break
  sleep 0.1
done
timeout 1200 /usr/bin/python3 tests/serve_load.py "http://127.0.0.1:$port" "$bin" "$work" "$ta" "$tb"
