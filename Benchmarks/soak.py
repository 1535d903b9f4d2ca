#!/usr/bin/env python3
"""`make soak`: the long fault drill. Many cycles against one database while things break at
random moments, then the contract §2 guarantees are checked on what is left.

    python3 Benchmarks/soak.py --bin .build-bench/release [--cycles 60] [--triggers 400] [--seed N]

Each round starts 1–3 dispatchers (`run --request-timeout 1`: leases of 14 s) and, at random:
SIGKILLs some of them at a random moment; restarts PostgreSQL (its own cluster "soak",
scripts/local-db.sh) in the middle; switches the stand-in endpoint to answer 500, hang past
the timeout, close connections mid-answer, or stops it so connections are refused (it comes
back on the same port). Triggers fire every minute with policy `all`, so new slots keep
arriving. At the end the endpoint is healthy, clean cycles run until nothing is left, and:
  - nothing lost: every recorded slot is accepted (running with an execution id, or
    completed), and per trigger exactly the minutes [first slot, next_run_at) are recorded;
  - no slot recorded twice (unique per tenant and per trigger and slot);
  - a POST repeated only with the same Idempotency-Key: every key posted belongs to a
    recorded attempt (`{key}-{n}`, n ≤ attempt_number), and each current attempt was posted;
  - nothing stuck `running` without an execution past its lease.
"""

import argparse
import json
import os
import random
import re
import signal
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from bench import REPO, API_KEY  # noqa: E402

CLUSTER = "soak"
FAULTS = ["status:500", "hang", "close", "refuse"]


class Endpoint:
    """The stand-in on a fixed port, restartable (so `refuse` can stop it and bring it back)."""

    def __init__(self, bin_dir, record):
        self.bin_dir = bin_dir
        self.record = record
        self.port = 0
        self.process = None
        self.start("accept")

    def start(self, answer):
        argv = [f"{self.bin_dir}/agents-api-standin", "--port", str(self.port), "--record", self.record,
                "--post-answer", answer]
        for _ in range(50):
            self.process = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
            line = self.process.stdout.readline()
            if line.strip().isdigit():
                self.port = int(line)
                return
            self.process.wait()
            time.sleep(0.1)  # the port may still be held by the previous process
        sys.exit("soak: the stand-in would not start")

    @property
    def url(self):
        return f"http://127.0.0.1:{self.port}"

    def set(self, answer):
        if self.process is None:
            self.start(answer)
            return
        subprocess.run(["curl", "-s", "-o", "/dev/null", "-X", "POST",
                        f"{self.url}/_standin/mode?post={answer}"], check=True)

    def refuse(self):
        self.stop()

    def stop(self):
        if self.process:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait()
            self.process = None


def local_db(*arguments):
    return subprocess.run([os.path.join(REPO, "scripts/local-db.sh"), *arguments], check=True,
                          capture_output=True, text=True).stdout.strip()


def psql(url, sql):
    result = subprocess.run(["psql", url, "-X", "-q", "-At", "-v", "ON_ERROR_STOP=1", "-c", sql],
                            capture_output=True, text=True)
    if result.returncode != 0:
        raise RuntimeError(f"psql: {result.stderr.strip()}")
    return result.stdout.strip()


