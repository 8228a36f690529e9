#!/usr/bin/env bash
# Decode + reduce benchmark of the whole CLI on a generated recording.
#
#   tests/scripts/bench.sh [EVENTS]        (default 1000000)
#
# Generates tests/data/bench/<N>.ndjson once (tests/scripts/gen_recording.py, deterministic),
# builds the release binary, then times `celtrace tasks --limit 1` (a full decode + reduce +
# query), `celtrace show`, `workers`, `anomalies` and `stats` three times each, with /usr/bin/time for wall time and peak RSS.
# Memory per task = (peak RSS - RSS of a run on a 4-event file - argument/result bytes) / tasks.
set -euo pipefail
cd "$(dirname "$0")/../.."
n="${1:-1000000}"
mkdir -p tests/data/bench
file="tests/data/bench/$n.ndjson"
meta="tests/data/bench/$n.json"
if [ ! -s "$file" ] || [ ! -s "$meta" ]; then
  python3 tests/scripts/gen_recording.py --events "$n" --out "$file" > "$meta"
fi
cargo build --release --locked --quiet
bin=target/release/celtrace
tasks=$(python3 -c "import json; print(json.load(open('$meta'))['tasks'])")
payload=$(python3 -c "import json; print(json.load(open('$meta'))['payload_bytes'])")
base=$( { /usr/bin/time -f "%M" $bin tasks --events tests/fixtures/celery-5.7/redis/success.events.ndjson -q >/dev/null; } 2>&1 | tail -1)
echo "recording: $file ($n events, $tasks tasks, $payload bytes of argument/result strings)"
for i in 1 2 3; do
  out=$( { /usr/bin/time -f "%e %M" $bin tasks --events "$file" --limit 1 -q >/dev/null; } 2>&1 | tail -1)
  set -- $out
  python3 -c "
wall, rss, base, n, tasks, payload = $1, $2, $base, $n, $tasks, $payload
per_task = ((rss - base) * 1024 - payload) / tasks
print(f'tasks --limit 1: {wall:.2f} s = {n / wall / 1e6:.2f} M events/s, peak RSS {rss / 1024:.0f} MB = {per_task:.0f} B/task beyond argument strings')"
done
id=$(sed -n '1000p' "$file" | python3 -c "import json,sys; print(json.loads(sys.stdin.read())['uuid'][:8])")
for i in 1 2 3; do
  out=$( { /usr/bin/time -f "%e %M" $bin show "$id" --events "$file" -q >/dev/null; } 2>&1 | tail -1)
  echo "show $id: ${out% *} s, peak RSS $(( ${out#* } / 1024 )) MB"
done
# `workers`, `anomalies` and `stats` are cheap passes over the rebuilt state: its time should stay within 1.5x of
# `tasks --limit 1` above (issue 6). The worst case has a lost worker, whose tasks are all
# checked for drops: the variant file drops every event of w1@node1 after its midpoint.
lost="tests/data/bench/$n.lost.ndjson"
if [ ! -s "$lost" ]; then
  python3 - "$file" "$lost" <<'PY'
import sys
src, dst = sys.argv[1], sys.argv[2]
lines = open(src).read().splitlines()
mid = len(lines) // 2
with open(dst, "w") as out:
    for i, line in enumerate(lines):
        if i > mid and '"hostname": "w1@node1"' in line:
            continue
        out.write(line + "\n")
PY
fi
for f in "$file" "$lost"; do
  for i in 1 2 3; do
    for cmd in workers anomalies stats; do
      out=$( { /usr/bin/time -f "%e %M" $bin $cmd --events "$f" -q >/dev/null; } 2>&1 | tail -1)
      echo "$cmd ($(basename "$f")): ${out% *} s, peak RSS $(( ${out#* } / 1024 )) MB"
    done
  done
done
