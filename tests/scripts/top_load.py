"""Publishes Celery 5.7's own event envelopes on a Redis broker at a fixed rate, for measuring
`celtrace top` under load (tests/scripts/bench_top.sh).

    python3 tests/scripts/top_load.py --url redis://127.0.0.1:6390/0 --rate 1000 --secs 60

Per task: a task-sent, a task.multi [received, started] and a task.multi [succeeded] (four
events in three messages, as a prefork worker batches them), on three queues; and a heartbeat
from each of two workers every 2 s. Paced every 10 ms.
"""
import argparse
import base64
import json
import time
import uuid

import redis


def envelope(body, routing_key, host):
    return json.dumps({
        "body": base64.b64encode(json.dumps(body).encode()).decode(),
        "content-encoding": "utf-8",
        "content-type": "application/json",
        "headers": {"hostname": host},
        "properties": {
            "delivery_mode": 1,
            "delivery_info": {"exchange": "celeryev", "routing_key": routing_key},
            "priority": 0,
            "body_encoding": "base64",
            "delivery_tag": str(uuid.uuid4()),
        },
    })


def task_messages(n, now, db):
    tid = str(uuid.uuid5(uuid.NAMESPACE_OID, f"celtrace-top-load-{n}"))
    worker = f"w{n % 2 + 1}@load"
    queue = ("celery", "emails", "reports")[n % 3]
    common = lambda ty, dt, host: {"hostname": host, "utcoffset": 0.0, "pid": 4242, "clock": n,
                                   "uuid": tid, "timestamp": now + dt, "type": ty}
    ident = {"name": f"load.task{n % 5}", "args": "(2, 3)", "kwargs": "{}", "retries": 0,
             "eta": None, "expires": None, "root_id": tid, "parent_id": None}
    sent = {**common("task-sent", 0.0, "gen@load"), **ident, "queue": queue,
            "exchange": "", "routing_key": queue}
    received = {**common("task-received", 0.001, worker), **ident}
    started = common("task-started", 0.002, worker)
    done = {**common("task-succeeded", 0.004, worker), "result": "5", "runtime": 0.002}
    return [
        (f"/{db}.celeryev/task.sent", envelope(sent, "task.sent", "gen@load")),
        (f"/{db}.celeryev/task.multi", envelope([received, started], "task.multi", worker)),
        (f"/{db}.celeryev/task.multi", envelope([done], "task.multi", worker)),
    ]


def heartbeat(host, now, db, processed):
    body = {"hostname": host, "utcoffset": 0.0, "pid": 4242, "clock": 1, "freq": 2.0,
            "active": 1, "processed": processed, "loadavg": [0.5, 0.4, 0.3],
            "sw_ident": "py-celery", "sw_ver": "5.7.0", "sw_sys": "Linux",
            "timestamp": now, "type": "worker-heartbeat"}
    return (f"/{db}.celeryev/worker.heartbeat", envelope(body, "worker.heartbeat", host))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--url", required=True)
    ap.add_argument("--rate", type=int, default=1000, help="events per second")
    ap.add_argument("--secs", type=float, default=60)
    args = ap.parse_args()
    r = redis.Redis.from_url(args.url)
    db = r.connection_pool.connection_kwargs.get("db", 0)
    start = time.time()
    sent_events = 0
    n = 0
    next_beat = 0.0
    while True:
        now = time.time()
        if now - start >= args.secs:
            break
        pipe = r.pipeline(transaction=False)
        if now >= next_beat:
            for host in ("w1@load", "w2@load"):
                pipe.publish(*heartbeat(host, now, db, n // 2))
            next_beat = now + 2.0
        due = int((now - start) * args.rate)
        while sent_events + 4 <= due:
            for channel, message in task_messages(n, now, db):
                pipe.publish(channel, message)
            n += 1
            sent_events += 4
        pipe.execute()
        time.sleep(0.01)
    print(json.dumps({"events": sent_events, "tasks": n, "secs": round(time.time() - start, 1)}))


if __name__ == "__main__":
    main()
