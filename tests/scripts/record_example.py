#!/usr/bin/env python3
"""Records tests/data/example.ndjson from a real Celery 5.7 run of tests/scripts/example/shop.py.

Starts a private redis-server on a free port, a Celery worker with events on (-E), and a
recorder that PSUBSCRIBEs to the worker's event channel (/{db}.celeryev/*, docs/protocol.md §1),
decodes each kombu envelope (base64 body; task.multi batches are JSON lists) and keeps every
event dict with the time it arrived (`local_received`). Then it places two orders (one goes
through retry + chord, one fails the fraud check), runs a report that spawns children and
sends progress events, waits for everything, stops the worker cleanly and writes the
recording: a celtrace header line, then one Celery event per line.

Run it with the venv the tests use (tests/scripts/setup_venv.sh):
    target/celery-venv/bin/python tests/scripts/record_example.py [--out tests/data/example.ndjson]
"""
import argparse
import base64
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time

import redis

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Recorder(threading.Thread):
    """PSUBSCRIBE /0.celeryev/* and keep every decoded event with its arrival time."""

    def __init__(self, port):
        super().__init__(daemon=True)
        self.client = redis.Redis(port=port)
        self.pubsub = self.client.pubsub()
        self.pubsub.psubscribe("/0.celeryev/*")
        self.events = []
        self.stop = threading.Event()

    def run(self):
        while not self.stop.is_set():
            msg = self.pubsub.get_message(timeout=0.2)
            if not msg or msg["type"] != "pmessage":
                continue
            received = time.time()
            envelope = json.loads(msg["data"])
            body = envelope["body"]
            if envelope["properties"].get("body_encoding") == "base64":
                body = base64.b64decode(body).decode(envelope.get("content-encoding", "utf-8"))
            payload = json.loads(body)
            for event in payload if isinstance(payload, list) else [payload]:
                event["local_received"] = received
                self.events.append(event)

    def saw(self, typ, **match):
        return any(e.get("type") == typ and all(e.get(k) == v for k, v in match.items()) for e in self.events)


def wait(cond, timeout, what):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if cond():
            return
        time.sleep(0.1)
    sys.exit(f"timed out waiting for {what}")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", default=os.path.join(ROOT, "tests", "data", "example.ndjson"))
    args = ap.parse_args()

    port = free_port()
    tmp = tempfile.mkdtemp(prefix="celtrace-example-")
    redis_proc = subprocess.Popen(
        ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--dir", tmp],
        stdout=subprocess.DEVNULL,
    )
    worker = None
    try:
        client = redis.Redis(port=port)
        wait(lambda: _ping(client), 10, "redis-server")
        env = dict(os.environ, SHOP_BROKER=f"redis://127.0.0.1:{port}/0", SHOP_BACKEND=f"redis://127.0.0.1:{port}/1")
        os.environ.update(env)
        recorder = Recorder(port)
        recorder.start()
        time.sleep(0.3)
        worker = subprocess.Popen(
            [sys.executable, "-m", "celery", "-A", "shop", "worker", "-E", "-l", "WARNING", "-c", "2",
             "-n", "shop@example", "--without-gossip", "--without-mingle"],
            cwd=os.path.join(HERE, "example"), env=env,
        )
        wait(lambda: recorder.saw("worker-online"), 30, "the worker to come online")

        sys.path.insert(0, os.path.join(HERE, "example"))
        import shop

        items = [{"sku": "MUG-01", "price": 12.5, "qty": 2}, {"sku": "TEE-07", "price": 20.0, "qty": 1}]
        ok = shop.place_order(1001, {"name": "Ada", "country": "GB"}, items, "tok_live_4f9a2c")
        bad = shop.place_order(1002, {"name": "Mallory", "country": "XX"}, items, "tok_live_0000")
        report = shop.nightly_report.delay("2026-11-22")

        chord_id = ok.get(timeout=60)
        shop.app.AsyncResult(chord_id).get(timeout=60)
        try:
            bad.get(timeout=30)
        except Exception:  # the fraud check fails on purpose
            pass
        for child in report.get(timeout=30):
            shop.app.AsyncResult(child).get(timeout=30)
        time.sleep(2.5)  # let a heartbeat or two through

        worker.send_signal(signal.SIGTERM)
        worker.wait(timeout=30)
        worker = None
        wait(lambda: recorder.saw("worker-offline"), 10, "worker-offline")
        recorder.stop.set()
        recorder.join()

        with open(args.out, "w") as out:
            out.write(json.dumps({"type": "celtrace.recording", "version": 1,
                                  "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                                  "producer": "tests/scripts/record_example.py (celery 5.7.0)"}) + "\n")
            for event in recorder.events:
                out.write(json.dumps(event) + "\n")
        tasks = {e["uuid"] for e in recorder.events if "uuid" in e}
        print(f"wrote {len(recorder.events)} events of {len(tasks)} tasks to {args.out}")
    finally:
        if worker is not None:
            worker.kill()
        redis_proc.terminate()
        redis_proc.wait()


def _ping(client):
    try:
        return client.ping()
    except redis.ConnectionError:
        return False


if __name__ == "__main__":
    main()
