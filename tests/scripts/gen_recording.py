#!/usr/bin/env python3
"""Writes a synthetic but realistic celtrace recording (NDJSON, Celery 5.7 event dicts).

Shapes follow the real captures in tests/fixtures/celery-5.7: task-sent from producers
(gen<pid>@host), received/started/succeeded|failed from 4 workers, ~5 % failures with a
traceback, ~5 % tasks retried once or twice (same uuid, retried message names itself as
parent), ~30 % tasks spawned by another task (root/parent links), heartbeats every 2 s per
worker. Deterministic for a given --seed.

Usage: gen_recording.py --events 1000000 --out big.ndjson [--seed 1]
Prints a JSON summary (tasks, events, bytes of argument/result strings) on stdout.
"""
import argparse
import json
import random
import uuid

NAMES = [f"shop.{n}" for n in (
    "create_order", "reserve_stock", "charge_card", "send_receipt", "ship", "notify",
    "resize_image", "index_product", "sync_inventory", "compute_tax", "apply_coupon",
    "fraud_check", "update_search", "export_report", "cleanup_cart", "refund",
    "email_digest", "warm_cache", "recalc_prices", "audit_log")]
WORKERS = [f"w{i}@node{i}" for i in range(1, 5)]
TRACEBACK = ("Traceback (most recent call last):\n"
             "  File \"/app/.venv/lib/python3.11/site-packages/celery/app/trace.py\", line 453, in trace_task\n"
             "    R = retval = fun(*args, **kwargs)\n"
             "  File \"/app/shop/tasks.py\", line 88, in charge_card\n"
             "    raise PaymentDeclined(order_id)\n"
             "shop.errors.PaymentDeclined: PaymentDeclined(%d)\n")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--events", type=int, default=1_000_000)
    ap.add_argument("--out", required=True)
    ap.add_argument("--seed", type=int, default=1)
    a = ap.parse_args()
    rnd = random.Random(a.seed)
    t = 1795333620.0
    clocks = {w: 1 for w in WORKERS}
    pids = {w: 20000 + i * 10 for i, w in enumerate(WORKERS)}
    next_hb = t
    recent = []  # ids of recent tasks, possible parents
    n_events = n_tasks = payload = 0
    dumps = json.JSONEncoder(separators=(", ", ": ")).encode

    with open(a.out, "w") as out:
        out.write(dumps({"type": "celtrace.recording", "version": 1, "created": "2026-11-22T07:47:00Z",
                         "producer": "gen_recording.py"}) + "\n")

        def emit(ev):
            nonlocal n_events
            out.write(dumps(ev) + "\n")
            n_events += 1

        def worker_ev(w, typ, ts, **kw):
            clocks[w] += 1
            ev = {"hostname": w, "utcoffset": 0.0, "pid": pids[w], "clock": clocks[w]}
            ev.update(kw)
            ev.update({"timestamp": ts, "type": typ, "local_received": ts + 0.0007})
            emit(ev)

        while n_events < a.events:
            t += rnd.expovariate(2000.0)
            while next_hb <= t:
                for w in WORKERS:
                    worker_ev(w, "worker-heartbeat", next_hb, freq=2.0, sw_ident="py-celery",
                              sw_ver="5.7.0", sw_sys="Linux", active=rnd.randint(0, 4),
                              processed=n_tasks // 4, loadavg=[0.52, 0.61, 0.7])
                next_hb += 2.0
            n_tasks += 1
            tid = str(uuid.UUID(int=rnd.getrandbits(128), version=4))
            name = rnd.choice(NAMES)
            if recent and rnd.random() < 0.3:
                parent = rnd.choice(recent)
                root, parent_id = parent
                producer = f"gen{rnd.randint(30000, 30100)}@node1"
            else:
                root, parent_id = tid, None
                producer = f"gen{rnd.randint(11000, 11010)}@web1"
            recent.append((root, tid))
            if len(recent) > 1000:
                recent.pop(0)
            order = rnd.randint(1, 10**6)
            args = f"({order},)"
            kwargs = "{'currency': 'EUR', 'amount': %d}" % rnd.randint(1, 100000)
            payload += len(args) + len(kwargs)
            w = rnd.choice(WORKERS)
            base = {"uuid": tid, "root_id": root, "parent_id": parent_id, "name": name,
                    "args": args, "kwargs": kwargs}
            sent = {"hostname": producer, "utcoffset": 0.0, "pid": 11000, "clock": n_tasks}
            sent.update(base)
            sent.update({"retries": 0, "eta": None, "expires": None, "queue": "celery",
                         "exchange": "", "routing_key": "celery", "timestamp": t, "type": "task-sent",
                         "local_received": t + 0.0005})
            emit(sent)
            retries = 0
            if rnd.random() < 0.05:
                retries = rnd.choice((1, 2))
            ts = t
            for attempt in range(retries + 1):
                ts += rnd.uniform(0.0005, 0.003)
                worker_ev(w, "task-received", ts, retries=attempt, eta=None, expires=None, **base)
                ts += rnd.uniform(0.0005, 0.003)
                worker_ev(w, "task-started", ts, uuid=tid)
                runtime = rnd.uniform(0.001, 0.2)
                ts += runtime
                if attempt < retries:
                    exc = "ConnectionError('gateway timeout')"
                    payload += len(exc)
                    worker_ev(w, "task-retried", ts, uuid=tid, exception=exc, traceback=TRACEBACK % order)
                    payload += len(TRACEBACK % order)
                    # The retry message comes from the pool child and names the task as parent.
                    rs = dict(sent, parent_id=tid, retries=attempt + 1, timestamp=ts,
                              hostname=f"gen{pids[w] + 1}@node", local_received=ts + 0.0005,
                              eta="2026-11-22T07:47:04.907656+00:00")
                    emit(rs)
                elif rnd.random() < 0.05:
                    exc = "PaymentDeclined(%d)" % order
                    tb = TRACEBACK % order
                    payload += len(exc) + len(tb)
                    worker_ev(w, "task-failed", ts, uuid=tid, exception=exc, traceback=tb)
                else:
                    result = "{'order': %d, 'ok': True}" % order
                    payload += len(result)
                    worker_ev(w, "task-succeeded", ts, uuid=tid, result=result, runtime=runtime)
    print(json.dumps({"tasks": n_tasks, "events": n_events, "payload_bytes": payload, "file": a.out}))


if __name__ == "__main__":
    main()
