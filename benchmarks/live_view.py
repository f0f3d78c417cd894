"""Live view: how fast does a state change reach every watching browser, and what does it cost?

With N open SSE streams (N = 50, 200) on the real ASGI server (one uvicorn process, as ``make run``
starts it), a status update is posted through the API; we time until each client has the event
(p50/p95 over every client and change, and p95 of "the last client has it"), and measure the web
server's CPU. The baseline is the usual alternative: N clients polling the incident endpoint every
second, timed until each one sees the new public status. The last line is the ratio.

    .venv/bin/python benchmarks/live_view.py [--quick] [--clients 50,200] [--changes 10]

It runs on a scratch SQLite database in a temporary folder (``--database-url`` for another scratch
database); with ``REDIS_URL`` set the streams are woken by Redis pub/sub, else by the 0.25 s poll.

``--storm 500`` measures a reconnect storm instead: a PostgreSQL cluster of its own (``initdb`` on a
free port, ``max_connections=100``), then N streams opened in the same instant, first with the old
setting (no pool, no cap on set-ups: the baseline) and then as the web server runs by default (a
bounded pool, set-ups capped). It prints the errors, the peak of the server's connections (from
``pg_stat_activity``, sampled every 10 ms), the time until every stream is open, and whether an
API request made during the storm was answered.

    .venv/bin/python benchmarks/live_view.py --storm 500
"""

from __future__ import annotations

