"""Parts `retention` and `herd` of `make bench` (issue 13): the cost of retention in the cycle, and
the top-of-the-hour herd with and without jitter. Called from bench.py's main; uses its helpers.

retention: 1,000,000 idle triggers (none due) with 10 finished invocations each (10,000,000), the
    oldest of each past the 30-day retention (1,000,000 expired, every one prunable: each trigger
    keeps 9 newer finished ones). Idle cycle `run --retention 0` against `run` (30 d, pruning at
    most ~0.5 s per cycle), the prune rate of `dispatch-due prune` over the rest, the steady
    state once nothing is expired, table and index sizes. --quick: 1/100 of the sizes.

herd: N triggers `M * * * *` all due at the same minute (the next minute boundary, so the slot is
    real and the database clock is never faked), posted through nginx (TLS, HTTP/2) to a stand-in
    answering after 200 ms, `dispatch-due run` default flags started by a timer: jitter 0 against
    jitter J. Each POST's accept time comes from the stand-in's request log; the histogram is per
    10 s bucket after the slot. Full: N 10,000, J 600 s, a cycle every 60 s (the shipped
    systemd timer's cadence), real time (~15 minutes). --quick (or DD_BENCH_HERD_SCALE=10): time
    scaled 1/10 (J 60 s, a cycle every 6 s, 1 s buckets standing for 10 s), N 1,000.
"""

import hashlib
import json
import os
import re
import statistics
import sys
import time

import bench
from bench import check, dispatcher_env, fmt_ms, measured, median, percentile, swift_string

# ---------------------------------------------------------------- retention

RETENTION_DB = "bench_retention"
PER_TRIGGER = 10

# Trigger n's invocation k (0..8) finished 1 h + 3k days + (n % 1440) min ago: all within 30 d.
# k = 9 finished 31 d + (n % 1440) min ago: past retention. 5% failed, the rest completed.
HISTORY_SQL = """
INSERT INTO scheduled_trigger_invocations
    (tenant_id, id, project_id, agent_id, scheduled_trigger_id, ref, status, scheduled_for,
     idempotency_key, execution_id, resolved_payload, started_at, completed_at, created_at, last_error)
SELECT t.tenant_id, gen_random_uuid()::text, t.project_id, t.agent_id, t.id, t.ref,
       CASE WHEN (t.n + k) % 20 = 0 THEN 'failed' ELSE 'completed' END,
       s.slot,
       'sched_' || t.id || '_' || to_char(s.slot AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"'),
       'run-' || t.id || '-' || k, t.payload, s.slot + interval '1 second', s.slot + interval '30 seconds',
       s.slot, CASE WHEN (t.n + k) % 20 = 0 THEN 'POST answered 500' END
FROM (SELECT tenant_id, id, project_id, agent_id, ref, payload, substr(id, 9)::int AS n
      FROM scheduled_triggers) AS t,
     generate_series(0, {per} - 1) AS k,
     LATERAL (SELECT date_trunc('minute', now()) - make_interval(mins => t.n % 1440)
                     - CASE WHEN k = {per} - 1 THEN interval '31 days'
                            ELSE interval '1 hour' + make_interval(days => 3 * k) END AS slot) AS s
"""

INV = "scheduled_trigger_invocations"

# Daily triggers as bench.IDLE_TRIGGERS, but each next slot at least 3 h ahead: loading 10,000,000
# rows takes minutes, and a slot coming due meanwhile would make the cycles record and post.
RETENTION_TRIGGERS = """
INSERT INTO scheduled_triggers (tenant_id, id, project_id, agent_id, name, cron_expression, payload, next_run_at)
SELECT 'tenant-' || (i % 10), 'trigger-' || i, 'project-' || (i % 100), 'agent-' || (i % 7), 'bench ' || i,
       (i % 60) || ' ' || ((i / 60) % 24) || ' * * *',
       jsonb_build_object('n', i),
       CASE WHEN s > now() + interval '3 hours' THEN s ELSE s + interval '1 day' END
FROM generate_series(1, {count}) AS i,
     LATERAL (SELECT date_trunc('day', now()) + make_interval(hours => (i / 60) % 24, mins => i % 60) AS s) AS slot;
"""


