"""Shared pieces of the benchmarks: a scratch PostgreSQL database, the production server, timing,
local stand-ins for outside services, and Django on a throwaway test database."""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Hashable, Iterable
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
PG_BASE = os.environ.get("BENCH_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/postgres")


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(p / 100 * (len(ordered) - 1))))]


def latency_line(name: str, values: list[float], width: int = 28) -> str:
    return f"{name:<{width}} p50 {percentile(values, 50) * 1000:7.1f} ms  p95 {percentile(values, 95) * 1000:7.1f} ms"


def summary(values: list[float]) -> str:
    return (
        f"p50 {percentile(values, 50) * 1000:7.1f} ms  p95 {percentile(values, 95) * 1000:7.1f} ms  "
        f"mean {statistics.fmean(values) * 1000:7.1f} ms  n={len(values)}"
    )


@contextmanager
def scratch_database(prefix: str):
    import psycopg

    name = f"{prefix}_{os.getpid()}"
    with psycopg.connect(PG_BASE, autocommit=True) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}"')
        admin.execute(f'CREATE DATABASE "{name}"')
    url = PG_BASE.rsplit("/", 1)[0] + "/" + name
    try:
        yield url
    finally:
        with psycopg.connect(PG_BASE, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def env_for(database_url: str, **extra: str) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        {
            "DATABASE_URL": database_url,
            "DEBUG": "0",
            "SECRET_KEY": "bench-" + "x" * 50,
            "ALLOWED_HOSTS": "127.0.0.1,localhost",
            "VAR_DIR": str(ROOT / "var" / "bench"),
        }
    )
    env.update(extra)
    return env


def manage(env: dict[str, str], *args: str, input: str | None = None) -> str:
    done = subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        input=input,
        check=False,
    )
    if done.returncode != 0:
        raise SystemExit(f"manage.py {' '.join(args)} failed:\n{done.stderr[-2000:]}")
    return done.stdout


@contextmanager
def production_server(env: dict[str, str], *, workers: int = 2):
    """uvicorn on the ASGI app, as `make run`/docker-compose start it."""
    from pitchey_incidents.testing import free_port, uvicorn_argv

    port = free_port()
    proc = subprocess.Popen(
        uvicorn_argv(port, workers=workers),
        cwd=ROOT,
        env=env,
        start_new_session=True,
    )
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    import requests

    while True:
        try:
            requests.get(base + "/healthz", timeout=1)
            break
        except requests.RequestException:
            if time.monotonic() > deadline or proc.poll() is not None:
                proc.kill()
                raise SystemExit("the server did not start") from None
            time.sleep(0.2)
    try:
        yield base, proc
    finally:
        os.killpg(proc.pid, 15)
        proc.wait(timeout=20)


# What a stand-in answers a POST with: (what it is about, status, body, extra headers).
Answer = tuple[Hashable, int, bytes, dict[str, str]]


class FirstArrivals:
    """A local HTTP server standing in for outside services. ``answer(path, body)`` says what each POST
    is about and what to send back; ``first`` keeps when the first POST about each key arrived
    (``time.perf_counter()``, taken before the body is read)."""

    def __init__(self, answer: Callable[[str, bytes], Answer]):
        self.first: dict[Hashable, float] = {}
        self.lock = threading.Lock()
        arrivals = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            disable_nagle_algorithm = True  # answer at once, not after a delayed ACK

            def log_message(self, *args):
                pass

            def do_POST(self):
                at = time.perf_counter()
                raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                key, status, data, headers = answer(self.path, raw)
                with arrivals.lock:
                    arrivals.first.setdefault(key, at)
                self.send_response(status)
                for name, value in headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()

    def stop(self) -> None:
        self.server.shutdown()


def wait_until(done: Callable[[], bool], failure: str, seconds: float = 30) -> None:
    """Poll ``done`` every 2 ms; exit with ``failure`` if it is still false after ``seconds``."""
    deadline = time.monotonic() + seconds
    while not done():
        if time.monotonic() > deadline:
            raise SystemExit(failure)
        time.sleep(0.002)


@contextmanager
def django_test_database(name: str, env: dict[str, str], blank: Iterable[str] = ()):
    """Django set up in this process with ``env`` (``blank`` settings emptied, ``TESTING`` on: a per-run
    broker key prefix and queue folder, never another run's queues) on a throwaway test database:
    ``bench_<name>_<pid>`` on PostgreSQL when DATABASE_URL is one, else a SQLite file in a new
    ``VAR_DIR``. Yields the settings; the database is dropped afterwards."""
    os.environ.update({"TESTING": "1", "VAR_DIR": tempfile.mkdtemp(prefix=f"{name}-bench-"), **env})
    for setting in blank:
        os.environ[setting] = ""
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "pitchey_incidents.settings")
    import django

    django.setup()
    from django.conf import settings
    from django.test.utils import setup_databases, teardown_databases

    settings.DATABASES["default"]["TEST"]["NAME"] = (
        f"bench_{name}_{os.getpid()}"
        if "postgresql" in settings.DATABASES["default"]["ENGINE"]
        else str(Path(os.environ["VAR_DIR"]) / "bench.sqlite3")
    )
    old = setup_databases(verbosity=0, interactive=False)
    try:
        yield settings
    finally:
        teardown_databases(old, verbosity=0)
