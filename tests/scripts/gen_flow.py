#!/usr/bin/env python3
"""Writes a recording of one big workflow, for the graph benchmark.

  gen_flow.py --fanout 100000 --out fan.ndjson   # a root that sends 100,000 children at once
  gen_flow.py --chain 10000 --out chain.ndjson   # a chain 10,000 steps deep

Each task has task-sent/received/started/succeeded events like Celery 5.7's. Deterministic.
Prints the root id.
"""
import argparse
import json
import uuid


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--fanout", type=int, default=0)
    ap.add_argument("--chain", type=int, default=0)
    ap.add_argument("--out", required=True)
    a = ap.parse_args()
    n = 0
    t = 1795333620.0
    clock = 0

    def uid():
        nonlocal n
        n += 1
        return str(uuid.UUID(int=n, version=4))

    with open(a.out, "w") as out:
        def task(tid, root, parent, name, sent, producer, runtime=0.002):
            nonlocal clock
            base = {"uuid": tid, "root_id": root, "parent_id": parent, "name": name, "args": "(1,)", "kwargs": "{}"}
            out.write(json.dumps(dict(base, hostname=producer, pid=500, clock=1, retries=0, eta=None, expires=None,
                                      queue="celery", exchange="", routing_key="celery", timestamp=sent, type="task-sent")) + "\n")
            for typ, dt, extra in (("task-received", 0.001, base), ("task-started", 0.002, {"uuid": tid}),
                                   ("task-succeeded", 0.002 + runtime, {"uuid": tid, "result": "2", "runtime": runtime})):
                clock += 1
                out.write(json.dumps(dict(extra, hostname="w1@bench", pid=100, clock=clock, timestamp=sent + dt, type=typ)) + "\n")

        root = uid()
        task(root, root, None, "flow.start", t, "gen1@web")
        if a.fanout:
            for i in range(a.fanout):
                task(uid(), root, root, "flow.item", t + 0.003 + i * 0.00001, "gen101@w1")
        parent = root
        for i in range(a.chain):
            tid = uid()
            task(tid, root, parent, "flow.step", t + 0.005 * (i + 1), "gen101@w1")
            parent = tid
    print(root)


if __name__ == "__main__":
    main()