def load_history(cluster, url, triggers):
    """Triggers and their history, set-based; the invocation table's indexes and key constraints
    are dropped for the bulk insert and rebuilt from their own definitions (what a restore does)."""
    t0 = time.time()
    cluster.psql(url, RETENTION_TRIGGERS.format(count=triggers))
    constraints = [line.split("|", 1) for line in cluster.psql(url, f"""
        SELECT conname, pg_get_constraintdef(oid) FROM pg_constraint
        WHERE conrelid = '{INV}'::regclass AND contype IN ('p', 'u')""").splitlines() if line]
    names = {name for name, _ in constraints}
    indexes = [line.split("|", 1) for line in cluster.psql(url, f"""
        SELECT indexname, indexdef FROM pg_indexes WHERE tablename = '{INV}'""").splitlines() if line]
    indexes = [(name, sql) for name, sql in indexes if name not in names]
    drops = [f"DROP INDEX {name};" for name, _ in indexes] + \
            [f"ALTER TABLE {INV} DROP CONSTRAINT {name};" for name, _ in constraints]
    cluster.psql(url, "\n".join(drops))
    cluster.psql(url, HISTORY_SQL.format(per=PER_TRIGGER))
    t1 = time.time()
    rebuild = ["SET maintenance_work_mem = '1GB';"] + \
              [f"ALTER TABLE {INV} ADD CONSTRAINT {name} {sql};" for name, sql in constraints] + \
              [sql + ";" for _, sql in indexes]
    cluster.psql(url, "\n".join(rebuild))
    t2 = time.time()
    cluster.psql(url, "VACUUM ANALYZE")
    print(f"retention: loaded in {t1 - t0:.0f} s, indexes rebuilt in {t2 - t1:.0f} s, "
          f"VACUUM ANALYZE {time.time() - t2:.0f} s", flush=True)


def sizes(cluster, url):
    """Table (heap), each index, total; MB."""
    rows = cluster.psql(url, f"""
        SELECT c.relname, pg_relation_size(c.oid)
        FROM pg_class c JOIN pg_index i ON i.indexrelid = c.oid
        WHERE i.indrelid = '{INV}'::regclass ORDER BY 2 DESC""").splitlines()
    heap = int(cluster.psql(url, f"SELECT pg_relation_size('{INV}')").strip())
    total = int(cluster.psql(url, f"SELECT pg_total_relation_size('{INV}')").strip())
    mb = lambda b: f"{int(b) / 2**20:,.0f} MB"
    parts = ", ".join(f"{name.replace(INV + '_', '')} {mb(size)}" for name, size in (r.split("|") for r in rows if r)
                      if int(size) >= 2**20)
    return f"heap {mb(heap)}; total {mb(total)} (indexes: {parts})", total


def cycle(bin_dir, url, retention):
    """One `dispatch-due run` (retention None: the default 30 d): wall, inner duration, pruned."""
    argv = [f"{bin_dir}/dispatch-due", "run"] + ([] if retention is None else ["--retention", retention])
    # Nothing is due or pending, so nothing is posted: the endpoint is never contacted.
    run = check(measured(argv, env=dispatcher_env(url, "http://127.0.0.1:9")), "retention cycle")
    finished = [json.loads(l) for l in run.stderr.splitlines() if '"cycle.finished"' in l]
    pruned = [json.loads(l) for l in run.stderr.splitlines() if '"invocations.pruned"' in l]
    if not finished or finished[-1].get("recorded", 0) != 0:
        sys.exit(f"bench: the retention cycle recorded something or did not finish:\n{run.stderr[-2000:]}")
    return {"wall": run.wall, "inner": finished[-1].get("duration_seconds", 0.0),
            "pruned": finished[-1].get("pruned", 0), "batches": pruned[-1].get("batches", 0) if pruned else 0}


def expired_count(cluster, url):
    return int(cluster.psql(url, f"""
        SELECT count(*) FROM {INV} WHERE status IN ('completed', 'failed', 'cancelled', 'skipped')
          AND coalesce(completed_at, created_at) < now() - interval '30 days'""").strip())


