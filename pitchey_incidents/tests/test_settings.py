"""Settings come from the environment and fail loudly on bad values; deploy checks pass."""

import subprocess
import sys

import pytest
from django.core.exceptions import ImproperlyConfigured

from pitchey_incidents import env
from pitchey_incidents.testing import ROOT


def test_env_helpers_fail_loudly(monkeypatch, tmp_path):
    monkeypatch.setenv("X_BOOL", "maybe")
    with pytest.raises(ImproperlyConfigured, match="X_BOOL"):
        env.env_bool("X_BOOL")
    monkeypatch.setenv("X_INT", "ten")
    with pytest.raises(ImproperlyConfigured, match="X_INT"):
        env.env_int("X_INT", 1)
    monkeypatch.setenv("X_URL", "example.com")
    with pytest.raises(ImproperlyConfigured, match="X_URL"):
        env.env_url("X_URL")
    secret = tmp_path / "secret"
    secret.write_text("from-a-file\n")
    monkeypatch.delenv("X_SECRET", raising=False)
    monkeypatch.setenv("X_SECRET_FILE", str(secret))
    assert env.env_str("X_SECRET") == "from-a-file"


def manage(*args, **env_vars):
    clean = {"PATH": "/usr/bin:/bin", "HOME": "/tmp", **env_vars}
    return subprocess.run(
        [sys.executable, "manage.py", *args], cwd=ROOT, env=clean, capture_output=True, text=True, timeout=60
    )


def test_no_secret_key_with_debug_off_refuses_to_start(tmp_path):
    # A scratch VAR_DIR: no local.env from `make run` to supply a key.
    done = manage("check", DEBUG="0", VAR_DIR=str(tmp_path))
    assert done.returncode != 0 and "SECRET_KEY" in done.stderr


def test_bad_value_names_the_variable(tmp_path):
    done = manage("check", DEBUG="1", HTTP_TIMEOUT_S="soon", VAR_DIR=str(tmp_path))
    assert done.returncode != 0 and "HTTP_TIMEOUT_S" in done.stderr


def test_check_deploy_is_clean_in_production(tmp_path):
    done = manage(
        "check",
        "--deploy",
        "--fail-level",
        "WARNING",
        DEBUG="0",
        VAR_DIR=str(tmp_path),
        SECRET_KEY="x" * 20 + "a-long-random-production-secret-key-0123456789",
        ALLOWED_HOSTS="incidents.example.com",
    )
    assert done.returncode == 0, done.stdout + done.stderr
