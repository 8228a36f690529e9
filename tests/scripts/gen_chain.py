#!/usr/bin/env python3
"""Writes a recording of one chain of N steps (received, started, succeeded per task) to
stdout, for the OTLP export memory figure in the README:

    python3 tests/scripts/gen_chain.py 100000 > chain.ndjson
"""
import json
import sys

n = int(sys.argv[1]) if len(sys.argv) > 1 else 100000
t0 = 1795333600.0
out = sys.stdout
for i in range(n):
    uuid, parent = f"c-{i}", (f"c-{i - 1}" if i else None)
    t = t0 + i * 0.01
    out.write(json.dumps({"type": "task-received", "uuid": uuid, "name": "chain.step", "root_id": "c-0",
                          "parent_id": parent, "hostname": "w@h", "timestamp": t, "args": "(1,)", "kwargs": "{}"}) + "\n")
    out.write(json.dumps({"type": "task-started", "uuid": uuid, "hostname": "w@h", "timestamp": t + 0.001}) + "\n")
    out.write(json.dumps({"type": "task-succeeded", "uuid": uuid, "hostname": "w@h", "timestamp": t + 0.005,
                          "runtime": 0.004, "result": "1"}) + "\n")
