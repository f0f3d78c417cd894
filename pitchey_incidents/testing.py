"""Test support: deadlines instead of sleeps, free ports, real worker and web-server processes.

Every process started here is stopped by its fixture; every wait has a deadline.
"""

from __future__ import annotations

import atexit
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import redis
from django.conf import settings
from django.db import connection

from .ports import free_port  # noqa: F401  (the tests' ports; re-exported)

ROOT = Path(__file__).resolve().parent.parent  # (benchmarks import this module before Django is set up)
ARTIFACTS = ROOT / "test-artifacts"  # screenshots the browser tests save (gitignored)
CHROMIUM_PATH = os.environ.get("CHROMIUM_PATH") or "/usr/bin/chromium"
# Headless Chromium on a machine with no network beyond loopback.
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def chromium_env() -> dict[str, str]:
    """Chromium's environment: ours, less a preloaded libfaketime (``make test-any-date``). Chromium does not
    run under it (it hangs, or its zygote cannot fork), so the browser keeps the machine's real clock."""
    return {k: v for k, v in os.environ.items() if not (k == "LD_PRELOAD" and "faketime" in v)}


def wait_for(
    condition: Callable[[], Any], *, timeout: float = 20.0, interval: float = 0.05, message: str = "condition"
) -> Any:
    """Poll ``condition`` until it returns something truthy; fail with ``message`` after ``timeout``."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {message}")
        time.sleep(interval)


def database_url_for_subprocess() -> str:
    """The URL of the database this test process uses (the test database), for child processes."""
    conf = connection.settings_dict
    if conf["ENGINE"].endswith("sqlite3"):
        return f"sqlite:///{conf['NAME']}"
    user = conf.get("USER") or ""
    password = f":{conf['PASSWORD']}" if conf.get("PASSWORD") else ""
    auth = f"{user}{password}@" if user else ""
    host = conf.get("HOST") or "localhost"
    port = f":{conf['PORT']}" if conf.get("PORT") else ""
    return f"postgresql://{auth}{host}{port}/{conf['NAME']}"


def child_env(**extra: str) -> dict[str, str]:
    """Environment for a child process that shares this test run's database, broker and queues."""
    env = dict(os.environ)
    env.update(
        {
            "DATABASE_URL": database_url_for_subprocess(),
            "CELERY_BROKER_URL": settings.CELERY_BROKER_URL,
            "CELERY_QUEUE_PREFIX": settings.CELERY_QUEUE_PREFIX,
            "BROKER_DIR": str(settings.BROKER_DIR),
            "VAR_DIR": str(settings.VAR_DIR),
            # This test process's own folders (settings.py: one per test process), not the checkout's var/.
            "BACKUP_DIR": str(settings.BACKUP_DIR),
            "PITR_SPOOL_DIR": str(settings.PITR_SPOOL_DIR),
            "PITR_RESTORE_DIR": str(settings.PITR_RESTORE_DIR),
            "SECRET_KEY": settings.SECRET_KEY,
            "DEBUG": "0",
            "PYTHONUNBUFFERED": "1",
        }
    )
    env.update({k: str(v) for k, v in extra.items()})
    return env


# --- Parallel runs (pytest-xdist: ``make test``) --------------------------------------------------------
REDIS_DATABASES = 16  # a Redis server's databases when its configuration cannot be read (Redis's default)


def redis_db(url: str) -> int | None:
    """The database number a ``redis://`` URL names (0 when none); None for any other URL."""
    parts = urlsplit(url)
    if parts.scheme not in ("redis", "rediss"):
        return None
    path = parts.path.strip("/")
    return int(path) if path.isdigit() else int(dict(parse_qsl(parts.query)).get("db") or 0)


def with_redis_db(url: str, db: int) -> str:
    parts = urlsplit(url)
    query = urlencode([(k, v) for k, v in parse_qsl(parts.query) if k != "db"])
    return urlunsplit(parts._replace(path=f"/{db}", query=query))


def redis_databases(url: str) -> int:
    """How many databases the Redis server at ``url`` has (``CONFIG GET databases``, else Redis's default)."""
    try:
        with redis.Redis.from_url(url, socket_timeout=2, socket_connect_timeout=2) as client:
            return int(client.config_get("databases").get("databases") or REDIS_DATABASES)
    except (redis.RedisError, ValueError):
        return REDIS_DATABASES


