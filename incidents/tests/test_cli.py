"""The command line: the runbook's incident-response.sh and manage.py incident / createuser."""

import json
import subprocess
from io import StringIO

import pytest
from django.contrib.auth.models import User
from django.core.management import CommandError, call_command
from rest_framework.authtoken.models import Token

from incidents.lifecycle.models import Incident
from pitchey_incidents.testing import ROOT, child_env

pytestmark = pytest.mark.django_db


def run(*args):
    out, err = StringIO(), StringIO()
    call_command(*args, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


def test_start_list_show_ack_mitigate_resolve(users, monkeypatch, django_capture_on_commit_callbacks):
    monkeypatch.setenv("PITCHEY_ACTOR", "alice")
    out, _ = run(
        "incident", "start", "P0", "Database Outage", "Primary database not responding", "--service", "database"
    )
    incident = Incident.objects.get()
    assert f"INCIDENT DECLARED: {incident.public_id} P0 Database Outage" in out
    assert incident.description == "Primary database not responding" and incident.declared_by == "cli:alice"
    assert incident.public_id in run("incident", "list")[0]
    shown = json.loads(run("incident", "show", incident.public_id, "--json")[0])
    assert shown["services"] == ["database"] and shown["timeline"][0]["actor"] == "cli:alice"
    run("incident", "ack", incident.public_id)
    with django_capture_on_commit_callbacks(execute=True):
        out, _ = run("incident", "mitigate", incident.public_id, "enable_maintenance", "--inline")
    assert "enable_maintenance" in out
    assert incident.mitigations.get().output.startswith("MAINTENANCE_MODE is on (changed: flags)")
    run("incident", "resolve", incident.public_id, "Failover done")
    incident.refresh_from_db()
    assert incident.status == "resolved" and incident.resolution == "Failover done"
    assert run("incident", "list")[0].strip() == "No open incidents."


@pytest.mark.parametrize(
    "args,message",
    [
        (("incident", "start", "P0", "  "), "title: is required"),
        (("incident", "start", "P1", "x", "--service", "nope"), "services: unknown service(s): nope"),
        (("incident", "show", "INC-77777"), "no incident INC-77777"),
        (("incident", "mitigate", "INC-77777", "purge_cache"), "no incident INC-77777"),
    ],
)
def test_errors_are_one_line(users, args, message):
    with pytest.raises(CommandError) as err:
        run(*args)
    assert str(err.value) == message


def test_createuser_prints_a_working_token_and_updates_roles(api):
    out, err = run("createuser", "carol", "--role", "responder", "--email", "carol@example.com")
    token = out.strip()
    assert Token.objects.get(key=token).user.username == "carol" and "created carol as responder" in err
    out2, _ = run("createuser", "carol", "--role", "viewer")
    assert out2.strip() == token  # same user, same token, new role

    carol = User.objects.get(username="carol")
    assert list(carol.groups.values_list("name", flat=True)) == ["viewer"] and not carol.has_usable_password()
    with pytest.raises(CommandError):
        run("createuser", "dave", "--role", "viewer", "--email", "not-an-email")
    assert not User.objects.filter(username="dave").exists()


def test_createuser_reads_password_from_stdin(client, monkeypatch):
    monkeypatch.setattr("sys.stdin", StringIO("s3cret-pass\n"))
    run("createuser", "erin", "--role", "commander", "--password-stdin")
    assert client.login(username="erin", password="s3cret-pass")


@pytest.mark.django_db(transaction=True)
def test_runbook_script_declares_an_incident_the_api_shows(api):
    script = ROOT / "scripts" / "incident-response.sh"
    done = subprocess.run(
        [str(script), "start", "P0", "Database Outage", "Primary database not responding"],
        capture_output=True,
        text=True,
        env=child_env(),
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    incident = Incident.objects.get()
    assert incident.public_id in done.stdout
    body = api("viewer").get(f"/api/v1/incidents/{incident.public_id}/timeline/").json()
    assert body[0]["kind"] == "declared"
    bad = subprocess.run([str(script), "start", "P5", "x"], capture_output=True, text=True, env=child_env(), timeout=60)
    assert bad.returncode != 0 and "P5" in bad.stderr
    unknown = subprocess.run([str(script), "explode"], capture_output=True, text=True, env=child_env(), timeout=60)
    assert unknown.returncode == 2 and unknown.stderr.count("\n") == 1


@pytest.mark.django_db(transaction=True)
def test_runbook_menu_lists_and_quits():
    script = ROOT / "scripts" / "incident-response.sh"
    done = subprocess.run(
        [str(script), "menu"],
        input="1\nP2\nSlow pages\nLatency up\n2\nq\n",
        capture_output=True,
        text=True,
        env=child_env(),
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert "INCIDENT DECLARED" in done.stdout and "Slow pages" in done.stdout.split("INCIDENT DECLARED")[1]
