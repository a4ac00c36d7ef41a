#!/usr/bin/env bash
# mpirun as started on the test bed's first host (imgp-h1, the "master"): the watcher calls it in
# place of mpirun (MPIRUN=testbed/mpirun-h1.sh) so the job's launcher lives on a simulated host.
set -euo pipefail
exec "$(dirname "${BASH_SOURCE[0]}")/netns.sh" exec h1 mpirun "$@"
