"""The local env file that `make run` writes on its first run (``$VAR_DIR/local.env``).

It holds a generated ``SECRET_KEY``, ``DEBUG=1`` and the port, so that every command of the README
(``manage.py …``, ``scripts/*.sh``, ``make test``) works in the state `make run` made. Settings read it
when present; a variable set in the real environment always wins over the file.

    python -m pitchey_incidents.localenv init              # write the file unless it exists
    python -m pitchey_incidents.localenv exec -- CMD ...   # run CMD with the file's values as defaults
    python -m pitchey_incidents.localenv url               # the address the web server answers on
"""

from __future__ import annotations

import os
import secrets
import sys
from collections.abc import MutableMapping
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent.parent
FILE_NAME = "local.env"


def path(environ: MutableMapping[str, str] | None = None) -> Path:
    environ = os.environ if environ is None else environ
    return Path(environ.get("VAR_DIR") or BASE_DIR / "var") / FILE_NAME


def parse(text: str) -> dict[str, str]:
    values: dict[str, str] = {}
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith("#") or "=" not in line:
            continue
        key, value = line.split("=", 1)
        key = key.strip().removeprefix("export ").strip()
        value = value.strip()
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
            value = value[1:-1]
        if key:
            values[key] = value
    return values


def load(environ: MutableMapping[str, str] | None = None) -> dict[str, str]:
    """Apply the file's values that the environment does not set; return what was applied."""
    environ = os.environ if environ is None else environ
    file = path(environ)
    try:
        text = file.read_text(encoding="utf-8")
    except (FileNotFoundError, NotADirectoryError):
        return {}
    applied = {key: value for key, value in parse(text).items() if key not in environ}
    environ.update(applied)
    return applied


def init(environ: MutableMapping[str, str] | None = None) -> tuple[Path, bool]:
    """Write the file with a new SECRET_KEY, DEBUG=1 and the port, unless it exists. (path, created)"""
    environ = os.environ if environ is None else environ
    file = path(environ)
    if file.exists():
        return file, False
    file.parent.mkdir(parents=True, exist_ok=True)
    body = (
        "# Written by `make run` on its first run. Every manage.py command, the scripts and `make test` read\n"
        "# it; a variable set in the environment wins. Delete this file to start again with a new key.\n"
        f"SECRET_KEY={secrets.token_urlsafe(50)}\n"
        "DEBUG=1\n"
        f"PORT={environ.get('PORT') or '8000'}\n"
    )
    fd = os.open(file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write(body)
    return file, True


def url(environ: MutableMapping[str, str] | None = None) -> str:
    """The address the web server of `make run` answers on (HOST and PORT honoured)."""
    environ = os.environ if environ is None else environ
    host = environ.get("HOST") or "127.0.0.1"
    if host in ("0.0.0.0", "::", ""):
        host = "localhost"
    elif ":" in host and not host.startswith("["):
        host = f"[{host}]"
    return f"http://{host}:{environ.get('PORT') or '8000'}"


def main(argv: list[str]) -> int:
    command = argv[0] if argv else ""
    if command == "init":
        file, created = init()
        print(f"{'Wrote' if created else 'Using'} {file}")
        return 0
    if command == "url":
        load()
        print(url())
        return 0
    if command == "exec":
        rest = argv[1:]
        if rest[:1] == ["--"]:
            rest = rest[1:]
        if not rest:
            print("localenv exec: nothing to run", file=sys.stderr)
            return 2
        load()
        os.execvp(rest[0], rest)
    print("usage: python -m pitchey_incidents.localenv init | url | exec -- COMMAND ...", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
