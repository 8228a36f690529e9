#!/usr/bin/env python3
"""Drives a real Celery 5.7 worker for the end-to-end tests of `celtrace record` (Redis, or
RabbitMQ with --broker).

    target/celery-venv/bin/python tests/scripts/redis_scenarios.py --port 6390 --phase canvas
    target/celery-venv/bin/python tests/scripts/redis_scenarios.py --port 6390 --phase kill

The broker is DB 0 and the result backend (result_extended on) DB 1 of the Redis on --port;
the caller runs `celtrace record` against it. Each phase starts its own worker (-E, prefork,
2 processes, heartbeats every second), runs its scenarios and prints one JSON line of facts
(task ids by scenario) on stdout.

- canvas: a chain, a group, a chord, a task that retries twice, a failure, a task that spawns
  children; the worker stops cleanly at the end.
- anomalies: a chord with a failing header task, a hard time-limit kill, a slow run, a
  failure spike (see `anomalies` there).
- doctor: a worker and a few tasks with settings turned off by SCEN_EVENTS, SCEN_SENT and
  SCEN_EXTENDED (0), kept up until stdin closes.
- kill: an acks-early and an acks-late task start, the worker is SIGKILLed mid-task and
  started again under the same hostname; the acks-late task is redelivered and succeeds.
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

APP = textwrap.dedent(
    """
    import os, time
    from celery import Celery, shared_task
    app = Celery("scenapp", broker=os.environ["SCEN_BROKER"], backend=os.environ["SCEN_BACKEND"])
    # `doctor` phase: each setting can be turned off to test its finding.
    app.conf.worker_send_task_events = os.environ.get("SCEN_EVENTS", "1") == "1"
    app.conf.task_send_sent_event = os.environ.get("SCEN_SENT", "1") == "1"
    app.conf.result_extended = os.environ.get("SCEN_EXTENDED", "1") == "1"
    app.conf.task_track_started = True
    # A SIGKILLed worker's acks-late task comes back when the next worker starts.
    app.conf.broker_transport_options = {"visibility_timeout": 2}

    @app.task
    def add(x, y):
        return x + y

    @app.task
    def mul(x, y):
        return x * y

    @app.task
    def tsum(values):
        return sum(values)

    @app.task(bind=True, max_retries=3)
    def flaky(self, times):
        if self.request.retries < times:
            raise self.retry(exc=RuntimeError(f"attempt {self.request.retries}"), countdown=0.2)
        return "ok after %d retries" % times

    @app.task
    def fail():
        raise ValueError("boom")

    @app.task
    def spawn(n):
        return [add.delay(i, i).id for i in range(n)]

    @app.task
    def sleepy(seconds):
        time.sleep(seconds)
        return seconds

    @app.task
    def check(flag):
        # Fails until the flag file exists: the test flips it, then retries the task.
        if not os.path.exists(flag):
            raise ValueError("flag not set: " + flag)
        return "flag found"

    @app.task(acks_late=True)
    def late_once(marker):
        # The first delivery hangs (and is killed); the redelivery finishes at once.
        if not os.path.exists(marker):
            open(marker, "w").close()
            time.sleep(120)
        return "done"
    """
)


def wait(cond, timeout, what):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if cond():
            return
        time.sleep(0.1)
    sys.exit(f"timed out waiting for {what}")


class Worker:
    def __init__(self, tmp, env, hostname, concurrency=2, events=True):
        self.log = open(os.path.join(tmp, "worker.log"), "a")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "celery", "-A", "scenapp", "worker"] + (["-E"] if events else []) + ["-l", "WARNING", "-c", str(concurrency),
             "-n", hostname, "--without-gossip", "--without-mingle", "--heartbeat-interval", "1"],
            cwd=tmp, env=env, start_new_session=True, stdout=subprocess.DEVNULL, stderr=self.log,
        )

    def stop(self):
        self.proc.send_signal(signal.SIGTERM)
        self.proc.wait(timeout=30)

    def kill(self):
        os.killpg(self.proc.pid, signal.SIGKILL)  # main process and pool: no goodbye
        self.proc.wait(timeout=10)


def ready(app, hostname):
    try:
        return any(hostname in r for r in app.control.ping(timeout=0.5))
    except Exception:
        return False


def canvas(app, m):
    from celery import chain, chord, group

    facts = {}
    c = chain(m.add.s(2, 3), m.mul.s(4), m.add.s(1)).apply_async()
    assert c.get(timeout=30) == 21
    facts["chain"] = [c.parent.parent.id, c.parent.id, c.id]
    g = group(m.add.s(i, i) for i in range(3)).apply_async()
    assert g.get(timeout=30) == [0, 2, 4]
    facts["group"] = {"group_id": g.id, "members": [r.id for r in g.results]}
    ch = chord([m.add.s(i, 1) for i in range(3)], m.tsum.s()).apply_async()
    assert ch.get(timeout=30) == 6
    facts["chord"] = {"callback": ch.id, "group_id": ch.parent.id, "header": [r.id for r in ch.parent.results]}
    r = m.flaky.delay(2)
    assert r.get(timeout=30) == "ok after 2 retries"
    facts["retry"] = r.id
    f = m.fail.delay()
    try:
        f.get(timeout=30)
    except ValueError:
        pass
    facts["failure"] = f.id
    s = m.spawn.delay(2)
    kids = s.get(timeout=30)
    for k in kids:
        app.AsyncResult(k).get(timeout=30)
    facts["spawn"] = {"parent": s.id, "children": kids}
    return facts


def kill(app, m, tmp, env, hostname):
    worker = Worker(tmp, env, hostname)
    wait(lambda: ready(app, hostname), 60, "the worker to answer")
    early = m.sleepy.delay(120)
    late = m.late_once.delay(os.path.join(tmp, "late.marker"))
    wait(lambda: early.state == "STARTED" and late.state == "STARTED", 30, "both tasks to start")
    time.sleep(0.5)
    pid = worker.proc.pid
    worker.kill()
    time.sleep(3)  # past the visibility timeout, so the restart restores the acks-late task
    again = Worker(tmp, env, hostname)
    wait(lambda: ready(app, hostname), 60, "the restarted worker to answer")
    assert late.get(timeout=60) == "done"
    time.sleep(1.5)  # a heartbeat of the new session
    again.stop()
    return {"hostname": hostname, "killed_pid": pid, "early": early.id, "late": late.id}


def wait_phase(app, m, tmp, env, hostname):
    """Announces task ids first (one JSON line), then sends them: for `--wait` to follow."""
    import uuid

    from celery import chain

    worker = Worker(tmp, env, hostname)
    try:
        wait(lambda: ready(app, hostname), 60, "the worker to answer")
        ids = {k: str(uuid.uuid4()) for k in ("ok", "bad", "first", "last")}
        print(json.dumps(ids), flush=True)
        time.sleep(3)  # celtrace subscribes meanwhile
        ok = m.add.apply_async((2, 3), task_id=ids["ok"])
        bad = m.fail.apply_async(task_id=ids["bad"])
        flow = chain(m.sleepy.si(1).set(task_id=ids["first"]), m.add.si(1, 1).set(task_id=ids["last"])).apply_async()
        assert ok.get(timeout=30) == 5
        try:
            bad.get(timeout=30)
        except ValueError:
            pass
        assert flow.get(timeout=30) == 2
        time.sleep(2)
    finally:
        worker.stop()
    return ids


def serve(app, m, tmp, env, hostname, busy=True):
    """A single-process worker busy with one long task (unless `busy` is false); then it
    takes commands on stdin, one per line, and answers each with a JSON line: `sleepy
    SECONDS`, `check FLAG_PATH`. Stops when stdin closes. For `workers --inspect`, `revoke`
    and `retry`."""
    worker = Worker(tmp, env, hostname, concurrency=1)
    try:
        wait(lambda: ready(app, hostname), 60, "the worker to answer")
        busy = m.sleepy.delay(60) if busy else None
        if busy is not None:
            wait(lambda: busy.state == "STARTED", 30, "the long task to start")
        print(json.dumps({"hostname": hostname, "busy": busy.id if busy else None}), flush=True)
        for line in sys.stdin:
            cmd, *rest = line.split()
            if cmd == "sleepy":
                r = m.sleepy.delay(float(rest[0]))
            elif cmd == "check":
                r = m.check.delay(rest[0])
            else:
                continue
            print(json.dumps({"id": r.id}), flush=True)
        if busy is not None:
            app.control.revoke(busy.id, terminate=True)
    finally:
        worker.stop()
    return {"hostname": hostname}


def doctor(app, m, tmp, env, hostname):
    """A worker (with events unless SCEN_EVENTS=0) that runs a few tasks sent with the
    app's settings (SCEN_SENT, SCEN_EXTENDED), then stays up, answering the pidbox, until
    stdin closes: what `celtrace doctor` is run against."""
    worker = Worker(tmp, env, hostname, events=env.get("SCEN_EVENTS", "1") == "1")
    try:
        wait(lambda: ready(app, hostname), 60, "the worker to answer")
        results = [m.add.delay(i, i) for i in range(5)]
        for r in results:
            r.get(timeout=30)
        time.sleep(1.5)  # a heartbeat
        print(json.dumps({"hostname": hostname, "tasks": [r.id for r in results]}), flush=True)
        for _ in sys.stdin:
            pass
    finally:
        worker.stop()
    return {"hostname": hostname}


def lost(app, m, tmp, env, hostname):
    """An unregistered task name, then the worker SIGKILLed mid-task and not restarted."""
    worker = Worker(tmp, env, hostname)
    wait(lambda: ready(app, hostname), 60, "the worker to answer")
    unknown = app.send_task("scenapp.does_not_exist", args=(1,))
    wait(lambda: unknown.state == "FAILURE", 30, "the unregistered task to fail")
    early = m.sleepy.delay(120)
    wait(lambda: early.state == "STARTED", 30, "the long task to start")
    time.sleep(0.5)
    worker.kill()
    time.sleep(3.5)  # past twice the 1 s heartbeat interval: lost, not just late
    return {"early": early.id, "unregistered": unknown.id}


def anomalies(app, m, tmp, env, hostname):
    """What `anomalies` must find: a chord whose header task fails (its callback never runs),
    a task killed at its hard time limit, a failure spike (successes, then failures 2.5 s
    later), one run of a name 20 times slower than its other 20, and a name no worker takes
    (sent pickled: the worker accepts JSON only and drops it without an event)."""
    from celery import chord
    from celery.exceptions import ChordError, TimeLimitExceeded

    worker = Worker(tmp, env, hostname)
    try:
        wait(lambda: ready(app, hostname), 60, "the worker to answer")
        bad = m.fail.s()
        ch = chord([m.add.s(1, 1), bad], m.tsum.s()).apply_async()
        # The header's failure is re-raised first; the callback's ChordError lands in the backend.
        wait(lambda: app.AsyncResult(ch.id).state == "FAILURE", 30, "the callback's ChordError")
        if not isinstance(app.AsyncResult(ch.id).result, ChordError):
            sys.exit(f"the callback ended otherwise: {app.AsyncResult(ch.id).result!r}")
        header = [r.id for r in ch.parent.results]
        failed = [r.id for r in ch.parent.results if r.state == "FAILURE"]
        refused = m.mul.apply_async((2, 3), serializer="pickle")
        killed = m.sleepy.apply_async((10,), time_limit=1)
        try:
            killed.get(timeout=30)
        except TimeLimitExceeded:
            pass
        quick = [m.sleepy.delay(0.02) for _ in range(20)]
        for r in quick:
            r.get(timeout=30)
        slow = m.sleepy.delay(1.0)
        slow.get(timeout=30)
        flag = os.path.join(tmp, "never.flag")
        open(flag, "w").close()
        for r in [m.check.delay(flag) for _ in range(4)]:
            r.get(timeout=30)
        os.remove(flag)
        time.sleep(2.5)
        spike = [m.check.delay(flag) for _ in range(4)]
        for r in spike:
            try:
                r.get(timeout=30)
            except ValueError:
                pass
        time.sleep(1.2)  # a heartbeat
    finally:
        worker.stop()
    return {
        "chord_callback": ch.id,
        "chord_header": header,
        "chord_failed": failed,
        "killed": killed.id,
        "slow": slow.id,
        "spike": [r.id for r in spike],
        "refused": refused.id,
    }


def chord_lost(app, m, tmp, env, hostname):
    """A chord whose header task is lost with its worker (SIGKILL, not restarted) after the
    other header task succeeded: the chord waits forever, its callback never runs."""
    from celery import chord

    worker = Worker(tmp, env, hostname)
    wait(lambda: ready(app, hostname), 60, "the worker to answer")
    ch = chord([m.sleepy.s(120), m.add.s(1, 1)], m.tsum.s()).apply_async()
    long_one, quick = ch.parent.results
    wait(lambda: quick.state == "SUCCESS" and long_one.state == "STARTED", 30, "the header to run")
    time.sleep(0.5)
    worker.kill()
    time.sleep(3.5)  # past twice the 1 s heartbeat interval: lost
    return {"group_id": ch.parent.id, "lost": long_one.id, "reported": quick.id, "callback": ch.id}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, required=True, help="the test Redis (backend DB 1; broker DB 0 unless --broker)")
    ap.add_argument("--broker", help="another broker URL, e.g. amqp://guest:guest@127.0.0.1:5672/vhost")
    ap.add_argument("--phase", choices=["canvas", "kill", "wait", "serve", "serve-idle", "lost", "anomalies", "chord-lost", "doctor"], required=True)
    args = ap.parse_args()
    tmp = tempfile.mkdtemp(prefix="celtrace-scen-")
    with open(os.path.join(tmp, "scenapp.py"), "w") as f:
        f.write(APP)
    env = dict(
        os.environ,
        SCEN_BROKER=args.broker or f"redis://127.0.0.1:{args.port}/0",
        SCEN_BACKEND=f"redis://127.0.0.1:{args.port}/1",
    )
    os.environ.update(env)
    sys.path.insert(0, tmp)
    import scenapp as m

    hostname = f"scen{args.port}@celtrace"
    if args.phase == "canvas":
        worker = Worker(tmp, env, hostname)
        try:
            wait(lambda: ready(m.app, hostname), 60, "the worker to answer")
            facts = canvas(m.app, m)
            time.sleep(1.2)  # a heartbeat
        finally:
            worker.stop()
    elif args.phase == "lost":
        facts = lost(m.app, m, tmp, env, hostname)
    elif args.phase == "anomalies":
        facts = anomalies(m.app, m, tmp, env, hostname)
    elif args.phase == "chord-lost":
        facts = chord_lost(m.app, m, tmp, env, hostname)
    elif args.phase == "serve":
        facts = serve(m.app, m, tmp, env, hostname)
    elif args.phase == "doctor":
        facts = doctor(m.app, m, tmp, env, hostname)
    elif args.phase == "serve-idle":
        facts = serve(m.app, m, tmp, env, hostname, busy=False)
    elif args.phase == "wait":
        facts = wait_phase(m.app, m, tmp, env, hostname)
    else:
        facts = kill(m.app, m, tmp, env, hostname)
    facts["hostname"] = hostname
    print(json.dumps(facts))


if __name__ == "__main__":
    main()
