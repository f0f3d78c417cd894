"""A real, throwaway PostgreSQL cluster for the point-in-time recovery tests: ``initdb`` into a
temporary folder, started on a free port with ``wal_level = replica`` and a replication role.
Run as the ``postgres`` OS user when the tests run as root (PostgreSQL refuses root)."""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from pathlib import Path

import psycopg

from backups.pitr.server import as_server_user, free_port, give_to_server_user, pg_bin

CONF = """
listen_addresses = '127.0.0.1'
unix_socket_directories = ''
wal_level = replica
max_wal_senders = 10
max_replication_slots = 10
fsync = off
shared_buffers = 16MB
log_min_messages = warning
"""


class Cluster:
    def __init__(self) -> None:
        self.root = Path(tempfile.mkdtemp(prefix="pitr-cluster-", dir="/tmp"))
        self.root.chmod(0o755)
        self.datadir = self.root / "source"
        self.port = free_port()

    def url(self, user: str = "postgres", db: str = "postgres") -> str:
        return f"postgresql://{user}@127.0.0.1:{self.port}/{db}"

    def _run(self, *argv: str) -> None:
        proc = subprocess.run(as_server_user(list(argv)), capture_output=True, text=True, stdin=subprocess.DEVNULL)
        if proc.returncode != 0:
            raise RuntimeError(f"{argv[0]} failed: {proc.stderr or proc.stdout}")

    def start(self) -> Cluster:
        give_to_server_user(self.root)
        self._run(pg_bin("initdb"), "-D", str(self.datadir), "-A", "trust", "-U", "postgres", "--no-sync")
        with open(self.datadir / "postgresql.conf", "a") as fh:
            fh.write(CONF + f"port = {self.port}\n")
        self._run(pg_bin("pg_ctl"), "start", "-w", "-t", "60", "-D", str(self.datadir), "-l", str(self.root / "log"))
        with psycopg.connect(self.url(), autocommit=True) as conn:
            conn.execute("CREATE ROLE replicator LOGIN REPLICATION")
        return self

    def sql(self, query: str, params=None):
        with psycopg.connect(self.url(), autocommit=True) as conn:
            cur = conn.execute(query, params)
            return cur.fetchall() if cur.description else None

    def stop(self) -> None:
        subprocess.run(
            as_server_user([pg_bin("pg_ctl"), "stop", "-m", "immediate", "-D", str(self.datadir)]),
            capture_output=True,
            stdin=subprocess.DEVNULL,
        )
        shutil.rmtree(self.root, ignore_errors=True)
