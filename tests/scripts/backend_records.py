#!/usr/bin/env python3
"""Turns captured Redis result-backend writes into celtrace.backend recording lines.

Input: NDJSON of result-backend writes, one per line (the capture format of docs/protocol.md §7)
(`{"ts", "cmd": "SETEX"|"SET"|..., "key", "value"}` from redis MONITOR). Every write of a
`celery-task-meta-<id>` key becomes
    {"type": "celtrace.backend", "key": "celery-task-meta-<id>", "value": {...}, "local_received": ts}
which is what a recorder watching the backend's `celery-task-meta-*` channel writes.

Usage: backend_records.py < writes.ndjson > backend.ndjson
"""
import json
import sys

for line in sys.stdin:
    w = json.loads(line)
    if not w.get("key", "").startswith("celery-task-meta-") or not isinstance(w.get("value"), dict):
        continue
    print(json.dumps({"type": "celtrace.backend", "key": w["key"], "value": w["value"], "local_received": w["ts"]}))
