"""A scratch ``redis-server`` loading one RDB file: to count what a sessions snapshot holds, and to
prove a stored copy loads. Nothing is written back (no saves). It listens on a Unix socket that only
this user may open, in a folder of its own, and on no TCP port: the snapshot holds people's sessions,
which no other local user should reach, and no port has to be found free first."""

from __future__ import annotations

import contextlib
import re
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

from pitchey_incidents.redis import lib, once

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
    """``redis-server`` with ``rdb`` as its data (loaded at start), on a Unix socket; stopped and its
    folder left as it was afterwards. Yields a client once the data has loaded."""
    server = shutil.which("redis-server")
    if not server:
        raise ScratchRedisError("redis-server is not installed (Debian: redis-server)")
    # Mode 0700, and a short path: a socket's path must be under 108 bytes, which a long TMPDIR is not.
    folder = Path(tempfile.mkdtemp(prefix="pitchey-redis-", dir=None if len(tempfile.gettempdir()) < 64 else "/tmp"))
    socket_path = folder / "redis.sock"
    argv = [server, "--port", "0", "--unixsocket", str(socket_path), "--unixsocketperm", "700"]
    argv += ["--dir", str(rdb.parent), "--dbfilename", rdb.name, "--save", "", "--appendonly", "no"]
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    try:
        yield _loaded(proc, socket_path)
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        shutil.rmtree(folder, ignore_errors=True)


def _loaded(proc: subprocess.Popen, socket_path: Path) -> redis_lib.Redis:
    redis_lib = lib()  # on first use: a backup of anything else never loads the redis package
    # One try per command (redis-py's default retries for seconds): this loop does the waiting.
    client = redis_lib.Redis(unix_socket_path=str(socket_path), socket_timeout=10, retry=once())
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
