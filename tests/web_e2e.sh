#!/usr/bin/env bash
# The web page end to end: `imgproc serve` on 3 real ranks (mpirun), driven by headless Chromium
# over WebDriver (tests/web_e2e.py). Takes docs/screenshots/web.png and web-running.png.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
# shellcheck source=scripts/env.sh
source scripts/env.sh
bin=$root/target/release/imgproc
work=$(mktemp -d)
port=$(/usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
mpirun --oversubscribe -np 3 "$bin" serve --listen "127.0.0.1:$port" --data "$work/data" &
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
timeout 300 /usr/bin/python3 tests/web_e2e.py "http://127.0.0.1:$port" "$bin" "$work" docs/screenshots
