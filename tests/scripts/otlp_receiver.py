#!/usr/bin/env python3
"""A minimal OTLP/HTTP (JSON) trace receiver for tests, on 127.0.0.1.

Accepts POST /v1/traces, validates each request with otlp_check.check and appends the number
of spans to the file given; with --refuse it answers 503 to everything. Prints its port on
the first line of stdout, then serves until killed.

Usage: otlp_receiver.py COUNTS_FILE [--refuse]
"""
import http.server
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import otlp_check  # noqa: E402

COUNTS = sys.argv[1]
REFUSE = "--refuse" in sys.argv


class Handler(http.server.BaseHTTPRequestHandler):
    def do_POST(self):  # noqa: N802 - http.server's naming
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        if REFUSE or self.path != "/v1/traces":
            self.send_response(503 if REFUSE else 404)
            self.end_headers()
            return
        try:
            n = otlp_check.check(json.loads(body))
        except Exception as e:  # noqa: BLE001
            self.send_response(400)
            self.end_headers()
            self.wfile.write(str(e).encode())
            return
        with open(COUNTS, "a") as f:
            f.write(f"{n}\n")
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.end_headers()
        self.wfile.write(b"{}")

    def log_message(self, *args):
        pass


server = http.server.HTTPServer(("127.0.0.1", 0), Handler)
print(server.server_address[1], flush=True)
server.serve_forever()
