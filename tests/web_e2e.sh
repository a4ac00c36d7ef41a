#!/usr/bin/env bash
# The web page end to end: `imgproc serve` on 3 real ranks (mpirun), driven by headless Chromium
# over WebDriver (tests/web_e2e.py). Takes docs/screenshots/web.png and web-running.png.
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
serve_up --idle-timeout 10
timeout 300 /usr/bin/python3 tests/web_e2e.py "http://127.0.0.1:$port" "$bin" "$work" docs/screenshots
