#!/usr/bin/env python3
"""Records a real worker being killed: the input of the `workers` end-to-end test.

Starts a private redis-server on a free port, a Celery 5.7 worker (-E, prefork, 2 processes,
heartbeat every 2 s) of a tiny app, and a recorder on the event channel (as in
record_example.py). Sends a task name no worker registered and waits for its failure, then
one acks-early and one acks-late task that sleep, waits until both
started, SIGKILLs the worker's main process (and its pool), keeps listening for --linger
seconds, and writes the recording with a closing `celtrace.mark` record: the moment the
recorder stopped listening, so readers judge liveness at that time and not at the last event.

    target/celery-venv/bin/python tests/scripts/record_worker_kill.py --out /tmp/kill.ndjson

Prints one JSON line: {"hostname", "pid", "early", "late", "unregistered"} (task ids).
"""
import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
import textwrap
import time

import redis

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from record_example import Recorder, _ping, free_port, wait  # noqa: E402

APP = textwrap.dedent(
    """
    import os, time
    from celery import Celery

    app = Celery("killapp", broker=os.environ["KILLAPP_BROKER"])
    app.conf.worker_send_task_events = True
    app.conf.task_send_sent_event = True

    @app.task
    def sleepy(seconds):
        time.sleep(seconds)
        return seconds

    @app.task(acks_late=True)
    def late_sleepy(seconds):
        time.sleep(seconds)
        return seconds
    """
)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", required=True)
    ap.add_argument("--linger", type=float, default=6.0, help="seconds to listen after the kill")
    args = ap.parse_args()

    port = free_port()
    tmp = tempfile.mkdtemp(prefix="celtrace-kill-")
    with open(os.path.join(tmp, "killapp.py"), "w") as f:
        f.write(APP)
    redis_proc = subprocess.Popen(
        ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--dir", tmp],
        stdout=subprocess.DEVNULL,
    )
    worker = None
    hostname = f"kill{port}@celtrace"
    try:
        client = redis.Redis(port=port)
        wait(lambda: _ping(client), 10, "redis-server")
        env = dict(os.environ, KILLAPP_BROKER=f"redis://127.0.0.1:{port}/0")
        os.environ.update(env)
        recorder = Recorder(port)
        recorder.start()
        time.sleep(0.3)
        worker = subprocess.Popen(
            [sys.executable, "-m", "celery", "-A", "killapp", "worker", "-E", "-l", "WARNING", "-c", "2",
             "-n", hostname, "--without-gossip", "--without-mingle", "--heartbeat-interval", "2"],
            cwd=tmp, env=env, start_new_session=True,
            stdout=subprocess.DEVNULL, stderr=open(os.path.join(tmp, "worker.log"), "w"),
        )
        wait(lambda: recorder.saw("worker-online", hostname=hostname), 30, "the worker to come online")

        sys.path.insert(0, tmp)
        import killapp

        unknown = killapp.app.send_task("killapp.does_not_exist", args=(1,))
        wait(lambda: recorder.saw("task-failed", uuid=unknown.id), 30, "the unregistered task to fail")
        early = killapp.sleepy.delay(60)
        late = killapp.late_sleepy.delay(60)
        wait(lambda: recorder.saw("task-started", uuid=early.id) and recorder.saw("task-started", uuid=late.id),
             30, "both tasks to start")
        time.sleep(0.5)
        pid = worker.pid
        os.killpg(pid, signal.SIGKILL)  # the main process and its pool children, no goodbye
        worker.wait(timeout=10)
        worker = None
        time.sleep(args.linger)
        recorder.stop.set()
        recorder.join()

        with open(args.out, "w") as out:
            out.write(json.dumps({"type": "celtrace.recording", "version": 1,
                                  "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                                  "producer": "tests/scripts/record_worker_kill.py (celery 5.7.0)"}) + "\n")
            for event in recorder.events:
                out.write(json.dumps(event) + "\n")
            out.write(json.dumps({"type": "celtrace.mark", "local_received": time.time()}) + "\n")
        print(json.dumps({"hostname": hostname, "pid": pid, "early": early.id, "late": late.id,
                          "unregistered": unknown.id}))
    finally:
        if worker is not None:
            try:
                os.killpg(worker.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        redis_proc.terminate()
        redis_proc.wait()


if __name__ == "__main__":
    main()
