"""The CLI with the broker down: `incident list` and `incident start P3` with nothing listening on
the broker's port, against the same commands with Redis up (the baseline, measured in this run).

Goal: with the broker down each command takes at most 1 s more than with it up: one fast check
(``BROKER_CHECK_TIMEOUT_S``) decides inline or queued, instead of seconds of connection retries.

    .venv/bin/python benchmarks/cli_broker_down.py [--runs N]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time

from _common import ROOT, env_for, manage, scratch_database

from pitchey_incidents.testing import free_port


def timed(env: dict[str, str], *args: str) -> float:
    started = time.monotonic()
    done = subprocess.run([sys.executable, "manage.py", *args], cwd=ROOT, env=env, capture_output=True, text=True)
    took = time.monotonic() - started
    if done.returncode != 0:
        raise SystemExit(f"manage.py {' '.join(args)} failed:\n{done.stderr[-2000:]}")
    return took


def measure(env: dict[str, str], runs: int) -> dict[str, float]:
    return {
        "incident list": statistics.median(timed(env, "incident", "list") for _ in range(runs)),
        "incident start P3": statistics.median(
            timed(env, "incident", "start", "P3", f"bench {n}") for n in range(runs)
        ),
    }


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=5)
    opts = parser.parse_args()
    redis_port = free_port()
    server = subprocess.Popen(
        ["redis-server", "--port", str(redis_port), "--save", "", "--appendonly", "no"], stdout=subprocess.DEVNULL
    )
    try:
        with scratch_database("bench_cli_broker") as url:
            up = env_for(url, CELERY_BROKER_URL=f"redis://127.0.0.1:{redis_port}/0")
            manage(up, "migrate", "--noinput")
            down = env_for(url, CELERY_BROKER_URL=f"redis://127.0.0.1:{free_port()}/0")
            baseline, outage = measure(up, opts.runs), measure(down, opts.runs)
    finally:
        server.terminate()
        server.wait()
    worst = 0.0
    for name in baseline:
        extra = outage[name] - baseline[name]
        worst = max(worst, extra)
        print(f"{name:18}  broker up {baseline[name]:5.2f} s  down {outage[name]:5.2f} s  (+{extra:.2f} s)")
    print(f"worst extra time with the broker down: {worst:.2f} s (goal: at most 1 s) ratio {worst / 1.0:.2f}")
    return 0 if worst <= 1.0 else 1


if __name__ == "__main__":
    sys.exit(main())
