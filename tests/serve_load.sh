#!/usr/bin/env bash
# A bounded load test of `imgproc serve` on 3 real ranks (tests/serve_load.py): 200 connections
# over 60 s from two users, mixed jobs, event streams and slow clients, on loopback only.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
# shellcheck source=scripts/env.sh
source scripts/env.sh
# shellcheck source=tests/serve_lib.sh
source tests/serve_lib.sh
bin=$root/target/release/imgproc
work=$(mktemp -d)
server=
trap 'serve_down; rm -rf "$work"' EXIT
ta=$("$bin" user add a --users "$work/users.toml")
tb=$("$bin" user add b --users "$work/users.toml")
serve_up --users "$work/users.toml" --idle-timeout 5
timeout 1200 /usr/bin/python3 tests/serve_load.py "http://127.0.0.1:$port" "$bin" "$work" "$ta" "$tb"
