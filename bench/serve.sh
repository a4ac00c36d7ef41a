#!/usr/bin/env bash
# The web service against the CLI on the same ranks, in one run (see bench/serve.py for what is
# measured): bash bench/serve.sh [RANKS]. Prints a Markdown report for docs/BENCHMARKS.md.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
ranks=${1:-3}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
python3 "$root/bench/serve.py" "$root/target/release/imgproc" "$work" "$ranks"
