#!/usr/bin/env bash
# One dispatch cycle against the local database (called by `make run`).
# Without AGENTS_API_URL it starts the agents API stand-in on a free loopback port, points
# the cycle at it with a dummy key, runs the cycle and stops the stand-in, so a new user sees
# a whole cycle (record, post, reconcile) work locally. Its requests go to .local/standin-requests.jsonl.
set -euo pipefail
bin=$1; db=$2
export DATABASE_URL="$db"

if [ -n "${AGENTS_API_URL:-}" ]; then
  exec "$bin/dispatch-due" run
fi

mkdir -p .local
record=.local/standin-requests.jsonl
ports=$(mktemp)
"$bin/agents-api-standin" --port 0 --record "$record" >"$ports" 2>&1 &
standin=$!
trap 'kill "$standin" 2>/dev/null || true; wait "$standin" 2>/dev/null || true; rm -f "$ports"' EXIT

port=""
for _ in $(seq 1 100); do
  port=$(head -n 1 "$ports" 2>/dev/null || true)
  [ -n "$port" ] && break
  kill -0 "$standin" 2>/dev/null || { cat "$ports" >&2; echo "run-local: the stand-in did not start" >&2; exit 1; }
  sleep 0.05
done
[ -n "$port" ] || { echo "run-local: the stand-in did not report its port" >&2; exit 1; }

echo "run-local: AGENTS_API_URL is unset; using the agents API stand-in on 127.0.0.1:$port (requests in $record)" >&2
status=0
AGENTS_API_URL="http://127.0.0.1:$port" AGENTS_API_KEY="local-dummy-key" \
  AGENTS_API_KEY_FILE="" CREDENTIALS_DIRECTORY="" "$bin/dispatch-due" run || status=$?
exit "$status"
