#!/usr/bin/env python3
"""`make bench`: dispatch-due speed at scale, each figure against a baseline measured in the
same run (the machine is shared and noisy, so every timing is a median of repeated runs).

    python3 Benchmarks/bench.py --bin .build-bench/release [--quick] [--only idle,explain,...]

It starts its own PostgreSQL cluster (`scripts/local-db.sh start bench`: fsync=off,
synchronous_commit=off, full_page_writes=off, shared_buffers=256MB, Unix socket only) with
pg_stat_statements loaded, and its own stand-in endpoint (`agents-api-standin --port 0`).
The report (Markdown) is printed and written to --report.
"""

import argparse
import json
import os
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CLUSTER = "bench"
API_KEY = "bench-key-not-secret"


# ---------------------------------------------------------------- processes and timing

class Measured:
    def __init__(self, wall, max_rss_kb, code, stdout, stderr):
        self.wall = wall
        self.max_rss_kb = max_rss_kb
        self.code = code
        self.stdout = stdout
        self.stderr = stderr


def measured(argv, env=None, stdin=None):
    """Runs argv to completion: wall seconds (fork to reaped) and peak RSS from wait4's rusage."""
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        start = time.perf_counter()
        process = subprocess.Popen(argv, stdout=out, stderr=err, stdin=stdin or subprocess.DEVNULL,
                                   env=env)
        _, status, usage = os.wait4(process.pid, 0)
        wall = time.perf_counter() - start
        process.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        return Measured(wall, usage.ru_maxrss, process.returncode,
                        out.read().decode(errors="replace"), err.read().decode(errors="replace"))


def check(result, what):
    if result.code != 0:
        sys.exit(f"bench: {what} failed with exit {result.code}\n{result.stdout[-2000:]}\n{result.stderr[-4000:]}")
    return result


def median(values):
    return statistics.median(values)


def fmt_ms(seconds):
    return f"{seconds * 1000:.1f} ms"


# ---------------------------------------------------------------- the bench cluster

