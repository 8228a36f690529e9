#!/usr/bin/env bash
# graph benchmark: a 100,000-task fan-out and a 10,000-step chain, as tree and as DOT.
#   tests/scripts/bench_graph.sh
# Generates the recordings once (tests/scripts/gen_flow.py, deterministic), builds the release
# binary and times each whole CLI run three times (wall time and peak RSS).
set -euo pipefail
cd "$(dirname "$0")/../.."
mkdir -p tests/data/bench
[ -s tests/data/bench/fan100k.ndjson ] || python3 tests/scripts/gen_flow.py --fanout 100000 --out tests/data/bench/fan100k.ndjson >/dev/null
[ -s tests/data/bench/chain10k.ndjson ] || python3 tests/scripts/gen_flow.py --chain 10000 --out tests/data/bench/chain10k.ndjson >/dev/null
cargo build --release --locked --quiet
root=00000000-0000-4000-8000-000000000001
for f in fan100k chain10k; do
  for fmt in tree dot; do
    for i in 1 2 3; do
      /usr/bin/time -f "$f $fmt: %e s, peak RSS %M KB" target/release/celtrace graph $root --events tests/data/bench/$f.ndjson --format $fmt -q >/dev/null
    done
  done
done
