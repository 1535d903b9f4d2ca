#!/usr/bin/env bash
# One dispatch cycle against the local database (called by `make run`).
set -euo pipefail
bin=$1; db=$2
export DATABASE_URL="$db"
"$bin/dispatch-due" run
