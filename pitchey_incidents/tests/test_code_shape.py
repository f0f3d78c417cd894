"""The shape of the code in the application packages.

- No function longer than ``MAX_FUNCTION_LINES``. A function's length runs from its ``def`` line to
  the last line of its body, docstring included. An operation with several steps reads as one short
  function calling one function per step.
- Imports sit at the top of the module; the few inside a function are listed, each with why. An
  import inside a function to break a circle is a sign the arrows point both ways.
- No module reaches into another module's private names (``other._helper``): what a layer offers
  the layers above is public, so a path through the code never doubles back into another module's
  internals."""

from __future__ import annotations

import ast
from pathlib import Path
from typing import NamedTuple

BASE_DIR = Path(__file__).resolve().parents[2]
# The packages held to the limit, relative to the project root (their tests and migrations included).
PACKAGE_ROOTS = ("incidents", "backups", "recovery", "pitchey_incidents")
MAX_FUNCTION_LINES = 40
# Known exceptions, ``path:function`` → why; an entry goes as soon as its function is short again.
ALLOWED_LONG: dict[str, str] = {}
# Imports inside a function, ``path:function`` → why (migrations aside: they are history).
ALLOWED_LOCAL_IMPORTS: dict[str, str] = {
    "incidents/apps.py:ready": "Django's place to load subscribers and tasks, once the models are loaded",
    "backups/storage/__init__.py:s3_client": "boto3 costs commands that only use local storage a third of a second",
    "backups/storage/s3.py:put": "boto3's transfer manager, for the same reason",
    "pitchey_incidents/jobs.py:celery_app": "Celery loads on first use, not with Django",
    "pitchey_incidents/redis.py:lib": "the redis package (0.07 s of CPU) loads on first use: a command on the "
    "embedded defaults never talks to Redis",
    "pitchey_incidents/http.py:request": "requests and urllib3 (about 100 modules) load on the first outgoing "
    "request, not with every command: a backup or a restore sends none",
    "backups/management/commands/backup.py:_as_json": "DRF and its imports (about 150 modules) load only "
    "for --json: a backup or a restore that prints a line does without them",
    "incidents/detection/probes/http.py:health_sample": "requests, as above: the detection drill loads this module",
    "pitchey_incidents/apps.py:ready": "Django's place to connect the login signal, once the models are loaded",
    "incidents/comms/models.py:unconfigured": "the same: the channel registry imports these models",
    "incidents/comms/inbound.py:pagerduty_webhook": "the PagerDuty channel imports this module's origin at its top",
    **{
        f"pitchey_incidents/tests/test_registry.py:{name}": "when the family's modules are imported is the subject"
        for name in (
            "test_modules_load_on_first_lookup_in_the_declared_order",
            "test_an_unknown_name_is_a_domain_error_listing_the_known_ones",
            "test_one_instance_per_name_until_a_setting_changes",
        )
    },
}
# Underscored names that are public API all the same.
PUBLIC_UNDERSCORED = {"_meta"}


class LongFunction(NamedTuple):
    path: str  # relative to the root's parent: ``backups/restore.py``
    line: int
    name: str
    lines: int

    @property
    def key(self) -> str:
        return f"{self.path}:{self.name}"

    def __str__(self) -> str:
        return f"{self.path}:{self.line} {self.name} ({self.lines} lines)"