def dispatcher(bin_dir, url, endpoint, log):
    env = dict(os.environ, DATABASE_URL=url, AGENTS_API_URL=endpoint, AGENTS_API_KEY=API_KEY)
    env.pop("AGENTS_API_KEY_FILE", None)
    return subprocess.Popen([f"{bin_dir}/dispatch-due", "run", "--log-format", "json", "--request-timeout", "1",
                             "--batch-size", "50", "--concurrency", "8"],
                            env=env, stdout=subprocess.DEVNULL, stderr=log)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--bin", required=True)
    parser.add_argument("--cycles", type=int, default=60)
    parser.add_argument("--triggers", type=int, default=400)
    parser.add_argument("--seed", type=int, default=int(time.time()))
    args = parser.parse_args()
    rng = random.Random(args.seed)
    bin_dir = os.path.abspath(args.bin)
    print(f"soak: seed {args.seed}, {args.cycles} rounds, {args.triggers} triggers", flush=True)

    local_db("start", CLUSTER)
    admin = local_db("admin-url", CLUSTER)
    psql(admin, "DROP DATABASE IF EXISTS soak WITH (FORCE)")
    psql(admin, "CREATE DATABASE soak")
    url = re.sub(r"dbname=\S+", "dbname=soak", admin)
    subprocess.run([f"{bin_dir}/dispatch-due", "migrate"], env=dict(os.environ, DATABASE_URL=url), check=True,
                   capture_output=True)
    psql(url, f"""
        INSERT INTO scheduled_triggers
            (tenant_id, id, project_id, agent_id, name, cron_expression, misfire_policy, max_retries,
             retry_delay_seconds, next_run_at)
        SELECT 'tenant-' || (n % 5), 'trigger-' || n, 'project-1', 'agent-1', 'soak', '* * * * *', 'all', 10, 10,
               date_trunc('minute', now()) - interval '30 minutes'
        FROM generate_series(1, {args.triggers}) AS n""")
    first = psql(url, "SELECT min(next_run_at) FROM scheduled_triggers")
    record = os.path.join(REPO, "bench-results", "soak-requests.jsonl")
    os.makedirs(os.path.dirname(record), exist_ok=True)
    if os.path.exists(record):
        os.unlink(record)
    log = open(os.path.join(REPO, "bench-results", "soak-dispatchers.log"), "w")
    endpoint = Endpoint(bin_dir, record)
    tally = {"kills": 0, "restarts": 0, "faults": 0, "runs": 0, "exit": {}}
    started = time.time()
    try:
        for round_number in range(args.cycles):
            fault = rng.choice(FAULTS) if rng.random() < 0.3 else None
            if fault == "refuse":
                endpoint.refuse()
            elif fault:
                endpoint.set(fault)
            if fault:
                tally["faults"] += 1
            copies = rng.randint(1, 3)
            processes = [dispatcher(bin_dir, url, endpoint.url, log) for _ in range(copies)]
            tally["runs"] += copies
            time.sleep(rng.uniform(0, 1.5))
            if rng.random() < 0.15:
                local_db("stop", CLUSTER)
                local_db("start", CLUSTER)
                tally["restarts"] += 1
            for process in processes:
                if rng.random() < 0.5:
                    time.sleep(rng.uniform(0, 0.3))
                    if process.poll() is None:  # count only kills of a dispatcher still working
                        process.send_signal(signal.SIGKILL)
                        tally["kills"] += 1
            for process in processes:
                try:
                    code = process.wait(timeout=120)
                except subprocess.TimeoutExpired:
                    process.kill()
                    code = process.wait()
                tally["exit"][code] = tally["exit"].get(code, 0) + 1
            if fault:
                endpoint.set("accept")
            print(f"  round {round_number + 1}: {copies} dispatcher(s), fault {fault or '-'}; "
                  f"{psql(url, 'SELECT status, count(*) FROM scheduled_trigger_invocations GROUP BY 1 ORDER BY 1')!r}",
                  flush=True)

        # Healthy endpoint; clean cycles until nothing is left (leases are 14 s, retries
        # 10 s × 2^(n−1) × [1, 1.3], so this can take a few minutes after a late fault).
        endpoint.set("accept")
        deadline = time.time() + 600
        while time.time() < deadline:
            left = psql(url, """SELECT count(*) FROM scheduled_trigger_invocations
                                WHERE status = 'pending' OR (status = 'running' AND execution_id IS NULL)""")
            if left == "0":
                break
            subprocess.run([f"{bin_dir}/dispatch-due", "run", "--log-format", "json", "--request-timeout", "1"],
                           env=dict(os.environ, DATABASE_URL=url, AGENTS_API_URL=endpoint.url, AGENTS_API_KEY=API_KEY),
                           stdout=subprocess.DEVNULL, stderr=log)
            time.sleep(1)
        problems = check(url, record, first)
    finally:
        endpoint.stop()
        log.close()
        local_db("stop", CLUSTER)
    print(f"soak: {tally['runs']} dispatcher runs in {time.time() - started:.0f} s, {tally['kills']} SIGKILLs, "
          f"{tally['restarts']} PostgreSQL restarts, {tally['faults']} endpoint faults; exit codes {tally['exit']}")
    if problems:
        print("soak: FAILED\n  " + "\n  ".join(problems))
        sys.exit(1)
    print("soak: passed — nothing lost, nothing recorded twice, repeats only with the same key, nothing stuck")


def check(url, record, first):
    problems = []
    total, slots, keys = map(int, psql(url, """
        SELECT count(*), count(DISTINCT (tenant_id, scheduled_trigger_id, scheduled_for)),
               count(DISTINCT (tenant_id, idempotency_key)) FROM scheduled_trigger_invocations""").split("|"))
    if not (total == slots == keys):
        problems.append(f"{total} invocations, {slots} distinct slots, {keys} distinct keys")
    unfinished = psql(url, """SELECT count(*) FROM scheduled_trigger_invocations
        WHERE NOT (status = 'completed' OR (status = 'running' AND execution_id IS NOT NULL))""")
    if unfinished != "0":
        problems.append(f"{unfinished} invocations not accepted: " +
                        psql(url, "SELECT status, count(*) FROM scheduled_trigger_invocations GROUP BY 1"))
    gaps = psql(url, f"""
        SELECT count(*) FROM scheduled_triggers t
        WHERE (SELECT count(*) FROM scheduled_trigger_invocations i
               WHERE i.tenant_id = t.tenant_id AND i.scheduled_trigger_id = t.id)
              <> extract(epoch FROM t.next_run_at - '{first}'::timestamptz) / 60""")
    if gaps != "0":
        problems.append(f"{gaps} triggers whose recorded minutes are not exactly [first, next_run_at)")
    # Attempts: every posted key is a recorded attempt; the current attempt was posted.
    attempts = {}
    for line in psql(url, "SELECT idempotency_key, attempt_number FROM scheduled_trigger_invocations").splitlines():
        key, attempt = line.split("|")
        attempts[key] = int(attempt)
    posted = {}
    with open(record) as file:
        for line in file:
            entry = json.loads(line)
            if entry.get("method") != "POST" or entry.get("path") != "/run/api/executions":
                continue
            key = {k.lower(): v for k, v in entry["headers"].items()}.get("idempotency-key", "")
            posted[key] = posted.get(key, 0) + 1
    for key, count in posted.items():
        base, _, attempt = key.rpartition("-")
        if base not in attempts or not attempt.isdigit() or int(attempt) > attempts[base]:
            problems.append(f"POST with key {key} of no recorded attempt")
    never = [k for k, a in attempts.items() if f"{k}-{a}" not in posted]
    if never:
        problems.append(f"{len(never)} current attempts never posted, e.g. {never[:3]}")
    repeats = sum(c - 1 for c in posted.values() if c > 1)
    print(f"soak: {total} slots recorded, {sum(posted.values())} POSTs, {repeats} repeats of an attempt "
          f"(same Idempotency-Key; crashes and restarts between accept and record)")
    return problems


if __name__ == "__main__":
    main()
