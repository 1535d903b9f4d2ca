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

# A new database gets two demo triggers, so the first `make run` shows a whole cycle:
# a one-time run due now (recorded and posted in this cycle) and a weekday-morning schedule
# (healed to its next slot). Nothing is added once any trigger exists.
if [ "$("$bin/dispatch-due" triggers list --json | tr -d ' \n')" = "[]" ]; then
  echo "run-local: adding two demo triggers to the empty local database" >&2
  "$bin/dispatch-due" triggers add --tenant demo --id demo-now --project demo-project --agent reporting-agent \
    --name "Demo: one-time run, due now" --at "$(date -u +%Y-%m-%dT%H:%M:%SZ)" \
    --message 'Summarise {{topic}} for {{team.name}}' --payload '{"topic":"open incidents","team":{"name":"platform"}}' >/dev/null
  "$bin/dispatch-due" triggers add --tenant demo --id demo-weekdays --project demo-project --agent reporting-agent \
    --name "Demo: weekdays 09:00 Berlin" --cron '0 9 * * 1-5' --tz Europe/Berlin >/dev/null
fi

status=0
AGENTS_API_URL="http://127.0.0.1:$port" AGENTS_API_KEY="local-dummy-key" \
  AGENTS_API_KEY_FILE="" CREDENTIALS_DIRECTORY="" "$bin/dispatch-due" run || status=$?
echo "run-local: the stand-in received $(wc -l < "$record" 2>/dev/null || echo 0) request(s) so far; triggers now:" >&2
"$bin/dispatch-due" triggers list >&2 || true
exit "$status"
