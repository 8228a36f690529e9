#!/usr/bin/env python3
"""Validates OTLP/JSON traces against the official protobuf schema (opentelemetry-proto).

OTLP/JSON writes trace and span ids as hex, where protobuf's JSON mapping expects base64:
ids are converted, then the document is parsed strictly as an ExportTraceServiceRequest
(unknown fields are errors). Prints the number of spans; exits 1 on any problem.

Usage: otlp_check.py < traces.json
"""
import base64
import json
import sys

from google.protobuf import json_format
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2


def check(doc):
    spans = 0
    for rs in doc.get("resourceSpans", []):
        for ss in rs.get("scopeSpans", []):
            for span in ss.get("spans", []):
                for key, size in (("traceId", 32), ("spanId", 16), ("parentSpanId", 16)):
                    if key in span:
                        value = span[key]
                        if len(value) != size or int(value, 16) == 0:
                            raise ValueError(f"{key} {value!r} is not {size} hex digits")
                        span[key] = base64.b64encode(bytes.fromhex(value)).decode()
                if int(span["endTimeUnixNano"]) < int(span["startTimeUnixNano"]):
                    raise ValueError("span ends before it starts")
                spans += 1
    json_format.Parse(json.dumps(doc), trace_service_pb2.ExportTraceServiceRequest(), ignore_unknown_fields=False)
    return spans


if __name__ == "__main__":
    try:
        print(check(json.load(sys.stdin)))
    except Exception as e:  # noqa: BLE001 - any failure is a validation failure
        print(f"invalid OTLP: {e}", file=sys.stderr)
        sys.exit(1)
