"""On the embedded default (SQLite) a page on the wire holds no write lock. A transaction there
takes the write lock as it begins (``transaction_mode`` IMMEDIATE): one held around the send would
stop every writer of the platform (alert intake, acknowledgements, the other pages) for as long as
the vendor takes to answer. A real child process on a SQLite database of its own sends a page to
an ntfy server that holds the request; meanwhile this test takes the database's write lock."""

from __future__ import annotations

import re
import sqlite3
import subprocess
import sys

from incidents.tests.paging_servers import FakeNtfy
from pitchey_incidents.testing import ROOT, child_env

SEND = """
from django.contrib.auth import get_user_model
from django.utils import timezone
from incidents.comms.channels.person import Person
from incidents.comms.models import ContactMethod, Notification
user = get_user_model().objects.create_user("oncall")
method = ContactMethod.objects.create(user=user, kind="push", address="oncall-topic", verified_at=timezone.now())
context = {"rotation": "primary", "person": "oncall", "until": timezone.now().isoformat(), "method": method.pk}
row = Notification.objects.create(
    incident=None, channel="person", target=f"method-{method.pk}", kind="handoff",
    next_attempt_at=timezone.now(), created_at=timezone.now(), context=context,
)
print("sent", Person().send(row)["id"])
"""


def test_a_page_on_the_wire_holds_no_write_lock_on_sqlite(tmp_path):
    db = tmp_path / "app.sqlite3"
    ntfy = FakeNtfy()
    ntfy.hold_next()  # the page's request waits until the test lets it go
    env = child_env(
        DATABASE_URL=f"sqlite:///{db}",
        CELERY_BROKER_URL="filesystem://",
        BROKER_DIR=str(tmp_path / "broker"),
        REDIS_URL="",
        NTFY_DEFAULT_SERVER=ntfy.url,
        HTTP_TIMEOUT_S="60",
    )
    try:
        manage = [sys.executable, "manage.py"]
        subprocess.run([*manage, "migrate", "-v0"], cwd=ROOT, env=env, check=True, timeout=180)
        child = subprocess.Popen(
            [*manage, "shell", "-c", SEND], cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT
        )
        try:
            assert ntfy.held.wait(timeout=120), "the page never reached the ntfy server"
            with sqlite3.connect(db, timeout=2, isolation_level=None) as other:  # the page is on the wire now
                other.execute("BEGIN IMMEDIATE")  # the write lock: "database is locked" if the sender held it
                other.execute("UPDATE auth_user SET first_name = 'on call' WHERE username = 'oncall'")
                other.execute("COMMIT")
            ntfy.release.set()
            out, _ = child.communicate(timeout=120)
        finally:
            child.kill()
        assert child.returncode == 0 and re.search(r"^sent [0-9a-f]{12}$", out.decode(), re.M), out.decode()[-2000:]
        assert [m["title"] for m in ntfy.messages("oncall-topic")] == ["You are on call: primary"]
    finally:
        ntfy.close()
