#!/usr/bin/env python3
"""Publishes captured AMQP event deliveries (tests/fixtures/celery-5.7/amqp/*.raw.ndjson[.gz])
to the celeryev exchange of a virtual host, as Celery's workers publish them (PROTOCOL.md §2.1).

    target/celery-venv/bin/python tests/scripts/amqp_publish.py VHOST CAPTURE [--declare]

--declare declares the exchange first (topic, durable), as a worker would. Prints the count.
"""
import argparse
import gzip
import json

import amqp

ap = argparse.ArgumentParser()
ap.add_argument("vhost")
ap.add_argument("capture")
ap.add_argument("--declare", action="store_true")
args = ap.parse_args()
conn = amqp.Connection("127.0.0.1:5672", userid="guest", password="guest", virtual_host=args.vhost)
conn.connect()
ch = conn.channel()
if args.declare:
    ch.exchange_declare("celeryev", "topic", durable=True, auto_delete=False)
opener = gzip.open if args.capture.endswith(".gz") else open
n = 0
with opener(args.capture, "rt") as f:
    for line in f:
        d = json.loads(line)
        props = d.get("properties", {})
        ch.basic_publish(
            amqp.Message(d["body"], content_type=props.get("content_type", "application/json"),
                         content_encoding=props.get("content_encoding", "utf-8"),
                         application_headers=props.get("headers"), delivery_mode=1),
            exchange="celeryev", routing_key=d["routing_key"])
        n += 1
conn.close()
print(n)
