#!/usr/bin/env bash
# A multi-host test bed on one machine: simulated hosts are network namespaces imgp-h1..imgp-hN,
# each with its own address in 10.213.47.0/24 and (through rsh-agent.sh) its own hostname, joined
# by veth pairs to a bridge that lives in a hub namespace (imgp-hub), so the machine's own network
# is never touched. mpirun runs inside imgp-h1 and starts its daemons on the others through
# testbed/rsh-agent.sh instead of ssh, over real TCP between the namespaces.
#
#   testbed/netns.sh up N HOSTFILE   create N hosts; write an Open MPI hostfile (IP slots=1)
#   testbed/netns.sh down            remove every host and the hub (idempotent)
#   testbed/netns.sh kill HOST       take HOST down: link down, every process in it killed
#   testbed/netns.sh cut HOST        link down only (a host unreachable before a job starts)
#   testbed/netns.sh exec HOST CMD.. run CMD on HOST, with HOST's hostname
#   testbed/netns.sh ip HOST         print HOST's address
#
# HOST is a name (imgp-h2), a short name (h2) or an address (10.213.47.12). Needs root and
# iproute2 (installed when missing).
#
# Two test beds can live side by side (say failover and soak tests at once): TESTBED_NAME
# (default imgp) names the namespaces ($TESTBED_NAME-h1..., $TESTBED_NAME-hub) and TESTBED_NET
# (default 10.213.47) is their /24. Every call for one test bed needs the same two values; mpirun
# passes them on to rsh-agent.sh through the environment.
set -euo pipefail

readonly NAME=${TESTBED_NAME:-imgp}
readonly PREFIX=$NAME-h
readonly HUB=$NAME-hub
readonly NET=${TESTBED_NET:-10.213.47}
readonly FIRST=10 # host i has address $NET.$((FIRST + i))

die() {
  echo "testbed: $*" >&2
  exit 1
}

need_ip() {
  if ! command -v ip >/dev/null; then
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq iproute2 >/dev/null
  fi
}

# ns_of HOST: the namespace of a host name, short name or address.
ns_of() {
  case $1 in
    "$PREFIX"*) echo "$1" ;;
    h[0-9]*) echo "$PREFIX${1#h}" ;;
    "$NET".*) echo "$PREFIX$((${1##*.} - FIRST))" ;;
    *) die "unknown host '$1'" ;;
  esac
}

ip_of() {
  local ns
  ns=$(ns_of "$1")
  echo "$NET.$((${ns#"$PREFIX"} + FIRST))"
}

hosts() {
  ip netns list | awk '{print $1}' | grep "^${PREFIX}[0-9]" | sort -V || true
}

up() {
  local n=${1:?usage: up N HOSTFILE} hostfile=${2:?usage: up N HOSTFILE}
  if [ "$n" -lt 1 ] || [ "$n" -gt 200 ]; then
    die "N must be 1..200"
  fi
  down
  ip netns add "$HUB"
  ip -n "$HUB" link set lo up
  ip -n "$HUB" link add br0 type bridge
  ip -n "$HUB" link set br0 up
  : >"$hostfile"
  for i in $(seq 1 "$n"); do
    local ns=$PREFIX$i addr=$NET.$((FIRST + i))
    ip netns add "$ns"
    ip -n "$ns" link set lo up
    # Both ends are created inside the namespaces: nothing appears in the root namespace.
    ip -n "$HUB" link add "h$i" type veth peer name eth0 netns "$ns"
    ip -n "$HUB" link set "h$i" master br0 up
    ip -n "$ns" addr add "$addr/24" dev eth0
    ip -n "$ns" link set eth0 up
    echo "$addr slots=1" >>"$hostfile"
  done
  # Wait until every host answers the first one (the bridge needs a moment to forward).
  for i in $(seq 1 "$n"); do
    local tries=0
    until ip netns exec "${PREFIX}1" ping -c1 -W1 "$NET.$((FIRST + i))" >/dev/null 2>&1; do
      tries=$((tries + 1))
      [ $tries -lt 20 ] || die "host $i does not answer"
    done
  done
  echo "testbed: $n host(s) up: $(hosts | tr '\n' ' ')" >&2
}

kill_all_in() {
  local pids
  pids=$(ip netns pids "$1" 2>/dev/null || true)
  if [ -n "$pids" ]; then
    # shellcheck disable=SC2086 # one pid a word
    kill -KILL $pids 2>/dev/null || true
  fi
}

down() {
  for ns in $(hosts); do
    kill_all_in "$ns"
    ip netns del "$ns" 2>/dev/null || true
  done
  if ip netns list | grep -q "^$HUB\b"; then
    ip netns del "$HUB"
  fi
}

cut() {
  local ns
  ns=$(ns_of "$1")
  ip -n "$ns" link set eth0 down
  echo "testbed: $ns link down" >&2
}

kill_host() {
  local ns
  ns=$(ns_of "$1")
  ip -n "$ns" link set eth0 down
  kill_all_in "$ns"
  echo "testbed: $ns down (link down, processes killed)" >&2
}

exec_on() {
  local ns
  ns=$(ns_of "$1")
  shift
  # shellcheck disable=SC2016 # expanded by the inner shell
  exec ip netns exec "$ns" unshare --uts sh -c 'hostname "$0" && exec "$@"' "$ns" "$@"
}

[ "$(id -u)" -eq 0 ] || die "needs root (network namespaces)"
need_ip
cmd=${1:-}
shift || true
case $cmd in
  up) up "$@" ;;
  down) down ;;
  kill) kill_host "${1:?usage: kill HOST}" ;;
  cut) cut "${1:?usage: cut HOST}" ;;
  exec) exec_on "${1:?usage: exec HOST CMD...}" "${@:2}" ;;
  ip) ip_of "${1:?usage: ip HOST}" ;;
  *) sed -n '2,22p' "$0" >&2; exit 2 ;;
esac
