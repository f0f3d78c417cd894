"""The shape of the code: no function longer than ``MAX_FUNCTION_LINES`` in the application packages.

A function's length runs from its ``def`` line to the last line of its body, docstring included.
An operation with several steps reads as one short function calling one function per step."""

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
