#!/usr/bin/env python3
"""`make bench`: dispatch-due speed at scale, each figure against a baseline measured in the
same run (the machine is shared and noisy, so every timing is a median of repeated runs).

    python3 Benchmarks/bench.py --bin .build-bench/release [--quick] [--only idle,explain,...]

It starts its own PostgreSQL clusters (`scripts/local-db.sh start bench`: fsync=off,
synchronous_commit=off, full_page_writes=off; and `DD_LOCAL_PG_DURABLE=1 scripts/local-db.sh
start bench-durable`: all three on, as in production; shared_buffers=256MB, Unix socket only)
with pg_stat_statements loaded, its own stand-in endpoint (`agents-api-standin --port 0`), and,
for the network sections, nginx terminating TLS (a private CA made here with openssl) and
HTTP/2 in front of a stand-in that answers after --latency-ms. Every figure names the cluster
settings it was measured on. The report (Markdown) is printed and written to --report.

Sections (--only): idle, explain, throughput, durable (throughput on the durable cluster),
parallel, burst, sweep, cron, and retention, herd (schedule policies: Benchmarks/policy_bench.py).
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
import socket
import tempfile
import time
import urllib.request
from datetime import datetime, timezone

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CLUSTER = "bench"
DURABLE_CLUSTER = "bench-durable"
API_KEY = "bench-key-not-secret"


def pg_bin_dir():
    """The newest installed PostgreSQL's bin folder: its psql is the C binary. Debian's
    /usr/bin/psql is a Perl wrapper (pg_wrapper) that adds 20-40 ms per start."""
    version = sorted(os.listdir("/usr/lib/postgresql"), key=lambda v: [int(p) for p in v.split(".")])[-1]
    return f"/usr/lib/postgresql/{version}/bin"


PSQL = f"{pg_bin_dir()}/psql"


# ---------------------------------------------------------------- processes and timing

class Measured:
    def __init__(self, wall, max_rss_kb, code, stdout, stderr, cpu=0.0):
        self.wall = wall
        self.cpu = cpu  # user + system seconds of the process (its children included if reaped)
        self.max_rss_kb = max_rss_kb
        self.code = code
        self.stdout = stdout
        self.stderr = stderr


GNU_TIME = "/usr/bin/time"


def with_peak_rss(argv, path):
    """argv run under GNU time, which writes the command's own peak RSS (KB) to `path`. A child
    of this Python process reports at least Python's RSS in ru_maxrss (the high-water mark
    survives exec), so peak RSS is taken one process further down, from time's small one."""
    return [GNU_TIME, "-f", "%M", "-o", path] + list(argv)


def read_peak_rss(path):
    with open(path) as file:
        return int(file.read().split()[-1])


def peak_rss_kb(argv, env=None):
    """The peak RSS of one run of argv (a separate run: GNU time adds its own start to the wall)."""
    with tempfile.NamedTemporaryFile(prefix="dd-bench-rss-") as record:
        subprocess.run(with_peak_rss(argv, record.name), env=env, stdout=subprocess.DEVNULL,
                       stderr=subprocess.DEVNULL)
        return read_peak_rss(record.name)


