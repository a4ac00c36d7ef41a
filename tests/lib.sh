# Shared by the shell tests (sourced): failing with the logs shown.
# shellcheck shell=bash

# fail MESSAGE...: print MESSAGE under the test's name ($test_name), the tail of every log in
# $work, and exit 1.
fail() {
  echo "${test_name:?}: FAIL: $*" >&2
  for log in "${work:?}"/*.log; do
    [ -f "$log" ] && { echo "--- $log" >&2; tail -30 "$log" >&2; }
  done
  exit 1
}
