# Shared by the tests that run watcher.sh on simulated hosts (sourced, after tests/lib.sh, from
# the repository root with $root set): the test bed, the journal check, times, and the sections of
# docs/RECOVERY.md that the tests keep true.
# shellcheck shell=bash

# testbed_up N HOSTFILE: N simulated hosts on the test bed named by TESTBED_NAME and TESTBED_NET
# (exported, so that mpirun's rsh agent finds the same one), and what watcher.sh needs to run
# mpirun on the first of them: MPIRUN and MPIRUN_ARGS (exported), probe (a -p argument).
testbed_up() {
  export TESTBED_NAME=${TESTBED_NAME:-imgp} TESTBED_NET=${TESTBED_NET:-10.213.47}
  bash testbed/netns.sh up "$1" "$2"
  export MPIRUN=${root:?}/testbed/mpirun-h1.sh
  export MPIRUN_ARGS="--mca plm_rsh_agent $root/testbed/rsh-agent.sh --mca plm_rsh_no_tree_spawn 1 \
--mca btl tcp,self,vader --mca btl_tcp_if_include $TESTBED_NET.0/24 --mca oob_tcp_if_include $TESTBED_NET.0/24"
  # shellcheck disable=SC2034 # read by the test that sources this file
  probe="ip netns exec $TESTBED_NAME-h1 ping -c1 -W1 {host}"
}

now() { date +%s.%N; }

# log_time LOG REGEX: the time (seconds since the epoch) of the first watcher line matching REGEX.
log_time() {
  local line
  line=$(grep -m1 -E "$2" "$1") || return 1
  date -d "$(awk '{print $2}' <<<"$line")" +%s.%N
}

# done_count JOURNAL: the journal's `done` lines so far.
done_count() {
  if [ -f "$1" ]; then grep -c '"event":"done"' "$1" || true; else echo 0; fi
}

# check_journal JOURNAL COUNT LABEL: every one of COUNT images is `done` exactly once, and no line
# is torn (a crash must never leave half an entry). Prints a summary; fails when not so.
check_journal() {
  python3 - "$1" "$2" "$3" <<'PY'
import collections, json, sys
path, count, label = sys.argv[1], int(sys.argv[2]), sys.argv[3]
done, torn = collections.Counter(), []
for n, line in enumerate(open(path), 1):
    try:
        e = json.loads(line)
    except ValueError:
        torn.append(f"line {n}: {line.strip()[:80]!r}")
        continue
    if e.get("event") == "done":
        done[e["input"]] += 1
twice = sorted(k for k, v in done.items() if v != 1)
print(f"{label}: journal: {len(done)} of {count} images done, {len(twice)} done more than once, "
      f"{len(torn)} torn line(s)", file=sys.stderr)
for t in torn:
    print(f"{label}: journal: torn {t}", file=sys.stderr)
for k in twice:
    print(f"{label}: journal: {k} done {done[k]} times", file=sys.stderr)
sys.exit(0 if len(done) == count and not twice and not torn else 1)
PY
}

# first_done_after JOURNAL T0: the time of the first `done` entry after T0 (nan if none).
first_done_after() {
  python3 - "$1" "$2" <<'PY'
import json, sys
t0 = float(sys.argv[2])
times = []
for line in open(sys.argv[1]):
    try:
        e = json.loads(line)
    except ValueError:
        continue
    if e.get("event") == "done" and e["time"] > t0:
        times.append(e["time"])
print(min(times) if times else "nan")
PY
}

# secs_between T0 T1: T1 - T0 with two decimals.
secs_between() {
  python3 -c "import sys; print(f'{float(sys.argv[2]) - float(sys.argv[1]):.2f}')" "$1" "$2"
}

# write_doc_section FILE NAME: replaces what lies between the lines `<!-- NAME: begin -->` and
# `<!-- NAME: end -->` of FILE with standard input (appends the section if FILE lacks it), so each
# test rewrites its own measurements and nothing else.
write_doc_section() {
  local body
  body=$(cat)
  python3 - "$1" "$2" "$body" <<'PY'
import pathlib, sys
path, name, body = pathlib.Path(sys.argv[1]), sys.argv[2], sys.argv[3].rstrip("\n")
begin, end = f"<!-- {name}: begin -->", f"<!-- {name}: end -->"
text = path.read_text() if path.exists() else ""
section = f"{begin}\n{body}\n{end}"
if begin in text and end in text:
    head, rest = text.split(begin, 1)
    text = head + section + rest.split(end, 1)[1]
else:
    text = text.rstrip("\n") + "\n\n" + section + "\n"
path.write_text(text)
PY
}
