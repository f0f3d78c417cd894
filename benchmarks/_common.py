"""Shared pieces of the benchmarks: a scratch PostgreSQL database, the production server, timing."""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import time
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
PG_BASE = os.environ.get("BENCH_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/postgres")


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(p / 100 * (len(ordered) - 1))))]


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
