# Shared by the shell tests of `imgproc serve` (sourced from the repository root with $root set):
# serve_up starts the server on 3 real ranks on a free loopback port of $work and waits until it
# answers; the caller's cleanup calls serve_down.
# shellcheck shell=bash

# serve_up EXTRA...: sets $port and $server (mpirun's pid); the server's stderr goes to
# $work/server.log.
serve_up() {
  port=$(/usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
  mpirun --oversubscribe -np 3 "${bin:?}" serve --listen "127.0.0.1:$port" --data "${work:?}/data" "$@" \
    2>"${work:?}/server.log" &
  server=$!
  for _ in $(seq 300); do
    curl -sf "http://127.0.0.1:$port/healthz" >/dev/null && return 0
    sleep 0.1
  done
  echo "the server did not come up:" >&2
  cat "$work/server.log" >&2
  return 1
}

serve_down() {
  kill -TERM "$server" 2>/dev/null || true
  wait "$server" 2>/dev/null || true
}
