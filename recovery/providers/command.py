"""Run one of the commands configured in ``ALLOWED_COMMANDS``, with a timeout."""

from __future__ import annotations

import shlex
import subprocess

from django.conf import settings

from .base import Outcome, Provider, register


@register
class Command(Provider):
    name = "command"
    label = "Configured command"

    def available(self):
        return (True, "") if settings.ALLOWED_COMMANDS else (False, "no commands in ALLOWED_COMMANDS")

    def do_run(self, *, dry_run: bool, command: str, timeout_s: float | None = None) -> Outcome:
        if command not in settings.ALLOWED_COMMANDS:
            return Outcome(False, f"{command!r} is not a configured command")
        argv = shlex.split(settings.ALLOWED_COMMANDS[command])
        if dry_run:
            return Outcome(True, f"would run: {shlex.join(argv)}", {"command": command})
        timeout = float(timeout_s or settings.COMMAND_TIMEOUT_S)
        try:
            done = subprocess.run(argv, capture_output=True, text=True, timeout=timeout)
        except subprocess.TimeoutExpired:
            return Outcome(False, f"timed out after {timeout:g}s", {"command": command})
        except OSError as exc:
            return Outcome(False, f"could not start: {exc.strerror}", {"command": command})
        output = (done.stdout + done.stderr)[-8000:]
        return Outcome(
            done.returncode == 0,
            f"exit {done.returncode}\n{output}".strip(),
            {"command": command, "exit": done.returncode},
        )
