"""The backups API per API.md: roles, 202 on start and verify, 400 naming the field, 404, filters."""

from __future__ import annotations

import pytest

from backups.models import Backup, Status

pytestmark = pytest.mark.django_db


def _backup(**kw) -> Backup:
    return Backup.objects.create(kind=kw.pop("kind", "database"), status=kw.pop("status", Status.SUCCEEDED), **kw)


def test_start_needs_commander_and_answers_202(api, django_capture_on_commit_callbacks):
    assert api(None).post("/api/v1/backups/", {"kind": "database"}, format="json").status_code == 401
    for role in ("nobody", "viewer", "responder"):
        assert api(role).post("/api/v1/backups/", {"kind": "database"}, format="json").status_code == 403
    assert not Backup.objects.exists()
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        answer = api("commander").post("/api/v1/backups/", {"kind": "media"}, format="json")
    assert answer.status_code == 202
    body = answer.json()
    assert body["kind"] == "media" and body["status"] == "queued" and body["locations"] == []
    assert set(body) >= {
        "id",
        "kind",
        "status",
        "started_at",
        "finished_at",
        "size_bytes",
        "sha256",
        "compression",
        "format",
        "locations",
        "verified_at",
        "verification",
        "progress",
    }
    assert body["verification"]["ok"] is None
    assert callbacks  # the job is dispatched after commit, not inside the request
    assert Backup.objects.get(id=body["id"]).requested_by == "commander"


@pytest.mark.parametrize("payload", [{}, {"kind": "everything"}, {"kind": ["database"]}])
def test_bad_kind_is_400_naming_the_field(api, payload):
    answer = api("commander").post("/api/v1/backups/", payload, format="json")
    assert answer.status_code == 400 and "kind" in answer.json()
    assert not Backup.objects.exists()


def test_list_filters_and_detail(api):
    a = _backup(kind="database")
    _backup(kind="media", status=Status.FAILED)
    viewer = api("viewer")
    assert [b["id"] for b in viewer.get("/api/v1/backups/?kind=database").json()["results"]] == [a.id]
    assert [b["kind"] for b in viewer.get("/api/v1/backups/?status=failed").json()["results"]] == ["media"]
    assert viewer.get("/api/v1/backups/?kind=nope").status_code == 400
    assert "status" in viewer.get("/api/v1/backups/?status=nope").json()
    assert viewer.get(f"/api/v1/backups/{a.id}/").json()["id"] == a.id
    assert viewer.get("/api/v1/backups/999999/").status_code == 404
    assert api("nobody").get("/api/v1/backups/").status_code == 403


def test_verify_is_202_for_succeeded_and_409_otherwise(api, django_capture_on_commit_callbacks):
    done = _backup()
    queued = _backup(status=Status.QUEUED)
    assert api("viewer").post(f"/api/v1/backups/{done.id}/verify/", {}, format="json").status_code == 403
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        answer = api("commander").post(f"/api/v1/backups/{done.id}/verify/", {"restore_test": True}, format="json")
    assert answer.status_code == 202 and answer.json()["id"] == done.id
    assert callbacks
    conflict = api("commander").post(f"/api/v1/backups/{queued.id}/verify/", {}, format="json")
    assert conflict.status_code == 409 and conflict.json()["status"] == "queued"
    bad = api("commander").post(f"/api/v1/backups/{done.id}/verify/", {"restore_test": "maybe"}, format="json")
    assert bad.status_code == 400 and "restore_test" in bad.json()


def test_rpo_endpoint(api):
    rows = api("viewer").get("/api/v1/backups/rpo/").json()
    assert {r["data_type"]: r["state"] for r in rows} == {
        "database": "unknown",
        "sessions": "unknown",
        "config": "unknown",
        "media": "unknown",
    }


def test_schema_describes_backups(api):
    schema = api("viewer").get("/api/schema/?format=json").json()
    assert "/api/v1/backups/" in schema["paths"] and "/api/v1/backups/{id}/verify/" in schema["paths"]