def parallel_worker_env(index: int, workers: int, *, databases: int | None = None) -> dict[str, str]:
    """The environment of parallel test worker ``index`` of ``workers``, set before it reads the settings
    (and inherited by every process its tests start): the Celery broker and ``REDIS_URL`` on Redis databases
    of its own (the configured ones, moved up ``index`` times the span they cover), and a scratch database
    of its own for the cache drill (``DRILL_REDIS_DB``, counting down from the configured one past every
    database the workers use). ValueError when the server has too few databases for that."""
    urls = {name: getattr(settings, name) for name in ("CELERY_BROKER_URL", "REDIS_URL")}
    bases = {name: db for name, url in urls.items() if (db := redis_db(url)) is not None}
    if not bases:
        return {}  # the embedded broker and no Redis: folders and queues are per process already
    databases = databases or redis_databases(next(urls[name] for name in bases))
    span = max(bases.values()) - min(bases.values()) + 1
    used = {db + worker * span for db in bases.values() for worker in range(workers)}
    scratch = [db for db in range(min(settings.DRILL_REDIS_DB, databases - 1), -1, -1) if db not in used]
    if max(used) >= databases or (len(scratch) < workers and not settings.DRILL_REDIS_URL):
        raise ValueError(
            f"{workers} parallel test workers need Redis databases {min(used)}-{max(used)} and {workers} "
            f"scratch ones, and the server has {databases}: use a lower database number in "
            "CELERY_BROKER_URL/REDIS_URL, or fewer workers (-n)"
        )
    env = {name: with_redis_db(urls[name], db + index * span) for name, db in bases.items()}
    if not settings.DRILL_REDIS_URL:
        env["DRILL_REDIS_DB"] = str(scratch[index])
    return env


# What a test process started and has not stopped yet (servers, workers, clusters): each with what
# ends it at once. A test stops its own; these run only when the test process itself goes first.
_LEFT_RUNNING: dict[int, Callable[[], None]] = {}


def left_running(key: object, end: Callable[[], None]) -> None:
    """Note that ``end()`` must run should this test process exit before it ends ``key`` itself."""
    _LEFT_RUNNING[id(key)] = end


def ended(key: object) -> None:
    _LEFT_RUNNING.pop(id(key), None)


def end_what_is_left() -> None:
    while _LEFT_RUNNING:
        _, end = _LEFT_RUNNING.popitem()
        try:
            end()
        except Exception:  # the rest still gets its turn
            pass


def install_exit_cleanup() -> None:
    """At exit, and on SIGTERM (a CI timeout, say, which Python would otherwise die of without a
    word), end what this process's tests left running; then SIGTERM ends the process as it would
    have. The servers run in sessions of their own, so a signal to pytest alone never reaches them."""
    atexit.register(end_what_is_left)

    def on_sigterm(signum, frame):
        end_what_is_left()
        signal.signal(signum, signal.SIG_DFL)
        os.kill(os.getpid(), signum)

    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, on_sigterm)


