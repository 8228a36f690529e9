#!/usr/bin/env python3
"""Publishes captured AMQP event deliveries (tests/fixtures/celery-5.7/amqp/*.raw.ndjson[.gz])
to the celeryev exchange of a virtual host, as Celery's workers publish them (docs/protocol.md §2.1).

    target/celery-venv/bin/python tests/scripts/amqp_publish.py VHOST CAPTURE [--declare] [--repeat N] [--confirm]

--declare declares the exchange first (topic, durable), as a worker would; --repeat publishes
the capture N times (a big stream for the chaos tests); --confirm waits for the broker's
confirm of each message, so a stream queue stores each in a chunk of its own, as it does for
a worker publishing at an ordinary rate. Prints the count.
"""
import argparse
import gzip
import json

import amqp

ap = argparse.ArgumentParser()
ap.add_argument("vhost")
ap.add_argument("capture")
ap.add_argument("--declare", action="store_true")
ap.add_argument("--repeat", type=int, default=1)
ap.add_argument("--confirm", action="store_true")
args = ap.parse_args()
conn = amqp.Connection("127.0.0.1:5672", userid="guest", password="guest", virtual_host=args.vhost,
                       confirm_publish=args.confirm)
conn.connect()
ch = conn.channel()
if args.declare:
    ch.exchange_declare("celeryev", "topic", durable=True, auto_delete=False)
opener = gzip.open if args.capture.endswith(".gz") else open
with opener(args.capture, "rt") as f:
    deliveries = [json.loads(line) for line in f]
n = 0
for _ in range(args.repeat):
    for d in deliveries:
        props = d.get("properties", {})
        ch.basic_publish(
            amqp.Message(d["body"], content_type=props.get("content_type", "application/json"),
                         content_encoding=props.get("content_encoding", "utf-8"),
                         application_headers=props.get("headers"), delivery_mode=1),
            exchange="celeryev", routing_key=d["routing_key"])
        n += 1
conn.close()
print(n)
