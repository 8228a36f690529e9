#!/usr/bin/env bash
# Creates (or reuses) the Python venv with Celery 5.7 that the example recorder and the
# end-to-end tests use: target/celery-venv. Idempotent; prints the venv's python.
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
venv="$root/target/celery-venv"
if ! "$venv/bin/python" -c 'import celery, redis; assert celery.__version__ == "5.7.0"' 2>/dev/null; then
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check "celery[redis]==5.7.0"
fi
echo "$venv/bin/python"