import argparse
import asyncio
import glob
import json
import os
import random
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
CLK = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    """User + system CPU of a process and its threads, from /proc."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK


def threads(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("Threads:"):
            return int(line.split()[1])
    return 0


def pct(values: list[float], q: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, int(round(q / 100 * (len(values) - 1))))]


# --- a minimal HTTP/1.1 client on asyncio streams (keep-alive, Content-Length bodies) ------------


async def http(reader, writer, method: str, path: str, headers: dict, body: bytes = b"") -> tuple[int, bytes]:
    lines = [f"{method} {path} HTTP/1.1", "Host: 127.0.0.1"]
    lines += [f"{k}: {v}" for k, v in headers.items()]
    if body:
        lines.append(f"Content-Length: {len(body)}")
    writer.write(("\r\n".join(lines) + "\r\n\r\n").encode() + body)
    await writer.drain()
    status = int((await reader.readline()).split()[1])
    length = 0
    chunked = False
    while True:
        line = (await reader.readline()).decode().strip()
        if not line:
            break
        name, _, value = line.partition(":")
        if name.lower() == "content-length":
            length = int(value)
        elif name.lower() == "transfer-encoding" and "chunked" in value:
            chunked = True
    if not chunked:
        return status, await reader.readexactly(length)
    data = b""
    while True:
        size = int((await reader.readline()).strip(), 16)
        if size == 0:
            await reader.readline()
            return status, data
        data += await reader.readexactly(size)
        await reader.readline()


class Bench:
    def __init__(self, port: int, token: str, cookie: str, incident: str):
        self.port, self.token, self.cookie, self.incident = port, token, cookie, incident
        self.target: tuple[int, str] | None = None  # (change number, public status it sets)
        self.changes = 0
        self.status = "investigating"

    async def post_update(self, public_status: str) -> None:
        reader, writer = await asyncio.open_connection("127.0.0.1", self.port)
        body = json.dumps({"public_status": public_status, "message": f"now {public_status}"}).encode()
        headers = {"Authorization": f"Token {self.token}", "Content-Type": "application/json"}
        status, _ = await http(reader, writer, "POST", f"/api/v1/incidents/{self.incident}/updates/", headers, body)
        writer.close()
        if status != 200:
            raise SystemExit(f"the API answered {status}")

    async def sse_round(self, n: int, changes: int) -> dict:
        arrivals: list[dict[str, float]] = [{} for _ in range(n)]
        connected = 0
        all_connected = asyncio.Event()

        async def client(i: int) -> None:
            nonlocal connected
            reader, writer = await asyncio.open_connection("127.0.0.1", self.port, limit=2**20)
            request = "GET /events/stream/ HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept: text/event-stream\r\n"
            writer.write(f"{request}Cookie: sessionid={self.cookie}\r\n\r\n".encode())
            await writer.drain()
            try:
                while True:
                    line = (await reader.readline()).decode()
                    if not line:
                        return
                    if line.startswith("retry:"):
                        connected += 1
                        if connected == n:
                            all_connected.set()
                    elif line.startswith("data:") and "incident.status_update" in line:
                        # One marker per change: the message text names the change number.
                        arrivals[i].setdefault(json.loads(line[5:])["id"], time.monotonic())
            finally:
                writer.close()

        tasks = [asyncio.create_task(client(i)) for i in range(n)]
        await asyncio.wait_for(all_connected.wait(), timeout=120)
        await asyncio.sleep(0.5)
        latencies, last = await self._changes(changes, lambda: arrivals, n)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        return {"latencies": latencies, "last": last}

    async def _changes(self, changes: int, arrivals_of, n: int) -> tuple[list[float], list[float]]:
        latencies, last = [], []
        for _ in range(changes):
            seen_before = [set(a) for a in arrivals_of()]
            # Each change gets a number unique across rounds and a value that differs from the last.
            self.changes += 1
            value = "monitoring" if self.status == "identified" else "identified"
            self.target, self.status = (self.changes, value), value
            t0 = time.monotonic()
            await self.post_update(value)
            deadline = time.monotonic() + 15
            while time.monotonic() < deadline:
                pairs = zip(arrivals_of(), seen_before, strict=True)
                new = [[t for key, t in a.items() if key not in s] for a, s in pairs]
                if all(new):
                    break
                await asyncio.sleep(0.01)
            got = [min(times) - t0 for times in new if times]
            missing = n - len(got)
            latencies += got + [15.0] * missing
            last.append(max(got) if not missing else 15.0)
            await asyncio.sleep(1.5 + random.random() * 0.5)
        return latencies, last

    async def polling_round(self, n: int, changes: int) -> dict:
        seen: list[dict[int, float]] = [{} for _ in range(n)]
        stop = asyncio.Event()

        async def client(i: int) -> None:
            reader, writer = await asyncio.open_connection("127.0.0.1", self.port)
            headers = {"Authorization": f"Token {self.token}", "Accept": "application/json"}
            await asyncio.sleep(random.random())  # clients do not poll in lockstep
            while not stop.is_set():
                started = time.monotonic()
                status, body = await http(reader, writer, "GET", f"/api/v1/incidents/{self.incident}/", headers)
                target = self.target
                if status == 200 and target and json.loads(body)["public_status"] == target[1]:
                    seen[i].setdefault(target[0], time.monotonic())
                await asyncio.sleep(max(0.0, 1.0 - (time.monotonic() - started)))
            writer.close()

        tasks = [asyncio.create_task(client(i)) for i in range(n)]
        await asyncio.sleep(2.5)  # every client has had its first answer
        latencies, last = await self._changes(changes, lambda: seen, n)
        stop.set()
        await asyncio.gather(*tasks, return_exceptions=True)
        return {"latencies": latencies, "last": last}


def setup(args) -> tuple[dict, Path]:
    tmp = Path(tempfile.mkdtemp(prefix="live-view-"))
    env = dict(os.environ)
    env.update(
        {
            "VAR_DIR": str(tmp),
            "DATABASE_URL": args.database_url or f"sqlite:///{tmp / 'bench.sqlite3'}",
            "CELERY_BROKER_URL": os.environ.get("CELERY_BROKER_URL", "filesystem://"),
            "SECRET_KEY": "benchmark-only-" + os.urandom(8).hex(),
            "DEBUG": "0",
            "SESSION_COOKIE_SECURE": "0",
            "CSRF_COOKIE_SECURE": "0",
            "LOG_LEVEL": "WARNING",
        }
    )
    subprocess.run([sys.executable, "manage.py", "migrate", "--noinput", "-v0"], cwd=ROOT, env=env, check=True)
    os.environ.update(env)
    return env, tmp


def make_fixtures() -> tuple[str, str, str]:
    import django

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "pitchey_incidents.settings")
    django.setup()
    from django.contrib.auth.models import Group, User
    from django.test import Client
    from rest_framework.authtoken.models import Token

    from incidents.lifecycle import services

    user, _ = User.objects.get_or_create(username="bench")
    user.groups.add(Group.objects.get(name="commander"))
    token, _ = Token.objects.get_or_create(user=user)
    client = Client()
    client.force_login(user)
    incident = services.incident_declare(severity="P1", title="Benchmark incident", actor=user)
    return token.key, client.cookies["sessionid"].value, incident.public_id


def start_server(env: dict, port: int, tmp: Path) -> subprocess.Popen:
    argv = [sys.executable, "-m", "uvicorn", "pitchey_incidents.asgi:application", "--port", str(port)]
    argv += ["--log-level", "warning", "--backlog", "4096"]
    log = open(tmp / "web.log", "ab")
    proc = subprocess.Popen(argv, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)

    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return proc
        except OSError:
            time.sleep(0.1)
    proc.kill()
    raise SystemExit(f"the web server did not start; see {tmp / 'web.log'}")


async def measure(bench: Bench, pid: int, kind: str, n: int, changes: int) -> dict:
    cpu0, wall0 = cpu_seconds(pid), time.monotonic()
    result = await (bench.sse_round(n, changes) if kind == "sse" else bench.polling_round(n, changes))
    result["cpu"] = (cpu_seconds(pid) - cpu0) / (time.monotonic() - wall0) * 100
    result["threads"] = threads(pid)
    return result


# --- reconnect storm: N streams at once against a PostgreSQL with max_connections=100 ---------------


def pg_bin(name: str) -> str:
    found = shutil.which(name)
    if found:
        return found
    candidates = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"), key=lambda p: int(p.split("/")[4]))
    return candidates[-1] if candidates else name


class Cluster:
    """A throwaway PostgreSQL cluster (as the ``postgres`` OS user when we are root)."""

    def __init__(self, max_connections: int = 100):
        from pitchey_incidents.testing import free_port

        self.root = Path(tempfile.mkdtemp(prefix="live-view-pg-", dir="/tmp"))
        self.datadir, self.port, self.max_connections = self.root / "data", free_port(), max_connections

    def _run(self, *argv: str) -> None:
        argv = ["runuser", "-u", "postgres", "--", *argv] if os.geteuid() == 0 else list(argv)
        subprocess.run(argv, check=True, capture_output=True, stdin=subprocess.DEVNULL)

    def start(self) -> Cluster:
        if os.geteuid() == 0:
            shutil.chown(self.root, "postgres", "postgres")
        self._run(pg_bin("initdb"), "-D", str(self.datadir), "-A", "trust", "-U", "postgres", "--no-sync")
        conf = f"port = {self.port}\nlisten_addresses = '127.0.0.1'\nunix_socket_directories = ''\n"
        conf += f"max_connections = {self.max_connections}\nfsync = off\nshared_buffers = 32MB\n"
        self._run("sh", "-c", f'printf "{conf}" >> {self.datadir}/postgresql.conf')
        self._run(pg_bin("pg_ctl"), "start", "-w", "-t", "60", "-D", str(self.datadir), "-l", str(self.root / "log"))
        self.sql("CREATE DATABASE bench")
        return self

    def url(self, db: str = "bench") -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/{db}"

    def sql(self, query: str, params=None):
        import psycopg

        with psycopg.connect(self.url("postgres"), autocommit=True) as conn:
            cur = conn.execute(query, params)
            return cur.fetchall() if cur.description else None

    def stop(self) -> None:
        self._run(pg_bin("pg_ctl"), "stop", "-m", "immediate", "-D", str(self.datadir))
        shutil.rmtree(self.root, ignore_errors=True)


class PeakConnections(threading.Thread):
    """The most connections the web server held to the benchmark database, sampled every 10 ms."""

    def __init__(self, cluster: Cluster, app_name: str):
        super().__init__(daemon=True)
        self.cluster, self.app_name, self.peak, self.halt = cluster, app_name, 0, threading.Event()

    def run(self) -> None:
        import psycopg

        query = "SELECT count(*) FROM pg_stat_activity WHERE datname = 'bench' AND application_name = %s"
        with psycopg.connect(self.cluster.url("postgres"), autocommit=True) as conn:
            while not self.halt.wait(0.01):
                self.peak = max(self.peak, conn.execute(query, (self.app_name,)).fetchone()[0])


async def open_stream(port: int, cookie: str, opened: list, statuses: list) -> None:
    """One dashboard reconnecting: its status, and the stream kept open until the round ends."""
    try:
        reader, writer = await asyncio.open_connection("127.0.0.1", port, limit=2**20)
    except OSError as exc:
        statuses.append(f"connect: {exc.__class__.__name__}")
        return
    request = "GET /events/stream/ HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept: text/event-stream\r\n"
    writer.write(f"{request}Cookie: sessionid={cookie}\r\n\r\n".encode())
    try:
        await writer.drain()
        status = int((await reader.readline()).split()[1])
        statuses.append(status)
        if status == 200:
            while not (await reader.readline()).startswith(b"retry:"):
                pass
            opened.append(writer)
            return
    except (OSError, IndexError, ValueError) as exc:
        statuses.append(f"read: {exc.__class__.__name__}")
    writer.close()


async def storm_round(bench: Bench, n: int) -> dict:
    opened: list = []
    statuses: list = []
    t0 = time.monotonic()
    await asyncio.gather(*(open_stream(bench.port, bench.cookie, opened, statuses) for _ in range(n)))
    all_open_s = time.monotonic() - t0
    # Everything else on the server still works while the streams are open.
    reader, writer = await asyncio.open_connection("127.0.0.1", bench.port)
    headers = {"Authorization": f"Token {bench.token}", "Accept": "application/json"}
    api_status, _ = await http(reader, writer, "GET", f"/api/v1/incidents/{bench.incident}/", headers)
    writer.close()
    for w in opened:
        w.close()
    errors = [s for s in statuses if s != 200]
    return {"ok": len(opened), "errors": errors, "all_open_s": all_open_s, "api": api_status}


def storm(args, n: int) -> None:
    cluster = Cluster().start()
    print(f"live_view storm: {n} streams at once, PostgreSQL max_connections={cluster.max_connections}")
    tmp = None
    try:
        args.database_url = cluster.url()
        env, tmp = setup(args)
        token, cookie, incident = make_fixtures()
        from django.db import connections

        connections.close_all()
        pool = int(os.environ.get("DB_POOL_MAX", "20"))
        rounds = [
            ("baseline: no pool, set-ups not capped", {"DB_POOL": "0", "STREAM_SETUP_MAX": str(n)}),
            (f"default: pool of {pool}, set-ups capped", {}),
        ]
        results = [storm_once(cluster, env, tmp, (token, cookie, incident), extra, n) for _, extra in rounds]
        for (label, _), r in zip(rounds, results, strict=True):
            kinds = sorted({str(e) for e in r["errors"]})
            print(
                f"{label:<40} open {r['ok']:>4}/{n}  errors {len(r['errors']):>4} {kinds[:4]}  "
                f"peak server connections {r['peak']:>3}  all open in {r['all_open_s']:5.2f} s  "
                f"API during the storm: {r['api']}",
                flush=True,
            )
        base, now = results
        print(
            f"ratio: errors {len(base['errors'])} -> {len(now['errors'])}; peak connections "
            f"{base['peak']} -> {now['peak']} (pool {pool}; goal: 0 errors, peak <= pool + a few)"
        )
    finally:
        cluster.stop()
        if tmp is not None:
            shutil.rmtree(tmp, ignore_errors=True)


def storm_once(cluster: Cluster, env: dict, tmp: Path, fixtures: tuple, extra: dict, n: int) -> dict:
    from pitchey_incidents.testing import free_port

    app_name = f"live-view-{time.monotonic_ns()}"
    port = free_port()
    server = start_server(env | extra | {"PGAPPNAME": app_name}, port, tmp)
    sampler = PeakConnections(cluster, app_name)
    sampler.start()
    try:
        result = asyncio.run(storm_round(Bench(port, *fixtures), n))
    finally:
        sampler.halt.set()
        sampler.join()
        server.terminate()
        try:
            server.wait(timeout=10)
        except subprocess.TimeoutExpired:
            server.kill()
    return result | {"peak": sampler.peak}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="2 changes per round (about a minute)")
    parser.add_argument("--clients", default="50,200")
    parser.add_argument("--changes", type=int, default=10)
    parser.add_argument("--database-url", default="", help="a scratch database (default: temporary SQLite)")
    parser.add_argument("--storm", type=int, default=0, help="N streams opened at once (a reconnect storm)")
    args = parser.parse_args()
    if args.storm:
        storm(args, args.storm)
        return
    changes = 2 if args.quick else args.changes
    sizes = [int(n) for n in args.clients.split(",")]

    env, tmp = setup(args)
    token, cookie, incident = make_fixtures()
    from pitchey_incidents.testing import free_port

    port = free_port()
    server = start_server(env, port, tmp)
    bench = Bench(port, token, cookie, incident)
    wake = "Redis pub/sub" if os.environ.get("REDIS_URL") else "database poll"
    print(f"live_view: uvicorn (1 process), {changes} changes per round, stream woken by {wake}")
    results = {}
    try:
        for n in sizes:
            for kind in ("sse", "poll"):
                r = asyncio.run(measure(bench, server.pid, kind, n, changes))
                results[(kind, n)] = r
                label = "SSE stream      " if kind == "sse" else "polling every 1s"
                print(
                    f"{label} N={n:>3}: p50 {pct(r['latencies'], 50) * 1000:6.0f} ms  "
                    f"p95 {pct(r['latencies'], 95) * 1000:6.0f} ms  "
                    f"every client p95 {pct(r['last'], 95) * 1000:6.0f} ms  "
                    f"server CPU {r['cpu']:5.1f}% of a core  threads {r['threads']}",
                    flush=True,
                )
    finally:
        server.terminate()
        try:
            server.wait(timeout=10)
        except subprocess.TimeoutExpired:
            server.kill()
    n = max(sizes)
    sse, poll = results[("sse", n)], results[("poll", n)]
    print(
        f"ratio at N={n}: polling p95 / SSE p95 = "
        f"{pct(poll['latencies'], 95) / max(pct(sse['latencies'], 95), 1e-6):.1f}x latency, "
        f"CPU {poll['cpu'] / max(sse['cpu'], 0.1):.1f}x"
    )


if __name__ == "__main__":
    main()
