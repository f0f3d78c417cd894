"""Fail when a pin in requirements*.txt is missing from its lock file (run `make lock` after editing a pin).

python3 scripts/check_lock.py requirements.txt:requirements.lock requirements-dev.txt:requirements-dev.lock
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)(?:\[[^\]]*\])?==([^\s;#]+)")


def pins(path: Path) -> set[tuple[str, str]]:
    found = set()
    for line in path.read_text().splitlines():
        if match := PIN.match(line.strip()):
            found.add((re.sub(r"[-_.]+", "-", match[1]).lower(), match[2]))
    return found


def main(pairs: list[str]) -> int:
    stale = []
    for pair in pairs:
        source, _, lock = pair.partition(":")
        missing = pins(Path(source)) - pins(Path(lock))
        stale += [f"{source}: {name}=={version} is not in {lock}" for name, version in sorted(missing)]
    for line in stale:
        print(line, file=sys.stderr)
    if stale:
        print("run `make lock` to bring the lock files up to date", file=sys.stderr)
    return 1 if stale else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
