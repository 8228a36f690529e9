#!/usr/bin/env python3
"""Sends Celery tasks with no worker to take them, so they wait in their queues: the input of
the `queues` tests. Events on for producers (task_send_sent_event), so a recording dates them.

    target/celery-venv/bin/python tests/scripts/send_tasks.py BROKER_URL QUEUE:COUNT[:PRIORITY] ...

Prints the task ids, one JSON list per queue argument, in send order.
"""
import json
import sys

from celery import Celery

app = Celery("sender", broker=sys.argv[1])
app.conf.task_send_sent_event = True
out = []
for spec in sys.argv[2:]:
    parts = spec.split(":")
    queue, count = parts[0], int(parts[1])
    priority = int(parts[2]) if len(parts) > 2 else None
    ids = [app.send_task("shop.job", args=(i,), queue=queue, priority=priority).id for i in range(count)]
    out.append(ids)
print(json.dumps(out))
