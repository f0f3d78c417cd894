"""The stock PostgreSQL tools and the arithmetic of WAL: where the binaries are, how a command runs
as the server's user, LSNs and segment names."""

from __future__ import annotations

import glob
import os
import pwd
import re
import shutil
from pathlib import Path

from django.conf import settings

from ..targets import split_password
from . import source_url as configured_url

SEGMENT = re.compile(r"^[0-9A-F]{24}$")
DEFAULT_SEGMENT_SIZE = 16 << 20


def pg_bin(name: str) -> str:
    """``PG_BINDIR/name``, else the one on PATH, else the newest under /usr/lib/postgresql."""
    if settings.PG_BINDIR:
        return str(Path(settings.PG_BINDIR) / name)
    found = shutil.which(name)
    if found:
        return found
    candidates = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"), key=lambda p: int(p.split("/")[4]))
    return candidates[-1] if candidates else name


def source_url() -> str:
    url = configured_url()
    if not url:
        raise RuntimeError("continuous archiving is off: set PITR_DATABASE_URL (a role with REPLICATION)")
    return url


def tool_env(url: str) -> tuple[str, dict]:
    """The URL without its password, and an environment carrying it (never on a command line)."""
    bare, password = split_password(url)
    env = dict(os.environ)
    if password:
        env["PGPASSWORD"] = password
    return bare, env


def as_server_user(argv: list[str]) -> list[str]:
    """PostgreSQL refuses to run as root: then the server runs as ``PITR_SERVER_USER``."""
    if os.geteuid() == 0:
        return ["runuser", "-u", settings.PITR_SERVER_USER, "--", *argv]
    return argv


def give_to_server_user(*paths: Path) -> None:
    if os.geteuid() != 0:
        return
    entry = pwd.getpwnam(settings.PITR_SERVER_USER)
    for root in paths:
        os.chown(root, entry.pw_uid, entry.pw_gid)
        for dirpath, dirnames, filenames in os.walk(root):
            for name in dirnames + filenames:
                os.lchown(os.path.join(dirpath, name), entry.pw_uid, entry.pw_gid)


def lsn_to_int(lsn: str) -> int:
    high, low = lsn.split("/")
    return (int(high, 16) << 32) | int(low, 16)


def segment_name(timeline: int, lsn: int, segment_size: int = DEFAULT_SEGMENT_SIZE) -> str:
    per_id = (1 << 32) // segment_size
    segno = lsn // segment_size
    return f"{timeline:08X}{segno // per_id:08X}{segno % per_id:08X}"


def segment_number(name: str, segment_size: int = DEFAULT_SEGMENT_SIZE) -> int:
    per_id = (1 << 32) // segment_size
    return int(name[8:16], 16) * per_id + int(name[16:24], 16)


def segment_after(name: str, segment_size: int = DEFAULT_SEGMENT_SIZE) -> str:
    per_id = (1 << 32) // segment_size
    segno = segment_number(name, segment_size) + 1
    return f"{name[:8]}{segno // per_id:08X}{segno % per_id:08X}"