def measured(argv, env=None, stdin=None):
    """Runs argv to completion: wall seconds (fork to reaped), CPU, and ru_maxrss (which includes
    this Python process's RSS: use peak_rss_kb for the command's own)."""
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
                        out.read().decode(errors="replace"), err.read().decode(errors="replace"),
                        usage.ru_utime + usage.ru_stime)


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
    def __init__(self, bin_dir, name=CLUSTER, durable=False):
        self.bin_dir = bin_dir
        self.name = name
        self.durable = durable
        self.script = os.path.join(REPO, "scripts/local-db.sh")
        self.env = dict(os.environ, DD_LOCAL_PG_DURABLE="1" if durable else "0")
        self.label = None

    def start(self):
        subprocess.run([self.script, "start", self.name], check=True, env=self.env)
        admin = self.admin_url()
        loaded = self.psql(admin, "SHOW shared_preload_libraries").strip()
        if "pg_stat_statements" not in loaded:
            # Statement counts per batch (the closing log line does not carry them).
            self.psql(admin, "ALTER SYSTEM SET shared_preload_libraries = 'pg_stat_statements'")
            self.stop()
            subprocess.run([self.script, "start", self.name], check=True, env=self.env)
        # Planning time per statement kind too (where the server's CPU goes).
        self.psql(admin, "ALTER SYSTEM SET pg_stat_statements.track_planning = on")
        self.psql(admin, "SELECT pg_reload_conf()")
        values = [self.psql(admin, f"SHOW {n}").strip() for n in ("fsync", "synchronous_commit", "full_page_writes")]
        self.label = f"fsync={values[0]}, synchronous_commit={values[1]}, full_page_writes={values[2]}"

    def stop(self):
        subprocess.run([self.script, "stop", self.name], check=True, env=self.env)

    def postmaster_pid(self):
        data = os.path.join(os.path.realpath(os.path.join(REPO, ".local", self.name)), "data")
        with open(os.path.join(data, "postmaster.pid")) as file:
            return int(file.readline())

    def cpu_seconds(self):
        """CPU used by the server so far: the postmaster (with its reaped children, i.e. the
        backends that have exited) plus its live children. Take differences."""
        ticks = os.sysconf("SC_CLK_TCK")
        postmaster = self.postmaster_pid()
        total = 0
        for entry in os.listdir("/proc"):
            if not entry.isdigit():
                continue
            try:
                with open(f"/proc/{entry}/stat") as file:
                    fields = file.read().rsplit(")", 1)[1].split()
            except OSError:
                continue
            pid, ppid = int(entry), int(fields[1])
            if pid == postmaster:
                total += sum(int(f) for f in fields[11:15])  # utime stime cutime cstime
            elif ppid == postmaster:
                total += int(fields[11]) + int(fields[12])
        return total / ticks

    def settled_cpu_seconds(self):
        """cpu_seconds once the backends of finished clients have been reaped."""
        time.sleep(0.3)
        return self.cpu_seconds()

    def admin_url(self):
        return subprocess.run([self.script, "admin-url", self.name], check=True, capture_output=True,
                              text=True).stdout.strip()

    def url(self, database):
        return re.sub(r"dbname=\S+", f"dbname={database}", self.admin_url())

    def psql(self, url, sql, *extra):
        result = subprocess.run([PSQL, url, "-X", "-q", "-At", "-v", "ON_ERROR_STOP=1", *extra, "-c", sql],
                                capture_output=True, text=True)
        if result.returncode != 0:
            sys.exit(f"bench: psql failed: {sql[:200]}\n{result.stderr}")
        return result.stdout

    def psql_file(self, url, path):
        return check(measured([PSQL, url, "-X", "-q", "-At", "-v", "ON_ERROR_STOP=1", "-f", path]),
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
    """agents-api-standin on a free loopback port, recording every request to a file."""

    def __init__(self, bin_dir, mode=None, latency_ms=0, max_in_flight=None):
        self.record = tempfile.NamedTemporaryFile(prefix="dd-bench-record-", delete=False).name
        argv = [f"{bin_dir}/agents-api-standin", "--port", "0", "--record", self.record]
        if mode:
            argv += ["--post-answer", mode]
        if latency_ms:
            argv += ["--latency-ms", str(latency_ms)]
        if max_in_flight:
            argv += ["--max-in-flight", str(max_in_flight)]
        self.process = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        line = self.process.stdout.readline()
        match = re.search(r"(\d+)", line)
        if not match:
            self.process.kill()
            sys.exit(f"bench: the stand-in did not print its port: {line!r}")
        self.port = int(match.group(1))
        self.url = f"http://127.0.0.1:{self.port}"

    def posts(self):
        """(Idempotency-Key, answer time, shed) of every POST recorded so far, in order. With
        --latency-ms the recorded time is when the answer started (the POST was accepted)."""
        posts = []
        with open(self.record) as file:
            for line in file:
                line = line.strip()
                if not line:
                    continue
                entry = json.loads(line)
                if entry.get("method") != "POST" or entry.get("path") != "/run/api/executions":
                    continue
                headers = {k.lower(): v for k, v in entry.get("headers", {}).items()}
                key = headers.get("idempotency-key")
                if key:
                    posts.append((key, parse_iso(entry["time"]), bool(entry.get("shed"))))
        return posts

    def keys(self):
        """Idempotency-Key of every POST recorded so far (not shed), in order."""
        return [key for key, _, shed in self.posts() if not shed]

    def stop(self):
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        os.unlink(self.record)


def parse_iso(text):
    """`2026-03-08T07:00:00.123Z` as Unix seconds."""
    return datetime.strptime(text, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=timezone.utc).timestamp()


def slot_of_key(key):
    """The slot inside an Idempotency-Key `sched_{trigger}_{slot}-{attempt}`."""
    return parse_iso(key.rsplit("_", 1)[1].rsplit("-", 1)[0])


def free_port():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class Nginx:
    """nginx terminating TLS (certificate from a private CA made here) with HTTP/2 in front of a
    stand-in, over loopback; a plain stub_status listener counts accepted connections, and the
    access log names each request's connection, so TLS handshakes per run can be counted.
    Stock settings otherwise: 128 concurrent streams per connection, 1,000 requests per
    connection (then nginx closes it and the client opens another)."""

    def __init__(self, upstream_port):
        nginx = shutil.which("nginx") or "/usr/sbin/nginx"
        if not os.path.exists(nginx):
            sys.exit("bench: nginx is not installed (make bench installs nginx-light)")
        self.dir = tempfile.mkdtemp(prefix="dd-bench-nginx-")
        os.chmod(self.dir, 0o755)
        d = self.dir
        self.ca = f"{d}/ca.crt"
        self.tls_port, self.status_port = free_port(), free_port()

        def openssl(*args):
            subprocess.run(["openssl", *args], check=True, capture_output=True, cwd=d)
        # ECDSA P-256, as most public API endpoints serve today; valid two days.
        openssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
                "-keyout", "ca.key", "-out", "ca.crt", "-days", "2", "-subj", "/CN=dispatch-due bench CA",
                "-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign,cRLSign")
        openssl("req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
                "-keyout", "server.key", "-out", "server.csr", "-subj", "/CN=localhost")
        with open(f"{d}/server.ext", "w") as file:
            file.write("subjectAltName=DNS:localhost,IP:127.0.0.1\nbasicConstraints=CA:FALSE\n"
                       "keyUsage=critical,digitalSignature\nextendedKeyUsage=serverAuth\n")
        openssl("x509", "-req", "-in", "server.csr", "-CA", "ca.crt", "-CAkey", "ca.key", "-CAcreateserial",
                "-out", "server.crt", "-days", "2", "-extfile", "server.ext")
        os.makedirs(f"{d}/temp", exist_ok=True)
        user = "user root;" if os.geteuid() == 0 else ""
        with open(f"{d}/nginx.conf", "w") as file:
            file.write(f"""{user}
worker_processes 1;
pid {d}/nginx.pid;
error_log {d}/error.log warn;
worker_rlimit_nofile 16384;
events {{ worker_connections 8192; }}
http {{
    log_format bench '$msec $connection $connection_requests $ssl_session_reused $server_protocol $status';
    access_log {d}/access.log bench;
    client_body_temp_path {d}/temp/body; proxy_temp_path {d}/temp/proxy; fastcgi_temp_path {d}/temp/fastcgi;
    uwsgi_temp_path {d}/temp/uwsgi; scgi_temp_path {d}/temp/scgi;
    server {{
        listen 127.0.0.1:{self.tls_port} ssl http2;
        ssl_certificate {d}/server.crt;
        ssl_certificate_key {d}/server.key;
        ssl_protocols TLSv1.2 TLSv1.3;
        ssl_session_cache shared:bench:10m;
        http2_max_concurrent_streams 128;
        keepalive_requests 1000;
        location / {{
            proxy_pass http://127.0.0.1:{upstream_port};
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_buffering off;
            proxy_read_timeout 600s;
        }}
    }}
    server {{
        listen 127.0.0.1:{self.status_port};
        access_log off;
        location / {{ stub_status; }}
    }}
}}
""")
        self.process = subprocess.Popen([nginx, "-p", d, "-e", f"{d}/error.log", "-c", f"{d}/nginx.conf",
                                         "-g", "daemon off;"], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        deadline = time.time() + 10
        while True:
            try:
                self.status()
                break
            except OSError:
                if self.process.poll() is not None or time.time() > deadline:
                    error = self.process.stderr.read().decode(errors="replace") if self.process.poll() is not None else ""
                    sys.exit(f"bench: nginx did not start: {error}")
                time.sleep(0.05)
        self.url = f"https://localhost:{self.tls_port}"
        self.log_offset = 0

    def status(self):
        """Connections accepted so far (stub_status)."""
        with urllib.request.urlopen(f"http://127.0.0.1:{self.status_port}/", timeout=5) as answer:
            text = answer.read().decode()
        return int(text.splitlines()[2].split()[0])

    def mark(self):
        """Starts a measured run: remembers the accepted count and the log position."""
        self.accepted_at_mark = self.status()
        self.log_offset = os.path.getsize(f"{self.dir}/access.log") if os.path.exists(f"{self.dir}/access.log") else 0

    def since_mark(self):
        """Handshakes (connections accepted), connections that carried requests, resumed TLS
        sessions, requests by protocol, since mark()."""
        accepted = self.status() - self.accepted_at_mark - 1  # this status request's own connection
        connections, resumed, protocols, requests = set(), set(), {}, 0
        with open(f"{self.dir}/access.log") as file:
            file.seek(self.log_offset)
            for line in file:
                parts = line.split()
                if len(parts) < 6:
                    continue
                requests += 1
                connections.add(parts[1])
                if parts[3] == "r":
                    resumed.add(parts[1])
                protocols[parts[4]] = protocols.get(parts[4], 0) + 1
        return {"handshakes": accepted, "connections": len(connections), "resumed": len(resumed),
                "requests": requests, "protocols": protocols}

    def stop(self):
        self.process.send_signal(signal.SIGQUIT)
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        shutil.rmtree(self.dir, ignore_errors=True)


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

    written = None  # set by main: rewrites the report file

    def row(self, figure, value, baseline, ratio, target, met):
        self.rows.append((figure, value, baseline, ratio, target, met))
        if self.written:
            self.written()
        print(f"  {figure}: {value} | baseline {baseline} | {ratio} | target {target} {'met' if met else 'MISSED' if met is not None else ''}",
              flush=True)

    def section(self, title, text):
        self.sections.append((title, text))
        if self.written:
            self.written()

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
    """Medians of, interleaved: dispatch-due run; the C psql's `select 1` over the same socket
    (the floor); Debian's /usr/bin/psql wrapper doing the same (what earlier reports compared
    against); dispatch-due --version and the C psql's --version (process start alone)."""
    dd, psql, wrapper, version, psql_version, rss, inner = [], [], [], [], [], [], []
    cpu = {"run": [], "psql": [], "version": [], "psql_version": []}
    psql_rss = []
    env = dispatcher_env(url, endpoint)
    for index in range(repeats + 2):
        run = check(measured([f"{bin_dir}/dispatch-due", "run"], env=env), "idle dispatch-due run")
        floor = check(measured([PSQL, url, "-X", "-Atc", "select 1"]), "psql select 1")
        start = check(measured([f"{bin_dir}/dispatch-due", "--version"]), "dispatch-due --version")
        psql_start = check(measured([PSQL, "--version"]), "psql --version")
        wrapped = measured(["/usr/bin/psql", url, "-X", "-Atc", "select 1"]) if os.path.exists("/usr/bin/psql") else None
        if index < 2:
            continue  # warm-up: page cache, catalog caches
        finished = [json.loads(l) for l in run.stderr.splitlines() if '"cycle.finished"' in l]
        if not finished or finished[-1].get("recorded", 0) != 0:
            sys.exit(f"bench: the idle cycle recorded something or did not finish:\n{run.stderr[-2000:]}")
        for key, process in (("run", run), ("psql", floor), ("version", start), ("psql_version", psql_start)):
            cpu[key].append(process.cpu)
        dd.append(run.wall)
        psql.append(floor.wall)
        version.append(start.wall)
        psql_version.append(psql_start.wall)
        if wrapped and wrapped.code == 0:
            wrapper.append(wrapped.wall)
        rss.append(peak_rss_kb([f"{bin_dir}/dispatch-due", "run"], env=env))
        psql_rss.append(peak_rss_kb([PSQL, url, "-X", "-Atc", "select 1"]))
        inner.append(finished[-1]["duration_seconds"])
    return {"run": median(dd), "psql": median(psql), "version": median(version),
            "psql_version": median(psql_version), "wrapper": median(wrapper) if wrapper else None,
            "rss_kb": max(rss), "rss_median_kb": median(rss), "psql_rss_kb": max(psql_rss), "cycle": median(inner),
            "cpu": {key: median(values) for key, values in cpu.items()}}


def loader_cycles(argv, repeats=7):
    """Median of the dynamic loader's start-up time in TSC cycles (glibc's LD_DEBUG=statistics)."""
    values = []
    for _ in range(repeats):
        result = subprocess.run(argv, env=dict(os.environ, LD_DEBUG="statistics"), capture_output=True, text=True)
        match = re.search(r"total startup time in dynamic loader: (\d+) cycles", result.stderr)
        if match:
            values.append(int(match.group(1)))
    return median(values) if values else None


def shared_libraries(path):
    result = subprocess.run(["ldd", path], capture_output=True, text=True)
    return [line.split()[0] for line in result.stdout.splitlines() if "=>" in line or line.strip().startswith("/")]


def section_idle(cluster, bin_dir, endpoint, report, repeats, sizes):
    results = {}
    for count in sizes:
        name = f"bench_idle_{count}"
        print(f"idle: loading {count} triggers", flush=True)
        url = load(cluster, name, count)
        results[count] = idle_cycle(bin_dir, url, endpoint, repeats)
        r = results[count]
        print(f"  {count}: run {fmt_ms(r['run'])} psql(C) {fmt_ms(r['psql'])} --version {fmt_ms(r['version'])} "
              f"psql --version {fmt_ms(r['psql_version'])} cycle {fmt_ms(r['cycle'])} rss {r['rss_kb']} KB", flush=True)
        if count != sizes[-1]:
            cluster.drop_database(name)
    r = results[100_000]
    where = f" [{cluster.label}]"
    ratio = r["run"] / r["psql"]
    report.row(f"idle cycle, 100,000 triggers: wall time (median of {repeats}){where}", fmt_ms(r["run"]),
               f"C psql -X -Atc 'select 1' (same socket): {fmt_ms(r['psql'])}", f"{ratio:.2f}×", "≤ 1.0×",
               ratio <= 1.0)
    c = r["cpu"]
    report.row("idle cycle, 100,000 triggers: CPU of the process (user + system; the server's excluded)",
               fmt_ms(c["run"]), f"C psql `select 1`: {fmt_ms(c['psql'])}", f"{c['run'] / max(c['psql'], 1e-6):.2f}×",
               "(diagnostic, steadier than wall time on a busy machine)", None)
    report.row("process start only: CPU of `dispatch-due --version`", fmt_ms(c["version"]),
               f"C `psql --version`: {fmt_ms(c['psql_version'])}", f"{c['version'] / max(c['psql_version'], 1e-6):.2f}×",
               "(diagnostic)", None)
    report.row("idle cycle, 100,000 triggers: peak RSS (max of %d, the process's own, via GNU time)" % repeats,
               f"{r['rss_kb'] / 1024:.1f} MB", f"C psql `select 1`: {r['psql_rss_kb'] / 1024:.1f} MB",
               f"{r['rss_kb'] / r['psql_rss_kb']:.2f}×", "< 20 MB", r["rss_kb"] < 20 * 1024)
    report.row("process start only: `dispatch-due --version`", fmt_ms(r["version"]),
               f"C `psql --version`: {fmt_ms(r['psql_version'])}", f"{r['version'] / r['psql_version']:.2f}×",
               "(diagnostic)", None)
    if r["wrapper"]:
        report.row("the old baseline: Debian's /usr/bin/psql (Perl pg_wrapper) `select 1`", fmt_ms(r["wrapper"]),
                   f"C psql: {fmt_ms(r['psql'])}", f"{r['wrapper'] / r['psql']:.2f}×",
                   "(why earlier ratios flattered the idle cycle)", None)
    loader_dd = loader_cycles([f"{bin_dir}/dispatch-due", "--version"])
    loader_psql = loader_cycles([PSQL, "--version"])
    if loader_dd and loader_psql:
        report.row("process start: dynamic loader (`LD_DEBUG=statistics`, median of 7), `dispatch-due --version`",
                   f"{loader_dd / 1e6:.1f} M cycles ({len(shared_libraries(f'{bin_dir}/dispatch-due'))} libraries)",
                   f"C `psql --version`: {loader_psql / 1e6:.1f} M cycles ({len(shared_libraries(PSQL))} libraries)",
                   f"{loader_dd / loader_psql:.2f}×", "(diagnostic: libcurl's dependencies)", None)
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
    dispatch = "Sources/DispatchCore/Dispatch/DispatchStage.swift"
    parts = []
    claim_due = expand_swift_sql(swift_string(dispatch, "claimDue"))
    parts.append(explain(cluster, url, "Claim, nothing due (the idle cycle):", "",
                         claim_due, ["int", "text[]", "text[]"],
                         ["500", "'{}'", "'{}'"]))
    parts.append(explain(
        cluster, url, "Claim, 5,000 of the 1,000,000 due (made due inside the transaction, rolled back):",
        "UPDATE scheduled_triggers SET next_run_at = now() - interval '1 minute' "
        "WHERE id IN (SELECT 'trigger-' || i FROM generate_series(1, 1000000, 200) AS i);\nANALYZE scheduled_triggers;",
        claim_due, ["int", "text[]", "text[]"], ["500", "'{}'", "'{}'"]))
    parts.append(explain(cluster, url, "Heal, nothing unscheduled:", "",
                         expand_swift_sql(swift_string(dispatch, "claimUnscheduled")),
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
        parts.append("Execution-stage queries: not found in Sources/DispatchCore/Execution/ExecutionStore.swift.")
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
    return expand_swift_sql("\n".join(l[indent:] for l in lines))


def expand_swift_sql(sql):
    """The SQL a Swift string gives once its `\\(TimestampSQL.…("column"))` interpolations are
    expanded (Sources/DispatchCore/Dispatch/TimestampSQL.swift), so psql can run it. `problem` is
    simplified to the same shape of work (a range test and a text cast)."""
    lowest, beyond = "'0001-01-01 00:00:00Z'::timestamptz", "'10000-01-01 00:00:00Z'::timestamptz"

    def in_range(column):
        return f"({column} >= {lowest} AND {column} < {beyond})"
    forms = {
        "inRange": in_range,
        "epoch": lambda c: f"CASE WHEN {in_range(c)} THEN floor(extract(epoch FROM {c}))::int8 END",
        "problem": lambda c: f"(CASE WHEN {c} IS NULL OR {in_range(c)} THEN NULL ELSE {c}::text END)",
        "display": lambda c: f"{c}::text",
    }
    # Named column lists the claims interpolate (fixed constants of the Swift source).
    for fragment, path in (("dueColumns", "Sources/DispatchCore/Dispatch/DispatchStage.swift"),
                           ("TriggerSchedule.scheduleColumns", "Sources/DispatchCore/Dispatch/TriggerSchedule.swift")):
        text = swift_string(path, fragment.split(".")[-1])
        if text:
            sql = sql.replace("\\(" + fragment + ")", text)
    # The run-now predicate (Sources/DispatchCore/Policies/RunNow.swift, isRunNowKey).
    sql = re.sub(r'\\\(RunNow\.isRunNowKey\("([^"]+)"\)\)', lambda m: f"({m.group(1)} LIKE 'manual\\_%')", sql)
    return re.sub(r'\\\(TimestampSQL\.(\w+)\("([^"]+)"\)\)', lambda m: forms[m.group(1)](m.group(2)), sql)


def execution_queries():
    """The execution stage's queries (inline in ExecutionStore), with parameter types and bench
    arguments: the work check of every cycle, the runnable-invocation claim (claimSize 32, lease
    4 × 30 s + 10 s) and the reconcile claim."""
    path = "Sources/DispatchCore/Execution/ExecutionStore.swift"
    if not os.path.exists(os.path.join(REPO, path)):
        return []
    found = []
    for name, title, types, arguments in (
            ("hasWork", "Work check (`ExecutionStore.hasWork`)", [], []),
            ("claimRuns", "Runnable-invocation claim (`ExecutionStore.claimRuns`)", ["int", "text", "int", "int"],
             ["32", "'130'", "262144", "65536"]),
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
        rss_files = [tempfile.NamedTemporaryFile(prefix="dd-bench-rss-") for _ in range(copies)]
        pg_cpu_before = cluster.settled_cpu_seconds()
        start = time.perf_counter()
        processes = [subprocess.Popen(with_peak_rss(argv, rss_file.name), env=env, stdout=subprocess.DEVNULL,
                                      stderr=out) for out, rss_file in zip(outs, rss_files)]
        rss, codes, cpu = [], [], 0.0
        for process in processes:
            _, status, usage = os.wait4(process.pid, 0)
            codes.append(os.waitstatus_to_exitcode(status))
            cpu += usage.ru_utime + usage.ru_stime
        wall = time.perf_counter() - start
        for rss_file in rss_files:
            rss.append(read_peak_rss(rss_file.name))
            rss_file.close()
        pg_cpu = cluster.settled_cpu_seconds() - pg_cpu_before
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
        result = {"wall": wall, "cpu": cpu, "pg_cpu": pg_cpu, "rss_kb": max(rss), "invocations": invocations, "distinct": distinct,
                  "accepted": accepted, "pending": pending, "still_due": still_due,
                  "posts": len(posted), "distinct_posts": len(set(posted)), "stats": stats, "logs": logs}
        return result
    finally:
        if standin:
            standin.stop()
        cluster.drop_database(name)


def statement_counts(cluster, url):
    """Statements executed in the bench database since the reset, grouped by kind: (calls,
    execution ms, planning ms, first 60 characters), by execution time."""
    rows = cluster.psql(url, """
        SELECT sum(calls), round(sum(total_exec_time)::numeric, 1), round(sum(total_plan_time)::numeric, 1), q
        FROM (SELECT calls, total_exec_time, total_plan_time, regexp_replace(left(query, 60), '\\s+', ' ', 'g') AS q
              FROM pg_stat_statements JOIN pg_database d ON d.oid = dbid
              WHERE d.datname = current_database() AND query NOT LIKE '%pg_stat_statements%') s
        GROUP BY q ORDER BY 2 DESC""")
    table = []
    for line in rows.strip().splitlines():
        calls, execute, plan, query = line.split("|", 3)
        table.append((int(calls), float(execute), float(plan), query))
    return table


def statement_table(stats, count, what):
    calls = sum(row[0] for row in stats)
    execute = sum(row[1] for row in stats)
    plan = sum(row[2] for row in stats)
    lines = [f"{what}: {calls} statements for {count} triggers ({calls / count:.3f} per trigger), "
             f"{execute:.0f} ms executing, {plan:.0f} ms planning (pg_stat_statements, by execution time):", "",
             "| calls | exec ms | plan ms | statement (first 60 characters) |", "| --- | --- | --- | --- |"]
    lines += [f"| {c} | {e:.1f} | {p:.1f} | `{q.replace('|', '¦')}` |" for c, e, p, q in stats]
    return "\n".join(lines)


def section_throughput(cluster, bin_dir, report, count, repeats, inspect_plans=True):
    walls, rsses, cpus, pg_cpus, last = [], [], [], [], None
    for index in range(repeats):
        print(f"throughput [{cluster.label}]: run {index + 1}/{repeats} over {count} due triggers", flush=True)
        inspect = (lambda url: section_after_burst(cluster, url, report)) \
            if inspect_plans and index == repeats - 1 else None
        r = due_run(cluster, bin_dir, "bench_throughput", count, 1, statements=True, inspect=inspect)
        expect_exactly_once(r, count, "throughput")
        walls.append(r["wall"])
        rsses.append(r["rss_kb"])
        cpus.append(r["cpu"])
        pg_cpus.append(r["pg_cpu"])
        last = r
    floors, sql_parts, curl_parts, floor_pg = [], [], [], []
    for index in range(repeats):
        print(f"throughput floor [{cluster.label}]: run {index + 1}/{repeats}", flush=True)
        sql_time, curl_time, sql_pg_cpu = floor_run(cluster, bin_dir, count)
        floors.append(sql_time + curl_time)
        sql_parts.append(sql_time)
        curl_parts.append(curl_time)
        floor_pg.append(sql_pg_cpu)
    wall, floor = median(walls), median(floors)
    rate = count / wall
    where = f" [{cluster.label}]"
    report.row(f"throughput: {count:,} due triggers, one `dispatch-due run`, recorded + posted + accepted, "
               f"plain HTTP/1.1 (median of {repeats}){where}", f"{rate:,.0f} triggers/s ({fmt_ms(wall)})",
               f"C psql script + curl --parallel-max 16: {fmt_ms(floor)} "
               f"(SQL {fmt_ms(median(sql_parts))}, POSTs {fmt_ms(median(curl_parts))})",
               f"{wall / floor:.2f}× the floor", "≤ 1.3× floor", wall <= 1.3 * floor)
    pg, pg_floor = median(pg_cpus), median(floor_pg)
    report.row(f"throughput: PostgreSQL CPU per trigger{where}", f"{pg / count * 1e6:.0f} µs ({pg:.2f} s)",
               f"floor's SQL script: {pg_floor / count * 1e6:.0f} µs ({pg_floor:.2f} s)",
               f"{pg / max(pg_floor, 1e-9):.2f}×", "(diagnostic)", None)
    report.row(f"throughput: dispatch-due CPU per trigger{where}", f"{median(cpus) / count * 1e6:.0f} µs",
               f"wall per trigger: {wall / count * 1e6:.0f} µs", f"{median(cpus) / wall:.2f} cores", "(diagnostic)", None)
    report.row(f"throughput: peak RSS (the process's own, via GNU time){where}", f"{max(rsses) / 1024:.1f} MB",
               "—", "—", "(reported)", None)
    report.section(f"Statements of one throughput run and of the floor's SQL [{cluster.label}]",
                   statement_table(last["stats"], count, "dispatch-due run") + "\n\n"
                   + statement_table(FLOOR_STATS.get(cluster.name, []), count, "floor script"))
    return wall


def section_after_burst(cluster, url, report):
    """Plans of the execution stage's statements right after a burst: every invocation is
    `running` (accepted, waiting for its status check), and the statistics are those taken
    before the burst, as they would be in production when a popular slot fires."""
    path = "Sources/DispatchCore/Execution/ExecutionStore.swift"
    parts = []
    claim = swift_query_in_function(path, "claimRuns")
    if claim:
        parts.append(explain(cluster, url, "Runnable-invocation claim with 10,000 running:", "", claim,
                             ["int", "text", "int", "int"], ["32", "'130'", "262144", "65536"]))
    record = swift_string(path, "recordOutcomes")
    if record:
        rows = cluster.psql(url, "SELECT tenant_id, id, lease_expires_at::text FROM scheduled_trigger_invocations "
                                 "WHERE status = 'running' ORDER BY random() LIMIT 20").strip().splitlines()
        columns = list(zip(*[r.split("|") for r in rows]))

        def array(values, kind="text"):
            return "ARRAY[" + ", ".join("'" + v.replace("'", "''") + "'" for v in values) + f"]::{kind}[]"
        n = len(rows)
        nulls = f"array_fill(NULL::text, ARRAY[{n}])"
        # (tenant_id, id, lease, kind, action, status, http_status, error, execution_id, conversation_id, delay)
        arguments = [array(columns[0]), array(columns[1]), array(columns[2]), array(["post"] * n),
                     array(["accepted"] * n), array(["running"] * n), array(["200"] * n, "int"), nulls,
                     array([f"run-again-{i}" for i in range(n)]), nulls, array(["30"] * n, "float8")]
        types = ["text[]"] * 6 + ["int[]", "text[]", "text[]", "text[]", "float8[]"]
        parts.append(explain(cluster, url, "Recording 20 POST answers (`ExecutionStore.recordOutcomes`) with 10,000 running:",
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


def write_curl_config(config, base_url, rows, cacert=None):
    """A curl --config posting one run per (tenant, key, project, agent), as the dispatcher does
    (options after `next` apply to the next URL only, so each block names its CA)."""
    for index, (tenant, key, project, agent) in enumerate(rows):
        if index:
            config.write("next\n")  # options after `next` apply to the next URL only
        body = json.dumps({"messages": [{"role": "user", "content": "{\"n\":1}"}],
                           "forwardedHeaders": {"x-inkeep-client-timezone": "UTC",
                                                "x-inkeep-client-timestamp": "2026-01-01T00:00:00.000Z"}})
        config.write(f'url = "{base_url}/run/api/executions?ref=main"\n'
                     f'header = "Authorization: Bearer {API_KEY}"\n'
                     f'header = "x-inkeep-tenant-id: {tenant}"\nheader = "x-inkeep-project-id: {project}"\n'
                     f'header = "x-inkeep-agent-id: {agent}"\nheader = "Idempotency-Key: {key}-1"\n'
                     f'header = "Content-Type: application/json"\nheader = "Accept: text/event-stream"\n'
                     f'data = {json.dumps(body)}\noutput = "/dev/null"\n')
        if cacert:
            config.write(f'cacert = "{cacert}"\n')


def curl_network_floor(bin_dir, count, latency_ms, concurrency):
    """`count` POSTs by curl --parallel --parallel-max C (which waits to multiplex on HTTP/2,
    CURLOPT_PIPEWAIT) through the same nginx TLS/h2 endpoint, to a stand-in with the same
    latency answering a finite body: the network floor for C in flight."""
    standin = StandIn(bin_dir, "accept-no-run-id", latency_ms=latency_ms)
    nginx = Nginx(standin.port)
    try:
        with tempfile.NamedTemporaryFile("w", suffix=".curl", delete=False) as config:
            write_curl_config(config, nginx.url, [(f"tenant-{i % 10}", f"sched_trigger-{i}_2026-01-01T00:00:00.000Z",
                                                   f"project-{i % 100}", f"agent-{i % 7}") for i in range(count)],
                              cacert=nginx.ca)
        nginx.mark()
        posts = check(measured(["curl", "--no-progress-meter", "--fail", "--parallel",
                                "--parallel-max", str(concurrency), "--config", config.name]), "curl --parallel (TLS)")
        os.unlink(config.name)
        if len(standin.keys()) != count:
            sys.exit(f"bench: curl posted {len(standin.keys())} of {count}")
        return posts.wall, nginx.since_mark()
    finally:
        nginx.stop()
        standin.stop()


FLOOR_STATS = {}  # cluster name -> statements of the last floor script


def floor_run(cluster, bin_dir, count):
    url = load(cluster, "bench_floor", count, due=True)
    standin = StandIn(bin_dir, "accept-no-run-id")
    try:
        batches = (count + 499) // 500
        claims = (count + 31) // 32
        with tempfile.NamedTemporaryFile("w", suffix=".sql", delete=False) as script:
            script.write(FLOOR_RECORD_BATCH * batches + FLOOR_CLAIM_BATCH * claims + FLOOR_ANSWERS)
        cluster.psql(url, "SELECT pg_stat_statements_reset()")
        pg_cpu_before = cluster.settled_cpu_seconds()
        sql = cluster.psql_file(url, script.name)
        sql_pg_cpu = cluster.settled_cpu_seconds() - pg_cpu_before
        FLOOR_STATS[cluster.name] = statement_counts(cluster, url)
        os.unlink(script.name)
        rows = cluster.psql(url, "SELECT tenant_id, idempotency_key, project_id, agent_id "
                                 "FROM scheduled_trigger_invocations").strip().splitlines()
        if len(rows) != count:
            sys.exit(f"bench: the floor's SQL recorded {len(rows)} invocations, expected {count}")
        with tempfile.NamedTemporaryFile("w", suffix=".curl", delete=False) as config:
            write_curl_config(config, standin.url, [line.split("|") for line in rows])
        posts = check(measured(["curl", "--no-progress-meter", "--fail", "--parallel", "--parallel-max", "16",
                                "--config", config.name]), "curl --parallel")
        os.unlink(config.name)
        if len(standin.keys()) != count:
            sys.exit(f"bench: curl posted {len(standin.keys())} of {count}")
        return sql.wall, posts.wall, sql_pg_cpu
    finally:
        standin.stop()
        cluster.drop_database("bench_floor")


# Triggers that all fire at one minute `slot` (UTC; yearly, so each fires that slot only).
BURST_TRIGGERS = """
INSERT INTO scheduled_triggers (tenant_id, id, project_id, agent_id, name, cron_expression, payload, next_run_at)
SELECT 'tenant-' || (i % 10), 'trigger-' || i, 'project-' || (i % 100), 'agent-' || (i % 7), 'burst ' || i,
       '{cron}', jsonb_build_object('n', i), to_timestamp({slot})
FROM generate_series(1, {count}) AS i;
"""


def percentile(values, fraction):
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    return ordered[min(len(ordered) - 1, max(0, int(round(fraction * len(ordered))) - 1))]


def network_run(cluster, bin_dir, count, latency_ms, concurrency=None, at_minute=False, max_cycles=6,
                max_in_flight=None):
    """`count` due triggers posted through nginx (TLS, HTTP/2) to a stand-in answering after
    `latency_ms`. With `at_minute` the triggers are due at the next minute boundary and the
    first cycle starts on it, as a timer would; cycles then follow back to back until nothing
    is left to post (a timer would start the next one at the next minute)."""
    name = "bench_network"
    url = cluster.fresh_database(name)
    slot = None
    if at_minute:
        slot = (int(time.time()) // 60 + 1) * 60
        if slot - time.time() < 10:
            slot += 60  # room to load the table before the minute starts
        at = datetime.fromtimestamp(slot, timezone.utc)
        cron = f"{at.minute} {at.hour} {at.day} {at.month} *"
        cluster.psql(url, BURST_TRIGGERS.format(count=count, cron=cron, slot=slot))
    else:
        cluster.psql(url, DUE_TRIGGERS.format(count=count))
    cluster.psql(url, "VACUUM ANALYZE")
    standin = StandIn(bin_dir, latency_ms=latency_ms, max_in_flight=max_in_flight)
    nginx = Nginx(standin.port)
    try:
        env = dispatcher_env(url, nginx.url)
        argv = [f"{bin_dir}/dispatch-due", "run", "--cacert", nginx.ca]
        if concurrency:
            argv += ["--concurrency", str(concurrency)]
        if slot:
            time.sleep(max(0.0, slot - time.time()))
        nginx.mark()
        cycles, start = [], time.time()
        for _ in range(max_cycles):
            run = measured(argv, env=env)
            if run.code != 0:
                sys.exit(f"bench: network run exited {run.code}:\n{run.stderr[-3000:]}")
            finished = [json.loads(l) for l in run.stderr.splitlines() if '"cycle.finished"' in l]
            cycles.append({"wall": run.wall, "cpu": run.cpu, "finished": finished[-1] if finished else {}})
            left = int(cluster.psql(url, "SELECT count(*) FROM scheduled_trigger_invocations WHERE status = 'pending'")
                       .strip()) + int(cluster.psql(url, "SELECT count(*) FROM scheduled_triggers WHERE next_run_at <= now()").strip())
            if left == 0:
                break
        elapsed = time.time() - start
        network = nginx.since_mark()
        posts = standin.posts()
        accepted = [(key, when) for key, when, shed in posts if not shed]
        lags = [when - slot_of_key(key) for key, when in accepted]
        started = [float(v) for v in cluster.psql(url, """
            SELECT extract(epoch FROM started_at - scheduled_for) FROM scheduled_trigger_invocations
            WHERE started_at IS NOT NULL""").split()]
        summary = cluster.psql(url, """
            SELECT count(*), count(*) FILTER (WHERE status IN ('running', 'completed')),
                   count(DISTINCT (tenant_id, idempotency_key))
            FROM scheduled_trigger_invocations""").strip().split("|")
        invocations, running, distinct = map(int, summary)
        return {"slot": slot, "cycles": cycles, "elapsed": elapsed, "network": network,
                "posts": len(posts), "shed": sum(1 for p in posts if p[2]), "accepted_posts": len(accepted),
                "distinct_keys": len({k for k, _ in accepted}), "lags": lags, "started": started,
                "invocations": invocations, "running": running, "distinct": distinct,
                "drain": (max(w for _, w in accepted) - slot) if slot and accepted else None,
                "first_accept": min((w for _, w in accepted), default=None),
                "last_accept": max((w for _, w in accepted), default=None), "start": start}
    finally:
        nginx.stop()
        standin.stop()
        cluster.drop_database(name)


def section_burst(cluster, bin_dir, report, count, latency_ms=200):
    print(f"burst [{cluster.label}]: {count} triggers due at the next minute, endpoint at {latency_ms} ms "
          "over TLS/HTTP/2 (nginx), default flags", flush=True)
    r = network_run(cluster, bin_dir, count, latency_ms, at_minute=True)
    cycles = r["cycles"]
    n = len(cycles)
    walls = ", ".join(f"{c['wall']:.1f} s" for c in cycles)
    bound = count * latency_ms / 1000 / 16
    all_once = r["invocations"] == count and r["running"] == count and r["distinct_keys"] == count
    where = f" [{cluster.label}]"
    report.row(f"burst: {count:,} triggers due in one minute, {latency_ms} ms endpoint via nginx TLS/h2, "
               f"`dispatch-due run` default flags{where}",
               f"drained {r['drain']:.1f} s after the slot in {n} back-to-back cycle(s) ({walls}); "
               f"{r['accepted_posts']:,} POSTs accepted, {r['distinct_keys']:,} distinct keys",
               f"N·L/C at --concurrency 16: {bound:.1f} s", f"{r['drain'] / bound:.2f}×",
               "all posted within one cycle (< 50 s)", n == 1 and all_once and r["drain"] < 50)
    report.row(f"burst: POST accepted − slot, p50 / p99 / max{where}",
               f"{percentile(r['lags'], 0.5):.1f} s / {percentile(r['lags'], 0.99):.1f} s / {max(r['lags']):.1f} s",
               f"first cycle started {r['start'] - r['slot']:.2f} s after the slot", "—", "(reported)", None)
    report.row(f"burst: invocation started_at − scheduled_for, p50 / p99{where}",
               f"{percentile(r['started'], 0.5):.1f} s / {percentile(r['started'], 0.99):.1f} s",
               "—", "—", "(reported)", None)
    net = r["network"]
    report.row(f"burst: TLS handshakes (connections nginx accepted){where}",
               f"{net['handshakes']:,} for {net['requests']:,} requests "
               f"({net['requests'] / max(1, net['handshakes']):.1f} requests per handshake; "
               f"{net['resumed']} resumed; {', '.join(f'{k} {v:,}' for k, v in net['protocols'].items())})",
               f"ideal: one per cycle + one per 1,000 requests (nginx's keepalive_requests): {n + count // 1000}",
               f"{net['handshakes'] / n:.0f} per run", "per connection, not per POST",
               net["handshakes"] <= (n + count // 1000) * 2)
    return r


def section_sweep(cluster, bin_dir, report, count, concurrencies, latency_ms=200):
    for concurrency in concurrencies:
        print(f"sweep [{cluster.label}]: {count} due triggers at --concurrency {concurrency}, {latency_ms} ms, TLS/h2",
              flush=True)
        r = network_run(cluster, bin_dir, count, latency_ms, concurrency=concurrency, max_cycles=1)
        if r["invocations"] != count or r["running"] != count or r["distinct_keys"] != count:
            sys.exit(f"bench: sweep {concurrency}: {r['invocations']} invocations, {r['running']} accepted, "
                     f"{r['distinct_keys']} keys, expected {count}")
        wall = r["cycles"][0]["wall"]
        posting = r["last_accept"] - r["first_accept"] + latency_ms / 1000
        bound = count * latency_ms / 1000 / concurrency
        net = r["network"]
        print(f"sweep: curl --parallel-max {concurrency} over the same endpoint", flush=True)
        curl_wall, curl_net = curl_network_floor(bin_dir, count, latency_ms, concurrency)
        report.row(f"sweep: {count:,} due triggers, `run --concurrency {concurrency}`, {latency_ms} ms endpoint "
                   f"via nginx TLS/h2 [{cluster.label}]",
                   f"cycle {fmt_ms(wall)}; posting {posting:.2f} s (first accept {r['first_accept'] - r['start']:.2f} s "
                   f"after start); {net['handshakes']:,} TLS handshakes for {net['requests']:,} requests",
                   f"N·L/C = {bound:.2f} s; curl --parallel-max {concurrency} (PIPEWAIT): {curl_wall:.2f} s, "
                   f"{curl_net['handshakes']:,} handshakes",
                   f"{posting / bound:.2f}× N·L/C; cycle {wall / curl_wall:.2f}× curl", "(reported)", None)


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
                   f"{count:,} due triggers [{cluster.label}]", f"{fmt_ms(r['wall'])}; {once}",
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
    parser.add_argument("--cron-bin", help="folder of cron-bench's release build (Benchmarks/CronBench; default: --bin)")
    parser.add_argument("--quick", action="store_true", help="fewer repetitions and smaller tables (a smoke run)")
    parser.add_argument("--only", default="idle,explain,throughput,durable,parallel,burst,sweep,cron,retention,herd")
    parser.add_argument("--report", default=os.path.join(REPO, "bench-results", "report.md"))
    parser.add_argument("--keep-cluster", action="store_true", help="leave the bench clusters running")
    args = parser.parse_args()
    only = set(args.only.split(","))
    bin_dir = os.path.abspath(args.bin)
    repeats = 7 if args.quick else 21
    cluster = Cluster(bin_dir)
    cluster.start()
    durable = None
    report = Report()
    started = time.time()

    def write_report(final=False):
        """After every section, so a run cut short still leaves what it measured."""
        clusters = f"`{CLUSTER}` ({cluster.label})"
        if durable:
            clusters += f" and `{DURABLE_CLUSTER}` ({durable.label})"
        header = (f"## Results\n\nMachine: {machine()}. PostgreSQL {pg_version()} clusters from scripts/local-db.sh: "
                  f"{clusters}; Unix socket, shared_buffers=256MB. Baseline psql: {PSQL} (the C binary). "
                  f"Run took {time.time() - started:.0f} s{' (--quick)' if args.quick else ''}"
                  f"{'' if final else ' (unfinished)'}.")
        text = report.markdown(header)
        os.makedirs(os.path.dirname(os.path.abspath(args.report)), exist_ok=True)
        with open(args.report, "w") as file:
            file.write(text)
        return text

    report.written = write_report
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
        throughput_repeats = 3 if args.quick else 5
        if "throughput" in only:
            if posting:
                section_throughput(cluster, bin_dir, report, 10_000, throughput_repeats)
            else:
                print("throughput: skipped, the execution stage is not built yet")
        if posting and only & {"durable", "burst"}:
            durable = Cluster(bin_dir, DURABLE_CLUSTER, durable=True)
            durable.start()
        if "durable" in only and durable:
            section_throughput(durable, bin_dir, report, 10_000, throughput_repeats, inspect_plans=False)
        if "burst" in only and posting:
            burst = 1_000 if args.quick else 10_000
            section_burst(cluster, bin_dir, report, burst)
            if durable:
                section_burst(durable, bin_dir, report, burst)
        if "sweep" in only and posting:
            section_sweep(cluster, bin_dir, report, 500 if args.quick else 2_000, [16, 64, 256])
        if "parallel" in only:
            section_parallel(cluster, bin_dir, report, 20_000, [1, 2, 4], record_only=not posting)
        if "cron" in only:
            section_cron(os.path.abspath(args.cron_bin or args.bin), report, args.quick)
        if only & {"retention", "herd"}:
            import policy_bench
            policy_bench.run(cluster, bin_dir, report, only, args.quick)
    finally:
        if not args.keep_cluster:
            cluster.stop()
            if durable:
                durable.stop()
    text = write_report(final=True)
    print()
    print(text)


def pg_version():
    text = subprocess.run([f"{pg_bin_dir()}/postgres", "--version"], capture_output=True, text=True).stdout
    match = re.search(r"\(PostgreSQL\) (\S+)", text)
    return match.group(1) if match else text.strip()


def has_execution_stage(bin_dir):
    """The execution stage is built when `run --help` lists --agents-api-url."""
    result = measured([f"{bin_dir}/dispatch-due", "run", "--help"])
    return "--agents-api-url" in result.stdout


if __name__ == "__main__":
    main()