class Proc:
    """A child process with its log file; ``stop()`` ends it, ``kill()`` sends SIGKILL."""

    def __init__(
        self,
        argv: list[str],
        *,
        env: dict[str, str],
        log_path: Path,
        ready: str | None = None,
        timeout: float = 30.0,
        wait: bool = True,
    ):
        """``ready``: what the process prints once it is ready, waited for up to ``timeout`` unless ``wait``
        is false (then ``wait_ready()`` does it: processes started together get ready side by side)."""
        self.argv = argv
        self.log_path = log_path
        self.ready, self.timeout = ready, timeout
        self._log = open(log_path, "ab")
        self.popen = subprocess.Popen(
            argv, cwd=ROOT, env=env, stdout=self._log, stderr=subprocess.STDOUT, start_new_session=True
        )
        left_running(self, self._kill_group)
        if ready and wait:
            self.wait_ready()

    def wait_ready(self) -> Proc:
        wait_for(
            lambda: self.ready in self.log() or self.popen.poll() is not None,
            timeout=self.timeout,
            message=f"{self.argv[0]} to print {self.ready!r}",
        )
        if self.popen.poll() is not None:
            raise AssertionError(f"{' '.join(self.argv[:3])} exited early:\n{self.log()[-3000:]}")
        return self

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def _kill_group(self) -> None:
        try:
            os.killpg(self.popen.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass

    def kill(self) -> None:
        """SIGKILL the whole process group (the worker and its pool children), as a crash would."""
        if self.popen.poll() is None:
            os.killpg(self.popen.pid, signal.SIGKILL)
            self.popen.wait(timeout=10)
        ended(self)

    def stop(self, timeout: float = 10.0) -> None:
        if self.popen.poll() is None:
            os.killpg(self.popen.pid, signal.SIGTERM)
            try:
                self.popen.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.kill()
        ended(self)
        self._log.close()


def start_worker(
    tmp_path: Path,
    *,
    queues: str = "critical,default,long",
    concurrency: int = 1,
    name: str = "w1",
    pool: str = "prefork",
    beat: bool = False,
    wait: bool = True,
    **env: str,
) -> Proc:
    hostname = f"{name}-{os.getpid()}@%h"
    argv = [
        sys.executable,
        "-m",
        "celery",
        "-A",
        "pitchey_incidents",
        "worker",
        "-Q",
        queues,
        "--concurrency",
        str(concurrency),
        "--pool",
        pool,
        "--hostname",
        hostname,
        "--loglevel",
        "INFO",
        "--without-gossip",
        "--without-mingle",
    ]
    if beat:  # embedded beat on a file schedule: CELERY_BEAT_SCHEDULE without the database scheduler
        argv += ["-B", "-s", str(tmp_path / f"beat-{name}"), "--scheduler", "celery.beat:PersistentScheduler"]
    # Celery runs Django's system checks at every worker start (the URLconf with every view, our checks'
    # queries: a fifth of the start-up); they are tested through `manage.py check`, and the Procfile's worker
    # still runs them where `make run` is tested.
    env = {"CELERY_SKIP_CHECKS": "1", **env}
    log_path = tmp_path / f"worker-{name}.log"
    return Proc(argv, env=child_env(**env), log_path=log_path, ready="ready.", timeout=60, wait=wait)


def task_runs(worker: Proc, task: str) -> int:
    """How many runs of ``task`` the worker's log shows finished."""
    return len(re.findall(rf"Task {re.escape(task)}\[[\w-]+\] succeeded", worker.log()))


def wait_for_task_runs(worker: Proc, task: str, *, runs: int = 2, timeout: float = 30.0) -> None:
    """Wait until ``task`` has finished ``runs`` more times on ``worker``: with two, at least one whole run
    started after this call, so it saw whatever the test had committed before calling."""
    done = task_runs(worker, task)
    wait_for(lambda: task_runs(worker, task) >= done + runs, timeout=timeout, message=f"{runs} more runs of {task}")


def uvicorn_argv(port: int, *, workers: int = 1) -> list[str]:
    """The production web server (uvicorn on the ASGI app, as the Procfile runs it) on ``port``."""
    argv = [sys.executable, "-m", "uvicorn", "pitchey_incidents.asgi:application", "--host", "127.0.0.1"]
    return argv + ["--port", str(port), "--workers", str(workers), "--log-level", "warning", "--no-access-log"]


def start_web(tmp_path: Path, *, port: int | None = None, **env: str) -> tuple[Proc, str]:
    """The production web server on a free port. Returns (proc, base URL)."""
    port = port or free_port()
    argv = uvicorn_argv(port)
    proc = Proc(argv, env=child_env(DEBUG="1", **env), log_path=tmp_path / f"web-{port}.log")
    base = f"http://127.0.0.1:{port}"

    def up() -> bool:
        if proc.popen.poll() is not None:
            raise AssertionError(f"web server exited:\n{proc.log()[-3000:]}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return True
        except OSError:
            return False

    wait_for(up, timeout=30, message="the web server to listen")
    return proc, base


def start_redis(tmp_path: Path, port: int | None = None) -> tuple[Proc, str]:
    """A throwaway redis-server on a free port (so flushing or stopping it harms nobody)."""

    port = port or free_port()
    argv = [
        "redis-server",
        "--port",
        str(port),
        "--bind",
        "127.0.0.1",
        "--save",
        "",
        "--appendonly",
        "no",
        "--dir",
        str(tmp_path),
        "--repl-diskless-sync-delay",  # a snapshot for redis-cli --rdb at once, not after Redis 7's 5 s
        "0",
    ]
    proc = Proc(argv, env={"PATH": "/usr/bin:/bin"}, log_path=tmp_path / f"redis-{port}.log")
    url = f"redis://127.0.0.1:{port}/0"

    def up():
        try:
            return redis.Redis.from_url(url, socket_timeout=0.5).ping()
        except redis.RedisError:
            return False

    wait_for(up, timeout=20, message="redis-server to answer PING")
    return proc, url


class ClosingServer:
    """Accepts connections on a free loopback port, counts them and closes each at once: a server
    that refuses every client, to count how often a client tries."""

    def __init__(self):
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(64)
        self.url = f"redis://127.0.0.1:{self.sock.getsockname()[1]}/0"
        self.accepted = 0
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self):
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.accepted += 1
            conn.close()

    def close(self):
        self.sock.close()
