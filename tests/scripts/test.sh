#!/usr/bin/env bash
# The whole test suite, as the README gives it: sets up what the tests need (the Celery venv
# for the end-to-end tests) and runs every test. Safe to run twice and in parallel checkouts.
set -euo pipefail
cd "$(dirname "$0")/../.."
if ! command -v redis-server >/dev/null; then
  echo "redis-server is needed by the end-to-end tests (apt-get install redis-server)" >&2
  exit 1
fi
tests/scripts/setup_venv.sh >/dev/null
cargo test --locked "$@"
