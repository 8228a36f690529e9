#!/usr/bin/env bash
# CPU of `celtrace top` at a given event rate, live from a private redis-server, in a tmux
# window (a real terminal):
#
#   tests/scripts/bench_top.sh [RATE] [SECS]      (default 1000 events/s for 60 s)
#
# Measures top's CPU (utime + stime from /proc, as % of one core) idle with no events for
# 10 s, then over the last half of SECS while tests/scripts/top_load.py publishes RATE
# events/s; and its resident memory at the end. Needs redis-server, tmux and the test venv
# (tests/scripts/setup_venv.sh, for redis-py).
set -euo pipefail
cd "$(dirname "$0")/../.."
rate="${1:-1000}"
secs="${2:-60}"
py=target/celery-venv/bin/python
[ -x "$py" ] || tests/scripts/setup_venv.sh >/dev/null
cargo build --release --locked --quiet
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
dir=$(mktemp -d)
redis-server --port "$port" --bind 127.0.0.1 --save "" --appendonly no --dir "$dir" >/dev/null &
redis_pid=$!
sock="celtrace-bench-top-$$"
cleanup() { tmux -L "$sock" kill-server 2>/dev/null || true; kill "$redis_pid" 2>/dev/null || true; rm -rf "$dir"; }
trap cleanup EXIT
for _ in $(seq 1 50); do (exec 3<>/dev/tcp/127.0.0.1/"$port") 2>/dev/null && break; sleep 0.1; done
tmux -L "$sock" -f /dev/null new-session -d -x 120 -y 40 -s top \
  "env TERM=xterm-256color target/release/celtrace top -b redis://127.0.0.1:$port/0; sleep 600"
sleep 2
pid=$(pgrep -f "^target/release/celtrace top -b redis://127.0.0.1:$port/0" | head -1)
ticks() { awk '{print $14 + $15}' "/proc/$pid/stat"; }
hz=$(getconf CLK_TCK)
cpu_over() { # seconds -> % of one core
  local a b; a=$(ticks); sleep "$1"; b=$(ticks)
  python3 -c "print(f'{($b - $a) / $hz / $1 * 100:.1f}')"
}
echo "idle (no events), 10 s: $(cpu_over 10)% of one core"
"$py" tests/scripts/top_load.py --url "redis://127.0.0.1:$port/0" --rate "$rate" --secs "$secs" > "$dir/load.json" &
load_pid=$!
half=$(python3 -c "print($secs / 2)")
sleep "$half"
echo "at $rate events/s, last ${half} s of ${secs} s: $(cpu_over "$half")% of one core"
wait "$load_pid"
echo "published: $(cat "$dir/load.json")"
echo "top resident memory: $(awk '/VmRSS/ {print $2 / 1024 " MB"}' "/proc/$pid/status")"
tmux -L "$sock" capture-pane -p -t top | head -12