def long_functions(root: Path, limit: int = MAX_FUNCTION_LINES) -> list[LongFunction]:
    """Every function (method, nested function) under ``root`` longer than ``limit`` lines."""
    found = []
    for path in sorted(root.rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        for node in ast.walk(tree):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                lines = node.end_lineno - node.lineno + 1
                if lines > limit:
                    found.append(LongFunction(str(path.relative_to(root.parent)), node.lineno, node.name, lines))
    return found


def test_no_function_is_longer_than_the_limit():
    found = [function for package in PACKAGE_ROOTS for function in long_functions(BASE_DIR / package)]
    unexpected = [str(function) for function in found if function.key not in ALLOWED_LONG]
    assert not unexpected, f"functions over {MAX_FUNCTION_LINES} lines:\n" + "\n".join(unexpected)
    fixed = set(ALLOWED_LONG) - {function.key for function in found}
    assert not fixed, f"no longer over {MAX_FUNCTION_LINES} lines, remove from ALLOWED_LONG: {sorted(fixed)}"


def _modules(root: Path, *, tests: bool = True) -> list[tuple[str, ast.Module]]:
    found = []
    for path in sorted(root.rglob("*.py")):
        if "migrations" in path.parts or (not tests and "tests" in path.parts):
            continue
        found.append((str(path.relative_to(root.parent)), ast.parse(path.read_text(encoding="utf-8"))))
    return found


def local_imports(root: Path) -> list[str]:
    """``path:function`` of every function under ``root`` (migrations aside) with an import in it."""
    found = []
    for path, tree in _modules(root):
        for node in ast.walk(tree):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and any(
                isinstance(inner, ast.Import | ast.ImportFrom) for inner in ast.walk(node)
            ):
                found.append(f"{path}:{node.name}")
    return sorted(set(found))


def private_reaches(root: Path) -> list[str]:
    """``path:line name`` wherever code under ``root`` (tests aside) imports another module's private
    name or reads one off an imported name."""
    found = []
    for path, tree in _modules(root, tests=False):
        imported = set()
        for node in ast.walk(tree):
            if isinstance(node, ast.Import | ast.ImportFrom):
                for alias in node.names:
                    name = alias.asname or alias.name.split(".")[0]
                    imported.add(name)
                    if isinstance(node, ast.ImportFrom) and _private(alias.name):
                        found.append(f"{path}:{node.lineno} {alias.name}")
        for node in ast.walk(tree):
            if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and _private(node.attr):
                if node.value.id in imported:
                    found.append(f"{path}:{node.lineno} {node.value.id}.{node.attr}")
    return found


def _private(name: str) -> bool:
    return name.startswith("_") and not name.startswith("__") and name not in PUBLIC_UNDERSCORED


def test_imports_sit_at_the_top_of_the_module():
    found = [key for package in PACKAGE_ROOTS for key in local_imports(BASE_DIR / package)]
    unexpected = [key for key in found if key not in ALLOWED_LOCAL_IMPORTS]
    assert not unexpected, "imports inside functions (move them up, or fix the arrows):\n" + "\n".join(unexpected)
    fixed = set(ALLOWED_LOCAL_IMPORTS) - set(found)
    assert not fixed, f"no import inside these any more, remove from ALLOWED_LOCAL_IMPORTS: {sorted(fixed)}"


def test_no_module_reaches_into_another_modules_privates():
    found = [reach for package in PACKAGE_ROOTS for reach in private_reaches(BASE_DIR / package)]
    assert not found, "private names used from outside their module (make them public services):\n" + "\n".join(found)


def test_the_import_checks_find_what_they_look_for(tmp_path):
    package = tmp_path / "package"
    (package / "migrations").mkdir(parents=True)
    (package / "tests").mkdir()
    (package / "a.py").write_text("import os\n\n\ndef f():\n    import json\n")
    (package / "b.py").write_text("from package import a\nfrom package.a import _g\n\nx = a._h()\ny = a._meta\n")
    (package / "migrations" / "0001.py").write_text("def f():\n    import json\n")
    (package / "tests" / "test_a.py").write_text("from package import a\n\nx = a._h()\n")
    assert local_imports(package) == ["package/a.py:f"]
    assert private_reaches(package) == ["package/b.py:2 _g", "package/b.py:4 a._h"]


def _function(name: str, body_lines: int, indent: str = "") -> str:
    body = "".join(f"{indent}    x{n} = {n}\n" for n in range(body_lines))
    return f"{indent}def {name}():\n{body}"


def test_the_check_counts_from_def_to_the_last_line_of_the_body(tmp_path):
    package = tmp_path / "package"
    package.mkdir()
    (package / "short.py").write_text(_function("at_the_limit", MAX_FUNCTION_LINES - 1))
    (package / "long.py").write_text("class A:\n" + _function("one_over", MAX_FUNCTION_LINES, indent="    "))
    found = long_functions(package)
    assert [str(function) for function in found] == [f"package/long.py:2 one_over ({MAX_FUNCTION_LINES + 1} lines)"]
    assert found[0].key == "package/long.py:one_over"
