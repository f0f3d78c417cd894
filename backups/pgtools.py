"""The PostgreSQL client programs that backups and restores run: pg_dump, pg_dumpall, pg_restore.

Debian and Ubuntu put ``pg_wrapper`` on PATH under each of these names: a Perl script that picks a
PostgreSQL version (``PGCLUSTER``, ``~/.postgresqlrc``, the local clusters, else the newest installed)
and then runs ``/usr/lib/postgresql/<version>/bin/<name>``. Its start costs about 40 ms of CPU (0.1 to
0.2 s on a loaded machine) at every run, and a restore runs pg_restore once per table. So where one
version of the client programs is installed (and ``PGCLUSTER`` does not name one), that is the one
the wrapper runs: it runs directly. Where several are, the wrapper is asked once per process which
it picks (``pg_dump --version``) and that version's programs run directly, as it would have run them.
``PG_BINDIR`` names their folder outright; without the wrapper, the names on PATH run as they are.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import threading
from pathlib import Path

from django.conf import settings

DEBIAN_ROOT = Path("/usr/lib/postgresql")  # <version>/bin/<program>
_lock = threading.Lock()
# (Debian's folder, PATH, what the wrapper reads) → (the programs' folder or None, pg_dump --version)
_resolved: dict[tuple, tuple[str | None, str]] = {}


def program(name: str) -> str:
    """What to run for ``name`` (``pg_dump``, ``pg_dumpall``, ``pg_restore``)."""
    if settings.PG_BINDIR:
        return str(Path(settings.PG_BINDIR, name))
    found = shutil.which(name)
    if not found or Path(found).resolve().name != "pg_wrapper":
        return name  # not Debian's wrapper: whatever PATH has runs
    folder, _ = _resolve()
    if folder and Path(folder, name).exists():
        return str(Path(folder, name))
    return name


def version(name: str) -> str:
    """``name --version`` of the program that runs for it ("" when it cannot run)."""
    _, line = _resolve()
    if name == "pg_dump" and line and not settings.PG_BINDIR:
        return line
    return _version_line([program(name)])


def _resolve() -> tuple[str | None, str]:
    key = (DEBIAN_ROOT, *(os.environ.get(k) for k in ("PATH", "PGCLUSTER", "PGHOST", "PGPORT", "HOME")))
    with _lock:
        if key not in _resolved:
            _resolved[key] = _wrapper_choice()
        return _resolved[key]


def _wrapper_choice() -> tuple[str | None, str]:
    found = shutil.which("pg_dump")
    if not found or Path(found).resolve().name != "pg_wrapper":
        return None, ""
    installed = list(DEBIAN_ROOT.glob("*/bin/pg_dump"))
    if len(installed) == 1 and not os.environ.get("PGCLUSTER"):
        return str(installed[0].parent), ""
    line = _version_line([found])
    match = re.search(r"\(PostgreSQL\) (\d+)\.(\d+)", line)
    if not match:
        return None, line
    major, minor = match.groups()
    folder = DEBIAN_ROOT / (major if int(major) >= 10 else f"{major}.{minor}") / "bin"
    return (str(folder) if (folder / "pg_dump").exists() else None), line


def _version_line(argv: list[str]) -> str:
    try:
        done = subprocess.run([*argv, "--version"], capture_output=True, text=True, timeout=10)
        return done.stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return ""