def section_retention(cluster, bin_dir, report, quick):
    triggers = 10_000 if quick else 1_000_000
    total, expired = triggers * PER_TRIGGER, triggers
    repeats = 7
    cycles_measured = 3 if quick else 5
    where = f" [{cluster.label}]"
    print(f"retention{where}: {triggers:,} triggers, {total:,} finished invocations, {expired:,} past 30 d", flush=True)
    url = cluster.fresh_database(RETENTION_DB)
    try:
        load_history(cluster, url, triggers)
        found = expired_count(cluster, url)
        rows = int(cluster.psql(url, f"SELECT count(*) FROM {INV}").strip())
        if found != expired or rows != total:
            sys.exit(f"bench: retention data: {rows} rows, {found} expired; expected {total}, {expired}")
        size_before, _ = sizes(cluster, url)
        for _ in range(2):  # warm-up: page cache, catalog caches
            cycle(bin_dir, url, "0")
        idle = [cycle(bin_dir, url, "0") for _ in range(repeats)]
        idle_wall = median(c["wall"] for c in idle)
        # Pruning cycles, each followed by an idle one (a paired baseline on a noisy machine).
        pruning, paired = [], []
        for _ in range(cycles_measured):
            pruning.append(cycle(bin_dir, url, None))
            paired.append(cycle(bin_dir, url, "0"))
        extras = [p["wall"] - b["wall"] for p, b in zip(pruning, paired)]
        # Cycles that started with a backlog (in --quick the first batch may take it all).
        per_cycle = median([p["pruned"] for p in pruning if p["pruned"] > 0] or [0])
        left = expired_count(cluster, url)
        # One batch as the cycle runs it, rolled back (where a batch's time goes).
        plan = None
        expired_sql = swift_string("Sources/DispatchCore/Policies/Retention.swift", "expired")
        delete_sql = swift_string("Sources/DispatchCore/Policies/Retention.swift", "deleteBatch")
        sql = None
        if expired_sql and delete_sql:
            sql = delete_sql.replace("\\(expired)", expired_sql.replace("\n", "\n    ")).replace("\\\\", "\\")
        if sql and left > 0:
            plan = bench.explain(cluster, url, "One retention batch (10,000 rows, rolled back):", "", sql,
                                 ["float8", "int"], [str(30 * 86_400), "10000"])
        # One batch's time against its size (EXPLAIN ANALYZE, rolled back): what a per-cycle
        # budget can hold. Smallest first, so each one reads roughly the same pages.
        batch_times = {}
        if sql and left > 0:
            for limit in (1000, 2500, 5000, 10000):
                text = bench.explain(cluster, url, "", "", sql, ["float8", "int"], [str(30 * 86_400), str(limit)])
                found = re.search(r"Execution Time: ([0-9.]+) ms", text)
                if found:
                    batch_times[limit] = float(found.group(1))
        # The rest on demand.
        prune = check(measured([f"{bin_dir}/dispatch-due", "prune"], env=dispatcher_env(url)), "dispatch-due prune")
        deleted = int(prune.stdout.split()[1]) if prune.stdout.startswith("deleted") else 0
        remaining = expired_count(cluster, url)
        rows_after = int(cluster.psql(url, f"SELECT count(*) FROM {INV}").strip())
        size_after, _ = sizes(cluster, url)
        # Steady state: nothing expired any more, retention on against off.
        steady_on, steady_off = [], []
        for _ in range(repeats):
            steady_on.append(cycle(bin_dir, url, None))
            steady_off.append(cycle(bin_dir, url, "0"))
        cluster.psql(url, f"VACUUM {INV}")
        size_vacuumed, _ = sizes(cluster, url)
        # Once VACUUM has removed the pruned rows' index entries (autovacuum's job in production).
        vacuumed_on, vacuumed_off = [], []
        for _ in range(repeats):
            vacuumed_on.append(cycle(bin_dir, url, None))
            vacuumed_off.append(cycle(bin_dir, url, "0"))
        # Where the steady state's extra time goes: the same batch with nothing expired.
        steady_plan = None
        if sql:
            steady_plan = bench.explain(cluster, url, "One retention batch with nothing expired (after prune and VACUUM):",
                                        "", sql, ["float8", "int"], [str(30 * 86_400), "10000"])
    finally:
        if os.environ.get("DD_BENCH_KEEP_RETENTION_DB") != "1":
            cluster.drop_database(RETENTION_DB)

    scale = " (--quick: 1/100 of the sizes)" if quick else ""
    report.row(f"retention: idle cycle, {triggers:,} triggers, {total:,} finished invocations, `run --retention 0` "
               f"(median of {repeats}){where}{scale}", fmt_ms(idle_wall),
               f"inside the cycle: {fmt_ms(median(c['inner'] for c in idle))}", "—", "(baseline)", None)
    walls = ", ".join(f"{p['wall'] * 1000:.0f}" for p in pruning)
    report.row(f"retention: idle cycle with `run` (30 d) while {expired:,} rows are expired, {cycles_measured} cycles"
               f"{where}", f"{walls} ms; pruned {', '.join(str(p['pruned']) for p in pruning)} rows "
               f"({', '.join(str(p['batches']) for p in pruning)} batches)",
               f"each followed by `--retention 0`: {', '.join('%.0f' % (b['wall'] * 1000) for b in paired)} ms",
               f"extra {median(extras) * 1000:.0f} ms median, {max(extras) * 1000:.0f} ms max",
               "extra < ~1 s per cycle (budget 0.5 s)", max(extras) < 1.0)
    drain_cycles = expired / per_cycle if per_cycle else float("inf")
    inner_extra = [p["inner"] - b["inner"] for p, b in zip(pruning, paired)]
    report.row(f"retention: the same, time inside the cycle (`duration_seconds`), pruning minus paired idle{where}",
               ", ".join("%.0f ms" % (e * 1000) for e in inner_extra),
               f"idle inside the cycle: {fmt_ms(median(b['inner'] for b in paired))}", "—", "(diagnostic)", None)
    report.row(f"retention: cycles to drain {expired:,} expired rows at the per-cycle budget{where}",
               f"{drain_cycles:,.0f} cycles ({drain_cycles / 60:,.1f} h at one cycle a minute)",
               f"{per_cycle:,.0f} rows per cycle (median)", "—", "(reported)", None)
    rate = deleted / prune.wall if prune.wall > 0 else 0
    report.row(f"retention: `dispatch-due prune` over the remaining {left:,} expired rows{where}",
               f"{deleted:,} deleted in {prune.wall:.1f} s = {rate:,.0f} rows/s; {remaining} expired left",
               f"{rows_after:,} rows remain (each trigger's {PER_TRIGGER - 1} newer ones)", "—", "(reported)",
               remaining == 0 and deleted == left)
    on, off = median(c["wall"] for c in steady_on), median(c["wall"] for c in steady_off)
    report.row(f"retention: steady state, nothing expired: `run` (30 d) vs `run --retention 0` (median of {repeats})"
               f"{where}", fmt_ms(on), f"`--retention 0`: {fmt_ms(off)}", f"{(on - off) * 1000:+.1f} ms",
               "(reported)", None)
    on, off = median(c["wall"] for c in vacuumed_on), median(c["wall"] for c in vacuumed_off)
    report.row(f"retention: steady state after VACUUM: `run` (30 d) vs `run --retention 0` (median of {repeats})"
               f"{where}", fmt_ms(on), f"`--retention 0`: {fmt_ms(off)}", f"{(on - off) * 1000:+.1f} ms",
               "(reported)", None)
    if batch_times:
        report.row(f"retention: one batch's execution time by batch size (EXPLAIN ANALYZE, rolled back){where}",
                   ", ".join(f"{n:,} rows {t:,.0f} ms" for n, t in batch_times.items()),
                   "the cycle's budget: 500 ms", "; ".join(f"{n / t * 1000:,.0f} rows/s" for n, t in batch_times.items()),
                   "(diagnostic: a batch must fit the budget)", None)
    report.row(f"retention: {INV} size{where}",
               f"before: {size_before}", f"after prune: {size_after}; after VACUUM: {size_vacuumed}", "—",
               "(reported; plain VACUUM makes the space reusable, it does not shrink files)", None)
    if steady_plan:
        report.section(f"retention: plan of one batch with nothing expired ({rows_after:,} finished rows){where}",
                       steady_plan)
    if plan:
        report.section(f"retention: plan of one batch ({total:,} finished rows, {left:,} expired){where}", plan)


