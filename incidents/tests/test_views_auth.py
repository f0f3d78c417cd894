"""Logging in and out of the pages."""

import io
import logging

from django.contrib.auth.models import User


def test_login_page_renders_and_rejects_a_wrong_password(client, users):
    assert client.get("/accounts/login/").status_code == 200
    response = client.post("/accounts/login/", {"username": "viewer", "password": "nope"})
    body = response.content.decode()
    assert response.status_code == 200 and "didn't match" in body and 'aria-invalid="true"' in body
    assert 'value="viewer"' in body  # the username is kept


def test_login_then_logout(client, users):
    response = client.post("/accounts/login/", {"username": "viewer", "password": "pw-viewer", "next": "/controls/"})
    assert response.status_code == 302 and response["Location"] == "/controls/"
    assert client.get("/").status_code == 200
    response = client.post("/accounts/logout/")
    assert response.status_code == 302 and response["Location"] == "/accounts/login/"
    assert client.get("/").status_code == 302


def test_nav_lists_the_pages(page):
    body = page("viewer").get("/").content.decode()
    assert '<a href="/" aria-current="page">Dashboard</a>' in body
    assert '<a href="/controls/" >Emergency controls</a>' in body
    assert 'href="/admin/"' not in body
    assert 'href="/admin/"' in page("admin").get("/").content.decode()


def test_inactive_user_cannot_log_in(client, users):
    User.objects.filter(username="viewer").update(is_active=False)
    response = client.post("/accounts/login/", {"username": "viewer", "password": "pw-viewer"})
    assert response.status_code == 200 and "didn't match" in response.content.decode()


def test_refusal_page_says_why(page):
    response = page("nobody").get("/")
    assert response.status_code == 403 and "has no role yet" in response.content.decode()
    response = page("viewer").get("/incidents/new/")
    assert response.status_code == 403 and "needs the commander role" in response.content.decode()


def test_a_refusal_is_one_line_in_the_log(page):
    """The web log's handler (settings.LOGGING) writes a 403 as one line, not a traceback."""
    (console,) = [h for h in logging.getLogger().handlers if isinstance(h, logging.StreamHandler) and h.filters]
    out = io.StringIO()
    before = console.setStream(out)
    try:
        assert page("viewer").get("/incidents/new/").status_code == 403
        assert page("viewer").post("/incidents/new/", {"title": "x"}).status_code == 403
    finally:
        console.setStream(before)
    lines = out.getvalue().splitlines()
    assert len(lines) == 2 and all("Forbidden (Permission denied): /incidents/new/" in line for line in lines), lines
    assert "Traceback" not in out.getvalue()
