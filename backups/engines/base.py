"""An engine turns one target into stored parts (files) of a backup, each described for the manifest."""

from __future__ import annotations

import os
import subprocess
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from pitchey_incidents.registry import Registry

from ..pipeline import Reporter


class BackupFailed(Exception):
    """The backup cannot be completed; the message says why in one line."""


@dataclass
class Context:
    workdir: Path  # scratch space on the backup volume, removed afterwards
    outdir: Path  # where finished files are renamed into
    stem: str  # every file of the backup starts with this
    compression: str
    level: int
    reporter: Reporter
    snapshot_at: datetime | None = None  # the oldest snapshot taken by any part
    info: dict = field(default_factory=dict)  # extra manifest fields (versions, target)

    def suffix(self) -> str:
        return ".zst" if self.compression == "zstd" else ".gz"

    def took_snapshot(self, at: datetime) -> None:
        if self.snapshot_at is None or at < self.snapshot_at:
            self.snapshot_at = at


class Engine(ABC):
    name = ""

    @abstractmethod
    def run(self, ctx: Context) -> list[dict]:
        """Write this engine's parts into ``ctx.outdir``; return their manifest entries."""
        ...


REGISTRY: Registry[Engine] = Registry(
    "engine", package=__package__, modules=("database", "files", "sessions", "basebackup")
)
register = REGISTRY.register


def run_checked(
    argv: list[str], *, env: dict, output: Path, ctx: Context, phase: str, expected: int, to_stdout: bool = True
) -> None:
    """Run a dump tool writing ``output`` (its stdout, or a file it names itself); watch its size for
    progress; fail on a non-zero exit or an empty output."""
    stdout_path = output
    err_path = output.with_suffix(output.suffix + ".stderr")
    with open(err_path, "wb") as err, open(output if to_stdout else os.devnull, "wb") as out:
        ctx.reporter.start(phase, expected)
        try:
            proc = subprocess.Popen(argv, env=env, stdout=out, stderr=err, stdin=subprocess.DEVNULL)
        except FileNotFoundError:
            raise BackupFailed(f"{argv[0]} is not installed") from None
        while True:
            try:
                proc.wait(timeout=0.25)
                break
            except subprocess.TimeoutExpired:
                ctx.reporter.set(_size(stdout_path))
        ctx.reporter.set(_size(stdout_path))
    if proc.returncode != 0:
        message = err_path.read_text(errors="replace").strip().splitlines()
        raise BackupFailed(f"{Path(argv[0]).name} exited {proc.returncode}: {message[-1] if message else 'no output'}")
    if _size(stdout_path) == 0:
        raise BackupFailed(f"{Path(argv[0]).name} wrote nothing")


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except FileNotFoundError:
        return 0