class Cluster:
    def __init__(self, bin_dir):
        self.bin_dir = bin_dir
        self.script = os.path.join(REPO, "scripts/local-db.sh")
        self.pg_bin = sorted(os.listdir("/usr/lib/postgresql"), key=lambda v: [int(p) for p in v.split(".")])[-1]
        self.pg_bin = f"/usr/lib/postgresql/{self.pg_bin}/bin"

    def start(self):
        subprocess.run([self.script, "start", CLUSTER], check=True)
        admin = self.admin_url()
        loaded = self.psql(admin, "SHOW shared_preload_libraries").strip()
        if "pg_stat_statements" not in loaded:
            # Statement counts per batch (the closing log line does not carry them).
            self.psql(admin, "ALTER SYSTEM SET shared_preload_libraries = 'pg_stat_statements'")
            self.stop()
            subprocess.run([self.script, "start", CLUSTER], check=True)

    def stop(self):
        subprocess.run([self.script, "stop", CLUSTER], check=True)

    def admin_url(self):
        return subprocess.run([self.script, "admin-url", CLUSTER], check=True, capture_output=True,
                              text=True).stdout.strip()

    def url(self, database):
        return re.sub(r"dbname=\S+", f"dbname={database}", self.admin_url())

    def psql(self, url, sql, *extra):
        result = subprocess.run(["psql", url, "-X", "-q", "-At", "-v", "ON_ERROR_STOP=1", *extra, "-c", sql],
                                capture_output=True, text=True)
        if result.returncode != 0:
            sys.exit(f"bench: psql failed: {sql[:200]}\n{result.stderr}")
        return result.stdout

    def psql_file(self, url, path):
        return check(measured(["psql", url, "-X", "-q", "-At", "-v", "ON_ERROR_STOP=1", "-f", path]),
                     f"psql -f {path}")

    def fresh_database(self, name):
        admin = self.admin_url()
        self.psql(admin, f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        self.psql(admin, f"CREATE DATABASE {name}")
        url = self.url(name)
        check(measured([f"{self.bin_dir}/dispatch-due", "migrate"], env=dict(os.environ, DATABASE_URL=url)),
              f"migrate {name}")
        self.psql(url, "CREATE EXTENSION IF NOT EXISTS pg_stat_statements")
        return url

    def drop_database(self, name):
        self.psql(self.admin_url(), f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


# Triggers spread over ten tenants. Idle: one daily slot each, spread over the next 24 h
# (minute i % 60, hour (i / 60) % 24), so none is due. Due: yearly, next_run_at this year's
# Jan 1 00:00 UTC, so each fires exactly that one slot and moves a year on, whenever the run
# happens (a per-minute schedule would fire a second slot when a run crosses a minute).
IDLE_TRIGGERS = """
INSERT INTO scheduled_triggers (tenant_id, id, project_id, agent_id, name, cron_expression, payload, next_run_at)
SELECT 'tenant-' || (i % 10), 'trigger-' || i, 'project-' || (i % 100), 'agent-' || (i % 7), 'bench ' || i,
       (i % 60) || ' ' || ((i / 60) % 24) || ' * * *',
       jsonb_build_object('n', i),
       CASE WHEN s > now() THEN s ELSE s + interval '1 day' END
FROM generate_series(1, {count}) AS i,
     LATERAL (SELECT date_trunc('day', now()) + make_interval(hours => (i / 60) % 24, mins => i % 60) AS s) AS slot;
"""

DUE_TRIGGERS = """
INSERT INTO scheduled_triggers (tenant_id, id, project_id, agent_id, name, cron_expression, payload, next_run_at)
SELECT 'tenant-' || (i % 10), 'trigger-' || i, 'project-' || (i % 100), 'agent-' || (i % 7), 'bench ' || i,
       '0 0 1 1 *', jsonb_build_object('n', i), date_trunc('year', now() AT TIME ZONE 'UTC') AT TIME ZONE 'UTC'
FROM generate_series(1, {count}) AS i;
"""

# A history of finished runs, so the invocation queries are measured on a table that is not
# empty: one completed invocation per trigger, an hour ago.
HISTORY = """
INSERT INTO scheduled_trigger_invocations
    (tenant_id, id, project_id, agent_id, scheduled_trigger_id, ref, status, scheduled_for,
     idempotency_key, execution_id, started_at, completed_at)
SELECT tenant_id, gen_random_uuid()::text, project_id, agent_id, id, ref, 'completed',
       date_trunc('minute', now()) - interval '1 hour',
       'sched_' || id || '_' || to_char((date_trunc('minute', now()) - interval '1 hour') AT TIME ZONE 'UTC',
                                        'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"'),
       'run-' || id, now() - interval '1 hour', now() - interval '59 minutes'
FROM scheduled_triggers;
"""


def load(cluster, name, count, due=False, history=False):
    url = cluster.fresh_database(name)
    cluster.psql(url, (DUE_TRIGGERS if due else IDLE_TRIGGERS).format(count=count))
    if history:
        cluster.psql(url, HISTORY)
    cluster.psql(url, "VACUUM ANALYZE")
    return url


# ---------------------------------------------------------------- stand-in endpoint

class StandIn:
    """agents-api-standin on a free loopback port, recording every POST to a file."""

    def __init__(self, bin_dir, mode=None):
        self.record = tempfile.NamedTemporaryFile(prefix="dd-bench-record-", delete=False).name
        argv = [f"{bin_dir}/agents-api-standin", "--port", "0", "--record", self.record]
        if mode:
            argv += ["--post-answer", mode]
        self.process = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        line = self.process.stdout.readline()
        match = re.search(r"(\d+)", line)
        if not match:
            self.process.kill()
            sys.exit(f"bench: the stand-in did not print its port: {line!r}")
        self.port = int(match.group(1))
        self.url = f"http://127.0.0.1:{self.port}"

    def keys(self):
        """Idempotency-Key of every POST recorded so far, in order."""
        keys = []
        with open(self.record) as file:
            for line in file:
                line = line.strip()
                if not line:
                    continue
                entry = json.loads(line)
                if entry.get("method") != "POST" or entry.get("path") != "/run/api/executions":
                    continue
                headers = {k.lower(): v for k, v in entry.get("headers", {}).items()}
                key = headers.get("idempotency-key") or entry.get("idempotencyKey") or entry.get("idempotency_key")
                if key:
                    keys.append(key)
        return keys

    def stop(self):
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        os.unlink(self.record)


def dispatcher_env(url, endpoint=None):
    env = dict(os.environ, DATABASE_URL=url)
    env.pop("AGENTS_API_KEY_FILE", None)
    if endpoint:
        env["AGENTS_API_URL"] = endpoint
        env["AGENTS_API_KEY"] = API_KEY
    return env


# ---------------------------------------------------------------- sections

class Report:
    def __init__(self):
        self.rows = []      # (figure, value, baseline, ratio, target, met)
        self.sections = []  # (title, markdown)

    def row(self, figure, value, baseline, ratio, target, met):
        self.rows.append((figure, value, baseline, ratio, target, met))
        print(f"  {figure}: {value} | baseline {baseline} | {ratio} | target {target} {'met' if met else 'MISSED' if met is not None else ''}",
              flush=True)

    def section(self, title, text):
        self.sections.append((title, text))

    def markdown(self, header):
        lines = [header, "", "| figure | value | baseline (same run) | ratio | target | met |",
                 "| --- | --- | --- | --- | --- | --- |"]
        for figure, value, baseline, ratio, target, met in self.rows:
            verdict = "—" if met is None else ("yes" if met else "**no**")
            lines.append(f"| {figure} | {value} | {baseline} | {ratio} | {target} | {verdict} |")
        for title, text in self.sections:
            lines += ["", f"### {title}", "", text]
        return "\n".join(lines) + "\n"


def idle_cycle(bin_dir, url, endpoint, repeats):
    """Medians of: dispatch-due run, psql select 1, dispatch-due --version; interleaved."""
    dd, psql, version, rss, inner = [], [], [], [], []
    env = dispatcher_env(url, endpoint)
    for index in range(repeats + 2):
        run = check(measured([f"{bin_dir}/dispatch-due", "run"], env=env), "idle dispatch-due run")
        floor = check(measured(["psql", url, "-X", "-Atc", "select 1"]), "psql select 1")
        start = check(measured([f"{bin_dir}/dispatch-due", "--version"]), "dispatch-due --version")
        if index < 2:
            continue  # warm-up: page cache, catalog caches
        finished = [json.loads(l) for l in run.stderr.splitlines() if '"cycle.finished"' in l]
        if not finished or finished[-1].get("recorded", 0) != 0:
            sys.exit(f"bench: the idle cycle recorded something or did not finish:\n{run.stderr[-2000:]}")
        dd.append(run.wall)
        psql.append(floor.wall)
        version.append(start.wall)
        rss.append(run.max_rss_kb)
        inner.append(finished[-1]["duration_seconds"])
    return {"run": median(dd), "psql": median(psql), "version": median(version),
            "rss_kb": max(rss), "rss_median_kb": median(rss), "cycle": median(inner),
            "psql_rss_kb": None}


def section_idle(cluster, bin_dir, endpoint, report, repeats, sizes):
    results = {}
    for count in sizes:
        name = f"bench_idle_{count}"
        print(f"idle: loading {count} triggers", flush=True)
        url = load(cluster, name, count)
        results[count] = idle_cycle(bin_dir, url, endpoint, repeats)
        r = results[count]
        print(f"  {count}: run {fmt_ms(r['run'])} psql {fmt_ms(r['psql'])} --version {fmt_ms(r['version'])} "
              f"cycle {fmt_ms(r['cycle'])} rss {r['rss_kb']} KB", flush=True)
        if count != sizes[-1]:
            cluster.drop_database(name)
    r = results[100_000]
    ratio = r["run"] / r["psql"]
    report.row("idle cycle, 100,000 triggers: wall time (median of %d)" % repeats, fmt_ms(r["run"]),
               f"psql -Atc 'select 1': {fmt_ms(r['psql'])}", f"{ratio:.2f}×", "≤ 0.7×", ratio <= 0.7)
    report.row("idle cycle, 100,000 triggers: peak RSS (max of %d)" % repeats, f"{r['rss_kb'] / 1024:.1f} MB",
               "—", "—", "< 20 MB", r["rss_kb"] < 20 * 1024)
    report.row("idle cycle: process start only (`dispatch-due --version`)", fmt_ms(r["version"]),
               f"psql: {fmt_ms(r['psql'])}", f"{r['version'] / r['psql']:.2f}×", "(diagnostic)", None)
    report.row("idle cycle: time inside the cycle (`duration_seconds` of cycle.finished)", fmt_ms(r["cycle"]),
               f"wall: {fmt_ms(r['run'])}", f"{r['cycle'] / r['run']:.2f} of wall", "(diagnostic)", None)
    small, large = results.get(10_000), results.get(1_000_000)
    if small and large:
        ratio = large["run"] / small["run"]
        report.row("table size: idle cycle 1,000,000 vs 10,000 triggers", fmt_ms(large["run"]),
                   f"10,000 triggers: {fmt_ms(small['run'])}", f"{ratio:.2f}×", "≤ 1.3×", ratio <= 1.3)
        ratio = large["cycle"] / max(small["cycle"], 1e-6)
        report.row("table size: time inside the cycle, 1,000,000 vs 10,000", fmt_ms(large["cycle"]),
                   f"10,000 triggers: {fmt_ms(small['cycle'])}", f"{ratio:.2f}×", "(diagnostic)", None)
    return results


def swift_string(source_path, name):
    """The text of a `static let NAME = \"\"\" … \"\"\"` in a Swift file (so the plans follow the code)."""
    text = open(os.path.join(REPO, source_path)).read()
    match = re.search(r'static let ' + name + r' = """\n(.*?)\n\s*"""', text, re.S)
    if not match:
        return None
    lines = match.group(1).split("\n")
    indent = min(len(l) - len(l.lstrip()) for l in lines if l.strip())
    return "\n".join(l[indent:] for l in lines)


def explain(cluster, url, title, setup, sql, types, arguments):
    declared = f"({', '.join(types)})" if types else ""
    passed = f"({', '.join(arguments)})" if arguments else ""
    script = f"BEGIN;\n{setup}\nPREPARE q{declared} AS\n{sql};\n" \
             f"EXPLAIN (ANALYZE, BUFFERS, COSTS OFF) EXECUTE q{passed};\nROLLBACK;\n"
    with tempfile.NamedTemporaryFile("w", suffix=".sql", delete=False) as file:
        file.write(script)
    try:
        plan = cluster.psql_file(url, file.name).stdout.strip()
    finally:
        os.unlink(file.name)
    return f"{title}\n\n```sql\n{sql}\n```\n\n```\n{plan}\n```"


def section_explain(cluster, url, report):
    """Plans on the 1,000,000-trigger database (which also holds 1,000,000 finished invocations)."""
    dispatch = "Sources/DispatchDue/Dispatch/DispatchStage.swift"
    parts = []
    select_due = swift_string(dispatch, "selectDue")
    parts.append(explain(cluster, url, "Claim, nothing due (the idle cycle):", "",
                         select_due + "\nFOR UPDATE OF t SKIP LOCKED", ["int", "text[]", "text[]"],
                         ["500", "'{}'", "'{}'"]))
    parts.append(explain(
        cluster, url, "Claim, 5,000 of the 1,000,000 due (made due inside the transaction, rolled back):",
        "UPDATE scheduled_triggers SET next_run_at = now() - interval '1 minute' "
        "WHERE id IN (SELECT 'trigger-' || i FROM generate_series(1, 1000000, 200) AS i);\nANALYZE scheduled_triggers;",
        select_due + "\nFOR UPDATE OF t SKIP LOCKED", ["int", "text[]", "text[]"], ["500", "'{}'", "'{}'"]))
    parts.append(explain(cluster, url, "Heal, nothing unscheduled:", "",
                         swift_string(dispatch, "selectUnscheduled") + "\nFOR UPDATE OF t SKIP LOCKED",
                         ["int"], ["500"]))
    queries = execution_queries()
    for name, title, sql, types, arguments in queries:
        parts.append(explain(cluster, url, title + ", nothing runnable (1,000,000 completed invocations):",
                             "", sql, types, arguments))
        if name == "claimRuns":
            parts.append(explain(
                cluster, url, title + ", 1,000 pending among 1,000,000 invocations (made pending, rolled back):",
                "UPDATE scheduled_trigger_invocations SET status = 'pending', execution_id = NULL, completed_at = NULL "
                "WHERE scheduled_trigger_id IN (SELECT 'trigger-' || i FROM generate_series(1, 1000000, 1000) AS i);\n"
                "ANALYZE scheduled_trigger_invocations;",
                sql, types, arguments))
    if not queries:
        parts.append("Execution-stage queries: not found in Sources/DispatchDue/Execution/ExecutionStore.swift.")
    report.section("EXPLAIN (ANALYZE, BUFFERS) on 1,000,000 triggers", "\n\n".join(parts))


def swift_query_in_function(source_path, name):
    """The first triple-quoted SQL string inside `static func NAME` of a Swift file."""
    text = open(os.path.join(REPO, source_path)).read()
    start = text.find("static func " + name + "(")
    if start < 0:
        return None
    match = re.compile(r'"""\n(.*?)\n\s*"""', re.S).search(text, start)
    if not match:
        return None
    lines = match.group(1).split("\n")
    indent = min(len(l) - len(l.lstrip()) for l in lines if l.strip())
    return "\n".join(l[indent:] for l in lines)


def execution_queries():
    """The execution stage's queries (inline in ExecutionStore), with parameter types and bench
    arguments: the work check of every cycle, the runnable-invocation claim (claimSize 32, lease
    4 × 30 s + 10 s) and the reconcile claim."""
    path = "Sources/DispatchDue/Execution/ExecutionStore.swift"
    if not os.path.exists(os.path.join(REPO, path)):
        return []
    found = []
    for name, title, types, arguments in (
            ("hasWork", "Work check (`ExecutionStore.hasWork`)", [], []),
            ("claimRuns", "Runnable-invocation claim (`ExecutionStore.claimRuns`)", ["int", "text"], ["32", "'130'"]),
            ("claimChecks", "Reconcile claim (`ExecutionStore.claimChecks`)", ["int", "text"], ["32", "'30'"])):
        sql = swift_query_in_function(path, name)
        if sql:
            found.append((name, title, sql, types, arguments))
    return found


def due_run(cluster, bin_dir, name, count, copies, endpoint_mode=None, record_only=False, statements=False,
            inspect=None):
    """`copies` dispatchers started together over `count` due triggers; returns timings and checks."""
    url = load(cluster, name, count, due=True)
    standin = None if record_only else StandIn(bin_dir, endpoint_mode)
    try:
        env = dispatcher_env(url, None if standin is None else standin.url)
        cluster.psql(url, "SELECT pg_stat_statements_reset()")
        argv = [f"{bin_dir}/dispatch-due", "run"] + (["--record-only"] if record_only else [])
        outs = [tempfile.TemporaryFile() for _ in range(copies)]
        start = time.perf_counter()
        processes = [subprocess.Popen(argv, env=env, stdout=subprocess.DEVNULL, stderr=out) for out in outs]
        rss, codes = [], []
        for process in processes:
            _, status, usage = os.wait4(process.pid, 0)
            codes.append(os.waitstatus_to_exitcode(status))
            rss.append(usage.ru_maxrss)
        wall = time.perf_counter() - start
        logs = []
        for out in outs:
            out.seek(0)
            logs.append(out.read().decode(errors="replace"))
            out.close()
        if any(codes):
            sys.exit(f"bench: a dispatcher exited {codes}:\n" + "\n".join(l[-2000:] for l in logs))
        summary = cluster.psql(url, """
            SELECT count(*), count(DISTINCT (tenant_id, idempotency_key)),
                   count(*) FILTER (WHERE status IN ('running', 'completed')),
                   count(*) FILTER (WHERE status = 'pending'),
                   (SELECT count(*) FROM scheduled_triggers WHERE next_run_at <= now())
            FROM scheduled_trigger_invocations""").strip().split("|")
        invocations, distinct, accepted, pending, still_due = map(int, summary)
        posted = standin.keys() if standin else []
        stats = statement_counts(cluster, url) if statements else None
        if inspect:
            inspect(url)
        result = {"wall": wall, "rss_kb": max(rss), "invocations": invocations, "distinct": distinct,
                  "accepted": accepted, "pending": pending, "still_due": still_due,
                  "posts": len(posted), "distinct_posts": len(set(posted)), "stats": stats, "logs": logs}
        return result
    finally:
        if standin:
            standin.stop()
        cluster.drop_database(name)


def statement_counts(cluster, url):
    """Statements executed in the bench database since the reset, grouped by kind."""
    rows = cluster.psql(url, """
        SELECT calls, regexp_replace(left(query, 60), '\\s+', ' ', 'g')
        FROM pg_stat_statements JOIN pg_database d ON d.oid = dbid
        WHERE d.datname = current_database() AND query NOT LIKE '%pg_stat_statements%'
        ORDER BY calls DESC""")
    table = []
    for line in rows.strip().splitlines():
        calls, query = line.split("|", 1)
        table.append((int(calls), query))
    return table


def section_throughput(cluster, bin_dir, report, count, repeats):
    walls, rsses, last = [], [], None
    for index in range(repeats):
        print(f"throughput: run {index + 1}/{repeats} over {count} due triggers", flush=True)
        inspect = (lambda url: section_after_burst(cluster, url, report)) if index == repeats - 1 else None
        r = due_run(cluster, bin_dir, "bench_throughput", count, 1, statements=True, inspect=inspect)
        expect_exactly_once(r, count, "throughput")
        walls.append(r["wall"])
        rsses.append(r["rss_kb"])
        last = r
    floors, sql_parts, curl_parts = [], [], []
    for index in range(repeats):
        print(f"throughput floor: run {index + 1}/{repeats}", flush=True)
        sql_time, curl_time = floor_run(cluster, bin_dir, count)
        floors.append(sql_time + curl_time)
        sql_parts.append(sql_time)
        curl_parts.append(curl_time)
    wall, floor = median(walls), median(floors)
    rate = count / wall
    report.row(f"throughput: {count:,} due triggers, one `dispatch-due run`, recorded + posted + accepted "
               f"(median of {repeats})", f"{rate:,.0f} triggers/s ({fmt_ms(wall)})",
               f"psql script + curl --parallel-max 16: {fmt_ms(floor)} "
               f"(SQL {fmt_ms(median(sql_parts))}, POSTs {fmt_ms(median(curl_parts))})",
               f"{wall / floor:.2f}× the floor", "≥ 3,000/s and ≤ 2× floor", rate >= 3000 and wall <= 2 * floor)
    report.row("throughput: peak RSS", f"{max(rsses) / 1024:.1f} MB", "—", "—", "(reported)", None)
    stats = last["stats"]
    total = sum(c for c, _ in stats)
    lines = [f"{total} statements for {count} triggers ({total / count:.3f} per trigger); "
             "pg_stat_statements of the last run, by calls:", "", "| calls | statement (first 60 characters) |",
             "| --- | --- |"]
    lines += [f"| {c} | `{q.replace('|', '¦')}` |" for c, q in stats]
    report.section("Statements of one throughput run", "\n".join(lines))
    return wall


def section_after_burst(cluster, url, report):
    """Plans of the execution stage's statements right after a burst: every invocation is
    `running` (accepted, waiting for its status check), and the statistics are those taken
    before the burst, as they would be in production when a popular slot fires."""
    path = "Sources/DispatchDue/Execution/ExecutionStore.swift"
    parts = []
    claim = swift_query_in_function(path, "claimRuns")
    if claim:
        parts.append(explain(cluster, url, "Runnable-invocation claim with 10,000 running:", "", claim,
                             ["int", "text"], ["32", "'130'"]))
    record = swift_query_in_function(path, "record")
    if record and record.count("$") >= 10:
        rows = cluster.psql(url, "SELECT tenant_id, id, lease_expires_at::text FROM scheduled_trigger_invocations "
                                 "WHERE status = 'running' ORDER BY random() LIMIT 20").strip().splitlines()
        columns = list(zip(*[r.split("|") for r in rows]))

        def array(values, kind="text"):
            return "ARRAY[" + ", ".join("'" + v.replace("'", "''") + "'" for v in values) + f"]::{kind}[]"
        n = len(rows)
        arguments = [array(columns[0]), array(columns[1]), array(columns[2]), array(["accepted"] * n),
                     array(["running"] * n), array(["200"] * n, "int"), f"array_fill(NULL::text, ARRAY[{n}])",
                     array([f"run-again-{i}" for i in range(n)]), array(["30"] * n, "float8"),
                     f"array_fill(NULL::text, ARRAY[{n}])"]
        types = ["text[]", "text[]", "text[]", "text[]", "text[]", "int[]", "text[]", "text[]", "float8[]", "text[]"]
        parts.append(explain(cluster, url, "Recording 20 POST answers (`ExecutionStore.record`) with 10,000 running:",
                             "", record, types, arguments))
    if parts:
        report.section("EXPLAIN (ANALYZE, BUFFERS) right after the 10,000-trigger burst", "\n\n".join(parts))


def expect_exactly_once(r, count, what):
    problems = []
    if r["invocations"] != count or r["distinct"] != count:
        problems.append(f"{r['invocations']} invocations, {r['distinct']} distinct keys, expected {count}")
    if r["accepted"] != count:
        problems.append(f"{r['accepted']} running/completed, expected {count} (pending: {r['pending']})")
    if r["posts"] != count or r["distinct_posts"] != count:
        problems.append(f"{r['posts']} POSTs with {r['distinct_posts']} distinct Idempotency-Keys, expected {count}")
    if r["still_due"]:
        problems.append(f"{r['still_due']} triggers still due")
    if problems:
        finished = [l for log in r["logs"] for l in log.splitlines() if '"cycle.finished"' in l]
        sys.exit(f"bench: {what}: " + "; ".join(problems) + "\n" + "\n".join(finished))


# The floor: the same SQL work as a cycle (claim 500 due triggers, insert their invocations,
# advance them; then claim runnable invocations 32 at a time and mark them running; then
# record each answer), done by one psql session, plus the same POSTs sent by curl.
FLOOR_RECORD_BATCH = """
BEGIN;
CREATE TEMP TABLE claimed ON COMMIT DROP AS
SELECT t.tenant_id, t.id, t.project_id, t.agent_id, t.ref, t.payload, t.next_run_at
FROM scheduled_triggers t WHERE t.enabled AND t.next_run_at <= now()
ORDER BY t.next_run_at LIMIT 500 FOR UPDATE OF t SKIP LOCKED;
INSERT INTO scheduled_trigger_invocations
    (tenant_id, id, project_id, agent_id, scheduled_trigger_id, ref, status, scheduled_for, idempotency_key, resolved_payload)
SELECT tenant_id, gen_random_uuid()::text, project_id, agent_id, id, ref, 'pending', next_run_at,
       'sched_' || id || '_' || to_char(next_run_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"'), payload
FROM claimed ON CONFLICT (tenant_id, idempotency_key) DO NOTHING;
UPDATE scheduled_triggers t SET next_run_at = c.next_run_at + interval '1 year'
FROM claimed c WHERE t.tenant_id = c.tenant_id AND t.id = c.id;
COMMIT;
"""

FLOOR_CLAIM_BATCH = """
BEGIN;
UPDATE scheduled_trigger_invocations i SET status = 'running', lease_expires_at = now() + interval '130 seconds'
FROM (SELECT tenant_id, id FROM scheduled_trigger_invocations
      WHERE status = 'pending' AND coalesce(next_attempt_at, created_at) <= now()
      ORDER BY coalesce(next_attempt_at, created_at) LIMIT 32 FOR UPDATE SKIP LOCKED) c
WHERE i.tenant_id = c.tenant_id AND i.id = c.id;
COMMIT;
"""

FLOOR_ANSWERS = """
UPDATE scheduled_trigger_invocations SET execution_id = 'run-' || id, started_at = now(),
       lease_expires_at = now() + interval '30 seconds', last_http_status = 200
WHERE status = 'running';
"""


def floor_run(cluster, bin_dir, count):
    url = load(cluster, "bench_floor", count, due=True)
    standin = StandIn(bin_dir, "accept-no-run-id")
    try:
        batches = (count + 499) // 500
        claims = (count + 31) // 32
        with tempfile.NamedTemporaryFile("w", suffix=".sql", delete=False) as script:
            script.write(FLOOR_RECORD_BATCH * batches + FLOOR_CLAIM_BATCH * claims + FLOOR_ANSWERS)
        sql = cluster.psql_file(url, script.name)
        os.unlink(script.name)
        rows = cluster.psql(url, "SELECT tenant_id, idempotency_key, project_id, agent_id "
                                 "FROM scheduled_trigger_invocations").strip().splitlines()
        if len(rows) != count:
            sys.exit(f"bench: the floor's SQL recorded {len(rows)} invocations, expected {count}")
        with tempfile.NamedTemporaryFile("w", suffix=".curl", delete=False) as config:
            for index, line in enumerate(rows):
                if index:
                    config.write("next\n")  # options after `next` apply to the next URL only
                tenant, key, project, agent = line.split("|")
                body = json.dumps({"messages": [{"role": "user", "content": "{\"n\":1}"}],
                                   "forwardedHeaders": {"x-inkeep-client-timezone": "UTC",
                                                        "x-inkeep-client-timestamp": "2026-01-01T00:00:00.000Z"}})
                config.write(f'url = "{standin.url}/run/api/executions?ref=main"\n'
                             f'header = "Authorization: Bearer {API_KEY}"\n'
                             f'header = "x-inkeep-tenant-id: {tenant}"\nheader = "x-inkeep-project-id: {project}"\n'
                             f'header = "x-inkeep-agent-id: {agent}"\nheader = "Idempotency-Key: {key}-1"\n'
                             f'header = "Content-Type: application/json"\nheader = "Accept: text/event-stream"\n'
                             f'data = {json.dumps(body)}\noutput = "/dev/null"\n')
        posts = check(measured(["curl", "--no-progress-meter", "--fail", "--parallel", "--parallel-max", "16",
                                "--config", config.name]), "curl --parallel")
        os.unlink(config.name)
        if len(standin.keys()) != count:
            sys.exit(f"bench: curl posted {len(standin.keys())} of {count}")
        return sql.wall, posts.wall
    finally:
        standin.stop()
        cluster.drop_database("bench_floor")


def section_parallel(cluster, bin_dir, report, count, copies_list, record_only):
    times = {}
    for copies in copies_list:
        print(f"parallel: {copies} dispatcher(s) over {count} due triggers", flush=True)
        r = due_run(cluster, bin_dir, "bench_parallel", count, copies, record_only=record_only)
        if record_only:
            if r["invocations"] != count or r["distinct"] != count or r["still_due"]:
                sys.exit(f"bench: parallel {copies}: {r['invocations']} invocations, {r['distinct']} distinct")
            once = f"{r['distinct']:,} slots recorded once each"
        else:
            expect_exactly_once(r, count, f"parallel {copies}")
            once = f"{r['posts']:,} POSTs, {r['distinct_posts']:,} distinct Idempotency-Keys"
        times[copies] = r["wall"]
        base = times[copies_list[0]]
        report.row(f"parallel: {copies} `dispatch-due run`{' --record-only' if record_only else ''} over "
                   f"{count:,} due triggers", f"{fmt_ms(r['wall'])}; {once}",
                   f"1 copy: {fmt_ms(base)}", f"{r['wall'] / base:.2f}×", "each slot posted exactly once", True)
    return times


def section_cron(bin_dir, report, quick):
    result = check(measured([f"{bin_dir}/cron-bench"] + (["--quick"] if quick else [])), "cron-bench")
    report.section("cron-bench (next-slot computations, with in-run baselines)", "```\n" + result.stdout.strip() + "\n```")


def machine():
    cpu = "unknown"
    with open("/proc/cpuinfo") as file:
        for line in file:
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    with open("/proc/meminfo") as file:
        memory = int(file.readline().split()[1]) // 1024
    return f"{os.cpu_count()} CPUs ({cpu}), {memory:,} MB memory, {os.uname().release}"


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--bin", required=True, help="folder of the release build")
    parser.add_argument("--quick", action="store_true", help="fewer repetitions and smaller tables (a smoke run)")
    parser.add_argument("--only", default="idle,explain,throughput,parallel,cron")
    parser.add_argument("--report", default=os.path.join(REPO, "bench-results", "report.md"))
    parser.add_argument("--keep-cluster", action="store_true", help="leave the bench cluster running")
    args = parser.parse_args()
    only = set(args.only.split(","))
    bin_dir = os.path.abspath(args.bin)
    repeats = 7 if args.quick else 21
    cluster = Cluster(bin_dir)
    cluster.start()
    report = Report()
    started = time.time()
    try:
        sizes = [10_000, 100_000, 1_000_000] if not args.quick else [10_000, 100_000]
        endpoint = None
        standin = None
        if os.path.exists(f"{bin_dir}/agents-api-standin"):
            try:
                standin = StandIn(bin_dir)
                endpoint = standin.url
            except SystemExit as error:
                print(f"(no stand-in for the idle cycle: {error})")
        if "idle" in only:
            section_idle(cluster, bin_dir, endpoint, report, repeats, sizes)
        if standin:
            standin.stop()
        if "explain" in only:
            name = f"bench_idle_{sizes[-1]}"
            url = cluster.url(name)
            if "idle" not in only:
                load(cluster, name, sizes[-1])
            print("explain: adding history (one finished invocation per trigger)", flush=True)
            cluster.psql(url, HISTORY)
            cluster.psql(url, "VACUUM ANALYZE")
            section_explain(cluster, url, report)
        cluster.drop_database(f"bench_idle_{sizes[-1]}")
        posting = has_execution_stage(bin_dir) and endpoint is not None
        if "throughput" in only:
            if posting:
                section_throughput(cluster, bin_dir, report, 10_000, 3 if args.quick else 5)
            else:
                print("throughput: skipped, the execution stage is not built yet")
        if "parallel" in only:
            section_parallel(cluster, bin_dir, report, 20_000, [1, 2, 4], record_only=not posting)
        if "cron" in only:
            section_cron(bin_dir, report, args.quick)
    finally:
        if not args.keep_cluster:
            cluster.stop()
    header = (f"## Results\n\nMachine: {machine()}. PostgreSQL cluster `bench` from scripts/local-db.sh "
              f"(fsync=off, synchronous_commit=off, full_page_writes=off; Unix socket). "
              f"Run took {time.time() - started:.0f} s{' (--quick)' if args.quick else ''}.")
    text = report.markdown(header)
    os.makedirs(os.path.dirname(os.path.abspath(args.report)), exist_ok=True)
    with open(args.report, "w") as file:
        file.write(text)
    print()
    print(text)


def has_execution_stage(bin_dir):
    """The execution stage is built when `run --help` lists --agents-api-url."""
    result = measured([f"{bin_dir}/dispatch-due", "run", "--help"])
    return "--agents-api-url" in result.stdout


if __name__ == "__main__":
    main()
