"""The embedded ``filesystem://`` broker: a worker polling the folder never sees a message before it
is whole. (Kombu's own transport writes the file in place; a worker that moved and read it too early
failed to decode it, and the task was lost with the worker.)"""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
import threading

from django.conf import settings
from kombu import Connection

from pitchey_incidents.broker_fs import Transport
from pitchey_incidents.celery import app
from pitchey_incidents.testing import child_env

MESSAGES = 200


def test_the_embedded_broker_uses_it_and_a_real_broker_does_not(tmp_path):
    """What Celery connects with, in a process configured as ``make run`` (and as with Redis)."""
    code = (
        "import django; django.setup(); from pitchey_incidents.celery import app; "
        "t = app.connection_for_write().transport; print(type(t).__module__, type(t).__name__)"
    )
    answers = {}
    for url in ("filesystem://", settings.CELERY_BROKER_URL):
        env = child_env(CELERY_BROKER_URL=url, BROKER_DIR=str(tmp_path / "broker"))
        out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=60)
        assert out.returncode == 0, out.stderr[-2000:]
        answers[url] = out.stdout.strip()
    assert answers["filesystem://"] == "pitchey_incidents.broker_fs Transport"
    if settings.CELERY_BROKER_URL.startswith("redis"):
        assert answers[settings.CELERY_BROKER_URL] == "kombu.transport.redis Transport"


def test_a_reader_never_sees_a_message_file_before_it_is_whole(tmp_path):
    options = {"data_folder_in": str(tmp_path), "data_folder_out": str(tmp_path)}
    seen: dict[str, int] = {}
    broken: list[str] = []
    done = threading.Event()

    def read_new_message_files():
        for name in os.listdir(tmp_path):
            if name.partition(".")[2] != "q.msg" or name in seen:
                continue
            with open(tmp_path / name, "rb") as f:
                body = f.read()
            try:
                seen[name] = len(json.loads(body)["body"])
            except ValueError:
                broken.append(f"{name}: {len(body)} bytes")

    def keep_reading():
        while not done.is_set():
            read_new_message_files()

    reader = threading.Thread(target=keep_reading)
    reader.start()
    try:
        with Connection("filesystem://", transport=Transport, transport_options=options) as conn:
            channel = conn.default_channel
            for _ in range(MESSAGES):
                channel._put("q", {"body": "x" * 256 * 1024})
    finally:
        done.set()
        reader.join()
    read_new_message_files()
    assert broken == []
    assert sorted(os.listdir(tmp_path)) == sorted(seen) and len(seen) == MESSAGES  # no .part left behind
    assert set(seen.values()) == {256 * 1024}


def test_celery_publishes_and_consumes_through_it(tmp_path):
    """A task message goes through the folder and comes back out whole, on Celery's own path."""
    options = {"data_folder_in": str(tmp_path), "data_folder_out": str(tmp_path)}
    with Connection("filesystem://", transport=Transport, transport_options=options) as conn:
        app.send_task("pitchey_incidents.tests.nothing", args=["x" * 4096], queue="probe", connection=conn)
        queue = conn.SimpleQueue("probe", no_ack=True)
        message = queue.get(timeout=5)
        assert message.headers["task"] == "pitchey_incidents.tests.nothing"
        assert json.loads(message.body)[0] == ["x" * 4096]
        queue.close()


def test_the_embedded_broker_has_no_host_to_warn_about(tmp_path, caplog):
    """kombu warned "No hostname was supplied" whenever a worker or ``make run`` looked at the
    connection's details: a folder has no host."""
    folders = {"data_folder_in": str(tmp_path), "data_folder_out": str(tmp_path), "control_folder": str(tmp_path)}
    with (
        caplog.at_level(logging.WARNING, logger="kombu"),
        Connection("filesystem://", transport=Transport, transport_options=folders) as conn,
    ):
        assert conn.info()["hostname"] is None and conn.as_uri()
    assert [r.getMessage() for r in caplog.records if r.name.startswith("kombu")] == []
