"""``manage.py control`` (and ``scripts/incident-response.sh control``): the same controls as the page."""

import subprocess
from io import StringIO

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from pitchey_incidents.testing import child_env, database_url_for_subprocess
from recovery.models import ControlRun

pytestmark = pytest.mark.django_db


def run(*args: str) -> str:
    out = StringIO()
    call_command("control", *args, stdout=out)
    return out.getvalue()


def test_list_says_what_is_configured(settings):
    settings.CF_API_TOKEN = ""
    out = run("list")
    assert "read_only_on" in out and "[off]" in out and "kill_idle_connections" in out
    assert "purge_edge_cache" in out and "not configured: set CF_API_TOKEN" in out


def test_scale_dry_run_prints_the_exact_request(neon_server):
    out = run("scale_database", "--size", "xlarge", "--dry-run")
    assert f"would send: PATCH {neon_server.url}/api/v2/projects/proj-1/endpoints/ep-1" in out
    assert '"autoscaling_limit_min_cu": 4.0, "autoscaling_limit_max_cu": 8.0' in out
    assert neon_server.compute["autoscaling_limit_max_cu"] == 2.0


def test_shrinking_needs_allow_shrink(neon_server):
    with pytest.raises(CommandError, match="would shrink"):
        run("scale_database", "--size", "small")
    out = run("scale_database", "--size", "small", "--allow-shrink")
    assert "succeeded" in out and neon_server.compute["autoscaling_limit_min_cu"] == 0.25
    assert "undo: control undo" in out


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("nope",), "unknown control 'nope'"),
        (("scale_database", "--size", "huge"), "params.size"),
        (("read_only_on", "--size", "large"), "--size does not apply to read_only_on"),
        (("undo",), "undo needs the run's id"),
        (("undo", "12345"), "no such control run"),
    ],
)
def test_bad_input_is_one_line_and_changes_nothing(args, message):
    with pytest.raises(CommandError, match=message):
        run(*args)
    assert not ControlRun.objects.filter(dry_run=False).exists()


def test_the_runbook_script_runs_controls(transactional_db, settings):
    env = child_env(DATABASE_URL=database_url_for_subprocess(), CF_API_TOKEN="", TARGET_DATABASE_URL="")
    done = subprocess.run(
        ["scripts/incident-response.sh", "control", "maintenance_on"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert "MAINTENANCE_MODE is on (changed: flags)" in done.stdout
    assert "undo: control undo" in done.stdout
    assert ControlRun.objects.get().name == "maintenance_on"
