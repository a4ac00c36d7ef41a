#!/usr/bin/env bash
# The README's second command and what CI runs (.ci/run): formatting, the module graph, lints,
# the pure core built and tested alone (no MPI, no GUI), unit, property and MPI integration
# tests (the server's included), the GUI end to end under Xvfb, the web page in a real browser,
# the server under a bounded load, the failover test on simulated hosts, and the offline checks
# of deploy/azure. Stops at the first failure.
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
bash scripts/install-deps.sh --tests
# shellcheck source=scripts/env.sh
source scripts/env.sh

step() { printf '\n=== %s\n' "$*" >&2; }

step "cargo fmt --check"
cargo fmt --all -- --check
step "module graph: no cycles, files within 500 lines (scripts/check-modules.py)"
python3 scripts/check-modules.py
step "the pure core alone: cargo clippy and test --no-default-features (no MPI, no GTK)"
cargo clippy --release --locked --no-default-features --all-targets -- -D warnings
cargo test --release --locked --no-default-features
step "cargo build --release"
cargo build --release --locked --bins --examples
step "cargo clippy -D warnings"
cargo clippy --release --locked --all-targets -- -D warnings
step "cargo test --release (unit, property, mpirun integration, GUI logic)"
cargo test --release --locked
step "shellcheck"
mapfile -t scripts < <(git ls-files '*.sh' .ci/run | grep -v '^deploy/')
shellcheck -x "${scripts[@]}"
step "GUI end to end under Xvfb"
bash tests/gui_e2e.sh
step "the web page in headless Chromium over WebDriver (imgproc serve on 3 ranks)"
bash tests/web_e2e.sh
step "the web service under load: 200 connections over 60 s, two users, slow clients"
bash tests/serve_load.sh
step "failover on simulated hosts"
bash tests/failover.sh
step "a host killed mid-video under the watcher on simulated hosts"
bash tests/video_failover.sh
step "the web service survives a killed worker under the watcher on simulated hosts"
bash tests/serve_failover.sh
step "soak: ranks killed with SIGKILL under the watcher on simulated hosts"
bash tests/soak.sh
step "deploy/azure/check.sh"
bash deploy/azure/check.sh
step "all tests passed"
