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
# `queues --management-url` is tested against RabbitMQ's management API, off in a plain
# install: enable it where this user may (otherwise that part of the test is skipped).
if command -v rabbitmq-plugins >/dev/null \
  && ! (exec 3<>/dev/tcp/127.0.0.1/15672) 2>/dev/null; then
  rabbitmq-plugins enable --quiet rabbitmq_management >/dev/null 2>&1 \
    || echo "note: could not enable rabbitmq_management; its test part is skipped" >&2
  for _ in $(seq 1 20); do
    (exec 3<>/dev/tcp/127.0.0.1/15672) 2>/dev/null && break
    sleep 0.5
  done
fi
# Stream queue reads go over RabbitMQ's stream protocol (plugin rabbitmq_stream, port 5552)
# when it answers; the tests check that they do.
if command -v rabbitmq-plugins >/dev/null \
  && ! (exec 3<>/dev/tcp/127.0.0.1/5552) 2>/dev/null; then
  rabbitmq-plugins enable --quiet rabbitmq_stream >/dev/null 2>&1 \
    || echo "note: could not enable rabbitmq_stream; reads use AMQP, its test part is skipped" >&2
  for _ in $(seq 1 20); do
    (exec 3<>/dev/tcp/127.0.0.1/5552) 2>/dev/null && break
    sleep 0.5
  done
fi
cargo test --locked "$@"
