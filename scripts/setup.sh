#!/usr/bin/env bash
# The README's first command: installs what imgproc needs (Debian 12), builds it, and runs the main
# job on the bundled sample under mpirun: 3 ranks filter samples/astronaut.jpg split by rows.
#
#   bash scripts/setup.sh            # install, build, run the sample job
#   bash scripts/setup.sh --build    # install and build only (cloud-init, CI)
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
bash scripts/install-deps.sh
# shellcheck source=scripts/env.sh
source scripts/env.sh

echo "setup: building imgproc (release; a clean build takes a few minutes)" >&2
# The program only: examples and tests also build the dev-dependencies (proptest, egui_kittest),
# which doubled a fresh set-up; scripts/test.sh builds those.
cargo build --release --locked --bin imgproc

if [ "${1:-}" = "--build" ]; then
  exit 0
fi

mkdir -p out
op=gray,gaussian,canny
echo "setup: running '$op' on samples/astronaut.jpg with 3 ranks under mpirun" >&2
mpirun --oversubscribe -np 3 target/release/imgproc run --op "$op" samples/astronaut.jpg -o out/astronaut-edges.png
# The same chain in one process, to show the distributed result holds the same pixels (each rank
# encoded its own rows, so the PNG's compressed bytes may differ from OpenCV's own file).
# ImageMagick's compare counts the pixels that differ at all (AE, no fuzz): exit 0 when none.
target/release/imgproc run --reference --op "$op" samples/astronaut.jpg -o out/astronaut-edges-reference.png 2>/dev/null
if ! differing=$(compare -metric AE out/astronaut-edges.png out/astronaut-edges-reference.png null: 2>&1); then
  echo "setup: out/astronaut-edges.png differs from the one-process result in $differing pixel(s)" >&2
  exit 1
fi
echo
echo "Output: $root/out/astronaut-edges.png (pixel for pixel the one-process result)"
echo "Next:   bash scripts/test.sh    # the tests"
echo "        target/release/imgproc --help, or 'mpirun -np 3 target/release/imgproc' for the GUI"
