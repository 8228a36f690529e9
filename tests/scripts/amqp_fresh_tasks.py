#!/usr/bin/env python3
"""Publishes 200 one-task flows stamped now to the celeryev exchange of a virtual host (as a
worker publishes events, docs/protocol.md §2.1) and prints the id of the middle one: a recent
task on top of an older stream, to time `show` of a task asked about during an incident.

    cargo bench --bench amqp -- --keep          # 1M events in a vhost of their own
    # wait 5 minutes, so they are older than show's first window
    target/celery-venv/bin/python tests/scripts/amqp_fresh_tasks.py VHOST
    /usr/bin/time target/release/celtrace --broker amqp://guest:guest@127.0.0.1:5672/VHOST show ID
"""
import json
import sys
import time
import uuid

import amqp

conn = amqp.Connection(
    "127.0.0.1:5672", userid="guest", password="guest", virtual_host=sys.argv[1]
)
conn.connect()
ch = conn.channel()
ids = []
for i in range(200):
    task = str(uuid.uuid4())
    ids.append(task)
    t = time.time()
    for kind in ["task-sent", "task-received", "task-started", "task-succeeded"]:
        ev = {"type": kind, "uuid": task, "hostname": "w9@fresh", "pid": 99, "clock": i,
              "timestamp": t, "utcoffset": 0}
        if kind in ("task-sent", "task-received"):
            ev.update({"name": "fresh.add", "args": "(1,)", "kwargs": "{}", "root_id": task,
                       "parent_id": None})
        if kind == "task-succeeded":
            ev.update({"result": "2", "runtime": 0.001})
        body = amqp.Message(json.dumps(ev), content_type="application/json")
        ch.basic_publish(body, exchange="celeryev", routing_key=kind.replace("-", "."))
        t += 0.001
conn.close()
print(ids[100])
