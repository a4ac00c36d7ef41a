#!/usr/bin/env bash
# ssh's stand-in for mpirun on the test bed: `mpirun --mca plm_rsh_agent testbed/rsh-agent.sh`
# calls it as `rsh-agent.sh [OPTIONS] HOST COMMAND...`, like ssh. It runs COMMAND (a shell command
# line, as ssh would give the remote shell) inside HOST's network namespace, under HOST's own
# hostname, on the same file system.
set -euo pipefail

while [ $# -gt 0 ] && [ "${1#-}" != "$1" ]; do
  shift # ssh options (-x, -o ...) mean nothing here
done
host=${1:?usage: rsh-agent.sh HOST COMMAND...}
shift
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# The remote command line goes to a shell, as ssh does.
exec "$here/netns.sh" exec "$host" sh -c "$*"