# ---------------------------------------------------------------- herd

HERD_TRIGGERS = """
INSERT INTO scheduled_triggers (tenant_id, id, project_id, agent_id, name, cron_expression, payload,
                                next_run_at, jitter_seconds)
SELECT 'tenant-' || (i % 10), 'trigger-' || i, 'project-' || (i % 100), 'agent-' || (i % 7), 'herd ' || i,
       '{minute} * * * *', jsonb_build_object('n', i), to_timestamp({slot}), {jitter}
FROM generate_series(1, {count}) AS i;
"""


def documented_offset(key, jitter_seconds):
    """contract §6 / PolicyInsert: first 32 bits of md5(key) as unsigned, mod jitter_seconds × 1000, in ms."""
    return (int(hashlib.md5(key.encode()).hexdigest()[:8], 16) % (jitter_seconds * 1000)) / 1000.0


def herd_run(cluster, bin_dir, count, jitter, interval, latency_ms):
    """`count` triggers due at the next minute boundary with `jitter`; `dispatch-due run` started
    every `interval` seconds from the slot (as a timer would) until every slot was posted."""
    name = "bench_herd"
    url = cluster.fresh_database(name)
    slot = (int(time.time()) // 60 + 1) * 60
    if slot - time.time() < 10:
        slot += 60
    minute = time.gmtime(slot).tm_min
    cluster.psql(url, HERD_TRIGGERS.format(count=count, minute=minute, slot=slot, jitter=jitter))
    cluster.psql(url, "VACUUM ANALYZE")
    standin = bench.StandIn(bin_dir, latency_ms=latency_ms)
    nginx = bench.Nginx(standin.port)
    try:
        env = dispatcher_env(url, nginx.url)
        argv = [f"{bin_dir}/dispatch-due", "run", "--cacert", nginx.ca]
        cycles = []
        k = 0
        nginx.mark()
        while True:
            at = slot + k * interval
            time.sleep(max(0.0, at - time.time()))
            run = measured(argv, env=env)
            if run.code != 0:
                sys.exit(f"bench: herd run exited {run.code}:\n{run.stderr[-3000:]}")
            finished = [json.loads(l) for l in run.stderr.splitlines() if '"cycle.finished"' in l]
            cycles.append({"start": at, "wall": run.wall, "finished": finished[-1] if finished else {}})
            k += 1
            left = int(cluster.psql(url, "SELECT count(*) FROM scheduled_trigger_invocations WHERE status = 'pending'")
                       .strip())
            recorded = int(cluster.psql(url, "SELECT count(*) FROM scheduled_trigger_invocations").strip())
            if left == 0 and recorded == count:
                break
            if k > jitter / interval + 20:
                sys.exit(f"bench: herd did not drain: {left} pending after {k} cycles")
        posts = [(key, when) for key, when, shed in standin.posts() if not shed]
        offsets = {}
        for line in cluster.psql(url, """
                SELECT idempotency_key, coalesce(extract(epoch FROM next_attempt_at - scheduled_for), 0)::float8,
                       status FROM scheduled_trigger_invocations""").splitlines():
            key, offset, status = line.split("|")
            offsets[key] = (float(offset), status)
        return {"slot": slot, "cycles": cycles, "posts": posts, "offsets": offsets, "network": nginx.since_mark()}
    finally:
        nginx.stop()
        standin.stop()
        cluster.drop_database(name)


def histogram(times, start, bucket, buckets):
    counts = [0] * buckets
    for t in times:
        index = int((t - start) // bucket)
        if 0 <= index < buckets:
            counts[index] += 1
        elif index >= buckets:
            counts[-1] += 1
    return counts


def section_herd(cluster, bin_dir, report, quick):
    scale = int(os.environ.get("DD_BENCH_HERD_SCALE", "10" if quick else "1"))
    count = int(os.environ.get("DD_BENCH_HERD_COUNT", "1000" if quick else "10000"))
    jitter, interval, bucket = 600 // scale, 60 // scale, 10 / scale
    latency = 200
    where = f" [{cluster.label}]"
    scaled = "" if scale == 1 else f" (time scaled 1/{scale}: jitter {jitter} s stands for 600 s, a cycle every " \
                                   f"{interval} s for every minute, {bucket:g} s buckets for 10 s)"
    results = {}
    for j in (0, jitter):
        print(f"herd{where}: {count:,} triggers due at the next minute, jitter {j} s, a cycle every {interval} s, "
              f"{latency} ms endpoint via nginx TLS/h2{scaled}", flush=True)
        results[j] = herd_run(cluster, bin_dir, count, j, interval, latency)
    lines = [f"{count:,} triggers `M * * * *` due at one minute; `dispatch-due run` (default flags, "
             f"--concurrency 16) every {interval} s from the slot; endpoint: nginx TLS/HTTP/2 → stand-in answering "
             f"after {latency} ms.{scaled} Bucket = {bucket:g} s after the slot; POSTs accepted per bucket "
             f"(from the stand-in's request log).", ""]
    span = jitter + 2 * interval + 60 // scale
    buckets = int(span / bucket) + 1
    lines.append("| bucket start (s after slot) | " + " | ".join(f"jitter {j}" for j in results) + " |")
    lines.append("| --- | " + " | ".join("---" for _ in results) + " |")
    hists = {j: histogram([w for _, w in r["posts"]], r["slot"], bucket, buckets) for j, r in results.items()}
    for b in range(buckets):
        if all(hists[j][b] == 0 for j in hists):
            continue
        lines.append(f"| {b * bucket:g} | " + " | ".join(str(hists[j][b]) for j in hists) + " |")
    for j, r in results.items():
        times = sorted(w for _, w in r["posts"])
        keys = {k for k, _ in r["posts"]}
        per_second = histogram(times, r["slot"], 1.0, int(span) + 1)
        unknown = [k for k, _ in r["posts"] if k.rsplit("-", 1)[0] not in r["offsets"]]
        if unknown:
            sys.exit(f"bench: herd: {len(unknown)} POSTed keys not in the table, e.g. {unknown[0]}")
        lag = [w - (bench.slot_of_key(k) + r["offsets"][k.rsplit("-", 1)[0]][0]) for k, w in r["posts"]]
        net = r["network"]
        walls = ", ".join(f"{c['wall']:.1f}" for c in r["cycles"])
        report.row(f"herd: {count:,} triggers due at one minute, jitter {j} s, 200 ms TLS/h2 endpoint, "
                   f"a cycle every {interval} s{where}{' (scaled 1/%d)' % scale if scale != 1 else ''}",
                   f"{len(r['posts']):,} POSTs ({len(keys):,} keys) from {times[0] - r['slot']:.1f} s to "
                   f"{times[-1] - r['slot']:.1f} s after the slot; peak {max(per_second)} POSTs/s, "
                   f"peak {bucket:g} s bucket {max(hists[j])} ({max(hists[j]) / bucket:.0f}/s)",
                   f"{len(r['cycles'])} cycles: {walls} s; {net['handshakes']} TLS handshakes",
                   f"POST − (slot + offset) p50 {percentile(lag, 0.5):.1f} s, p99 {percentile(lag, 0.99):.1f} s",
                   "every slot posted once", len(keys) == count == len(r["posts"]))
    # Offsets against the documented function.
    r = results[jitter]
    offsets = [(key, value) for key, (value, _) in r["offsets"].items()]
    mismatches = sum(1 for key, value in offsets if abs(value - documented_offset(key, jitter)) > 0.0015)
    values = sorted(v for _, v in offsets)
    deciles = [0] * 10
    for v in values:
        deciles[min(9, int(v / jitter * 10))] += 1
    expected = len(values) / 10
    chi2 = sum((d - expected) ** 2 / expected for d in deciles)
    report.row(f"herd: jitter offsets (next_attempt_at − scheduled_for), {len(values):,} invocations, jitter {jitter} s"
               f"{where}",
               f"min {values[0]:.3f} s, max {values[-1]:.3f} s, mean {statistics.mean(values):.1f} s; per tenth of "
               f"the range: {', '.join(map(str, deciles))}",
               f"documented md5 rule: {len(values) - mismatches:,}/{len(values):,} equal (±1 ms); uniform: "
               f"{expected:.0f} per tenth, mean {jitter / 2:.0f} s",
               f"χ² (9 d.f.) {chi2:.1f} (5% critical 16.9)", "in [0, jitter), = the documented function",
               mismatches == 0 and values[0] >= 0 and values[-1] < jitter)
    report.section(f"herd: POSTs per bucket, jitter 0 vs {jitter} s{where}", "\n".join(lines))


def run(cluster, bin_dir, report, only, quick):
    if "retention" in only:
        section_retention(cluster, bin_dir, report, quick)
    if "herd" in only:
        section_herd(cluster, bin_dir, report, quick)
