#!/usr/bin/env bash
# Creates (or reuses) the Python venv the tests use: target/celery-venv, with Celery 5.7 (the
# example recorder, end-to-end tests) and opentelemetry-proto (OTLP validation). Idempotent;
# prints the venv's python.
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
venv="$root/target/celery-venv"
if ! "$venv/bin/python" -c 'import celery, redis, opentelemetry.proto; assert celery.__version__ == "5.7.0"' 2>/dev/null; then
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check "celery[redis]==5.7.0" "opentelemetry-proto>=1.20"
fi
echo "$venv/bin/python"
