"""A scratch ``redis-server`` on a free loopback port, loading one RDB file: to count what a
sessions snapshot holds, and to prove a stored copy loads. Nothing is written back (no saves)."""

from __future__ import annotations

import contextlib
import re
import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

from pitchey_incidents.ports import free_port
from pitchey_incidents.redis import lib

if TYPE_CHECKING:
    import redis as redis_lib

LOAD_TIMEOUT_S = 120
KEYSPACE = re.compile(r"^db(\d+):keys=(\d+)", re.M)


class ScratchRedisError(Exception):
    pass


def key_counts(client: redis_lib.Redis) -> dict[str, int]:
    """Keys per database number (as strings, for JSON), from ``INFO keyspace``."""
    info = client.info("keyspace")
    return {name.removeprefix("db"): int(value["keys"]) for name, value in sorted(info.items())}


@contextlib.contextmanager
def scratch_server(rdb: Path) -> Iterator[redis_lib.Redis]:
    """``redis-server`` on a free port with ``rdb`` as its data (loaded at start); stopped and its
    folder left as it was afterwards. Yields a client once the data has loaded."""
    server = shutil.which("redis-server")
    if not server:
        raise ScratchRedisError("redis-server is not installed (Debian: redis-server)")
    port = free_port()
    argv = [server, "--port", str(port), "--bind", "127.0.0.1", "--dir", str(rdb.parent)]
    argv += ["--dbfilename", rdb.name, "--save", "", "--appendonly", "no", "--protected-mode", "yes"]
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    try:
        yield _loaded(proc, port)
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def _loaded(proc: subprocess.Popen, port: int) -> redis_lib.Redis:
    redis_lib = lib()  # on first use: a backup of anything else never loads the redis package
    client = redis_lib.Redis(host="127.0.0.1", port=port, socket_timeout=10)
    deadline = time.monotonic() + LOAD_TIMEOUT_S
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            said = (proc.stdout.read() or b"").decode(errors="replace").strip().splitlines()
            raise ScratchRedisError(f"redis-server refused the snapshot: {said[-1] if said else proc.returncode}")
        with contextlib.suppress(redis_lib.RedisError):
            if client.info("persistence").get("loading") == 0:
                return client
        time.sleep(0.05)
    raise ScratchRedisError(f"redis-server did not load the snapshot within {LOAD_TIMEOUT_S} s")
