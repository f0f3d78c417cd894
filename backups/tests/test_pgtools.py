"""Which pg_dump, pg_dumpall and pg_restore run: Debian's wrapper asked once, then its choice directly."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from backups import pgtools

WRAPPER = shutil.which("pg_dump")
ON_DEBIAN = bool(WRAPPER) and Path(WRAPPER).resolve().name == "pg_wrapper"


def _version(argv: list[str]) -> str:
    return subprocess.run([*argv, "--version"], capture_output=True, text=True, check=True).stdout.strip()


@pytest.fixture
def path_first(tmp_path, monkeypatch, settings):
    """A folder put first on PATH (a PATH of its own: the choice is made again for it)."""
    settings.PG_BINDIR = ""
    folder = tmp_path / "bin"
    folder.mkdir()
    monkeypatch.setenv("PATH", f"{folder}{os.pathsep}{os.environ['PATH']}")
    return folder


@pytest.fixture
def logged_wrapper(path_first, tmp_path):
    """Debian's wrapper first on PATH under each name, writing down every run in ``calls``."""
    calls, real = tmp_path / "calls", tmp_path / "real"
    real.mkdir()
    logging_wrapper = path_first / "pg_wrapper"  # named as Debian's: logs each run, then runs the real one
    logging_wrapper.write_text(f'#!/bin/sh\necho "$0 $*" >> {calls}\nexec {real}/$(basename "$0") "$@"\n')
    logging_wrapper.chmod(0o755)
    for name in ("pg_dump", "pg_dumpall", "pg_restore"):
        (path_first / name).symlink_to(logging_wrapper)
        (real / name).symlink_to(Path(WRAPPER).resolve())  # the real wrapper knows the program by its name
    return calls


def _installed(root: Path, major: str, *versions: str) -> None:
    """Client programs under ``root/<version>/bin``: the real ones of ``major``, the version the wrapper runs."""
    for version in versions:
        (root / version / "bin").mkdir(parents=True)
        for name in ("pg_dump", "pg_dumpall", "pg_restore"):
            (root / version / "bin" / name).symlink_to(Path("/usr/lib/postgresql", major, "bin", name))


@pytest.mark.skipif(not ON_DEBIAN, reason="pg_dump on PATH is not Debian's pg_wrapper")
def test_with_several_versions_the_wrapper_is_asked_once_and_its_choice_runs_directly(
    logged_wrapper, tmp_path, monkeypatch
):
    major = _version(["pg_dump"]).split()[2].split(".")[0]  # what the wrapper picks here
    _installed(tmp_path / "pg", major, major, "9.6")
    monkeypatch.setattr(pgtools, "DEBIAN_ROOT", tmp_path / "pg")
    logged_wrapper.unlink(missing_ok=True)
    ran = {name: pgtools.program(name) for name in ("pg_dump", "pg_dumpall", "pg_restore", "pg_restore")}
    said = pgtools.version("pg_dump")
    assert logged_wrapper.read_text().split() == [str(tmp_path / "bin" / "pg_dump"), "--version"]  # once
    assert said == _version(["pg_dump"])  # the wrapper's own answer
    for name, path in ran.items():
        assert path == str(tmp_path / "pg" / major / "bin" / name)
        assert _version([path]) == _version([name])  # the very program the wrapper would have run


@pytest.mark.skipif(not ON_DEBIAN, reason="pg_dump on PATH is not Debian's pg_wrapper")
def test_with_one_version_it_runs_without_asking_the_wrapper(logged_wrapper, tmp_path, monkeypatch):
    said = _version(["pg_dump"])
    major = said.split()[2].split(".")[0]
    _installed(tmp_path / "pg", major, major)
    monkeypatch.setattr(pgtools, "DEBIAN_ROOT", tmp_path / "pg")
    logged_wrapper.unlink(missing_ok=True)
    assert pgtools.program("pg_restore") == str(tmp_path / "pg" / major / "bin" / "pg_restore")
    assert pgtools.version("pg_dump") == said
    assert not logged_wrapper.exists()  # neither for the program nor for its version
    monkeypatch.setenv("PGCLUSTER", f"{major}/main")  # a cluster named: the wrapper decides
    pgtools.program("pg_restore")
    assert logged_wrapper.read_text().split() == [str(tmp_path / "bin" / "pg_dump"), "--version"]


def test_pg_bindir_names_the_programs(path_first, settings):
    settings.PG_BINDIR = str(path_first)
    assert pgtools.program("pg_restore") == str(path_first / "pg_restore")


def test_programs_that_are_not_the_wrapper_run_by_name(path_first):
    fake = path_first / "pg_restore"  # a pg_restore of one's own first on PATH: PATH decides for each program
    fake.write_text("#!/bin/sh\nexit 3\n")
    fake.chmod(0o755)
    assert pgtools.program("pg_restore") == "pg_restore"
    if ON_DEBIAN:  # pg_dump is still the wrapper: its choice runs
        assert Path(pgtools.program("pg_dump")).is_absolute()
    real = next(Path("/usr/lib/postgresql").glob("*/bin/pg_dump"), None) if ON_DEBIAN else Path(WRAPPER)
    (path_first / "pg_dump").symlink_to(real)  # a plain pg_dump first on PATH, as on other systems
    assert pgtools.program("pg_dump") == "pg_dump"
    assert pgtools.version("pg_dump") == _version([str(real)])
