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
# Enables a RabbitMQ plugin where this user may and waits for its port (otherwise the tests
# that need it are skipped, and fail under CI=true).
enable_plugin() {
  local plugin=$1 port=$2
  command -v rabbitmq-plugins >/dev/null || return 0
  (exec 3<>/dev/tcp/127.0.0.1/"$port") 2>/dev/null && return 0
  rabbitmq-plugins enable --quiet "$plugin" >/dev/null 2>&1 \
    || { echo "note: could not enable $plugin; the tests that need it are skipped" >&2; return 0; }
  for _ in $(seq 1 20); do
    (exec 3<>/dev/tcp/127.0.0.1/"$port") 2>/dev/null && return 0
    sleep 0.5
  done
}
# `queues --management-url` is tested against RabbitMQ's management API, off in a plain
# install; stream queue reads go over the stream protocol (rabbitmq_stream) when it answers,
# and the tests check that they do.
enable_plugin rabbitmq_management 15672
enable_plugin rabbitmq_stream 5552
cargo test --locked "$@"
