"""The authorization matrix: every API URL × every method × every role, against the contract's roles.

The contract (README, "API"): ``viewer`` reads; ``responder`` also acknowledges,
mitigates and posts updates (and works on post-mortems and their action items); ``commander`` also
declares, escalates, resolves, changes severity, starts backups, restores, recovery runs and drills;
``admin`` everything. Anyone with a role edits their own profile and contact methods (an admin
anyone's, which the people tests prove); only an admin adds people. Without credentials → 401;
authenticated below the role → 403. Alert intake takes only its source's own secret, so an API token
is a 401 there (and a method it does not serve a 405 for anyone).

``MATRIX`` is that table written out. Every URL the API serves must be in it (a new endpoint without
a row fails here), and every cell is requested: a method the URL does not serve is a 403 below the
role the view needs for writes and a 405 for an admin; an allowed role is never refused and never
answered with a 5xx (bodies are empty, so a 400, 404 or 409 is a fine answer there).
"""

from __future__ import annotations

import pytest
from drf_spectacular.generators import EndpointEnumerator

from pitchey_incidents.roles import ROLES

pytestmark = pytest.mark.django_db

V, R, C, A = "viewer", "responder", "commander", "admin"
SECRET = "source secret"  # alert intake: the alert source's bearer secret, never an API token
METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE")
INC = "/api/v1/incidents/{pk}"

MATRIX: dict[str, dict[str, str]] = {
    "/api/schema/": {"GET": V},
    "/api/docs/": {"GET": V},
    "/api/v1/whoami/": {"GET": V},
    "/api/v1/setup/": {"GET": V},
    "/api/v1/services/": {"GET": V},
    "/api/v1/health/": {"GET": V},
    "/api/v1/detect/": {"POST": C},
    "/api/v1/flags/": {"GET": V},
    "/api/v1/oncall/": {"GET": V},
    "/api/v1/oncall/rotations/": {"GET": V, "POST": C},
    "/api/v1/oncall/rotations/{pk}/overrides/": {"GET": V, "POST": R},
    "/api/v1/escalation-levels/": {"GET": V, "PUT": C},
    # A person edits their own (the service refuses another's unless the caller is an admin).
    "/api/v1/people/": {"GET": V, "POST": A},
    "/api/v1/people/{username}/": {"GET": V, "PATCH": V},
    "/api/v1/people/{username}/contact-methods/": {"POST": V},
    "/api/v1/people/{username}/contact-methods/{pk}/verify/": {"POST": V},
    "/api/v1/people/{username}/contact-methods/{pk}/send-code/": {"POST": V},
    "/api/v1/actions/": {"GET": V},
    "/api/v1/controls/": {"GET": V},
    "/api/v1/controls/{name}/": {"POST": C},
    "/api/v1/controls/runs/": {"GET": V},
    "/api/v1/controls/runs/{run_id}/undo/": {"POST": C},
    "/api/v1/alerts/{kind}/": {"POST": SECRET},
    "/api/v1/alerts/{kind}/ping/": {"POST": SECRET},
    "/api/v1/incidents/": {"GET": V, "POST": C},
    f"{INC}/": {"GET": V},
    f"{INC}/timeline/": {"GET": V},
    f"{INC}/acknowledge/": {"POST": R},
    f"{INC}/assign/": {"POST": C},
    f"{INC}/severity/": {"POST": C},
    f"{INC}/mitigations/": {"GET": V, "POST": R},
    f"{INC}/escalate/": {"POST": C},
    f"{INC}/updates/": {"POST": R},
    f"{INC}/monitor/": {"POST": C},
    f"{INC}/resolve/": {"POST": C},
    f"{INC}/postmortem/": {"GET": V, "PATCH": R},
    f"{INC}/postmortem/complete/": {"POST": C},
    f"{INC}/postmortem.md": {"GET": V},
    "/api/v1/mitigations/": {"GET": V},
    "/api/v1/mitigations/{pk}/": {"GET": V},
    "/api/v1/action-items/": {"GET": V, "POST": R},
    "/api/v1/action-items/{pk}/": {"GET": V, "PATCH": R, "DELETE": R},
    "/api/v1/metrics/summary/": {"GET": V},
    "/api/v1/backups/": {"GET": V, "POST": C},
    "/api/v1/backups/{pk}/": {"GET": V},
    "/api/v1/backups/{pk}/verify/": {"POST": C},
    "/api/v1/backups/{pk}/restore/": {"POST": C},
    "/api/v1/backups/rpo/": {"GET": V},
    "/api/v1/backups/pitr/": {"GET": V},
    "/api/v1/backups/pitr/restore/": {"POST": C},
    "/api/v1/restores/": {"GET": V},
    "/api/v1/restores/{pk}/": {"GET": V},
    "/api/v1/recovery-runs/": {"GET": V, "POST": C},
    "/api/v1/recovery-runs/{pk}/": {"GET": V},
    "/api/v1/recovery-runs/{pk}/cancel/": {"POST": C},
    "/api/v1/drills/": {"GET": V, "POST": C},
    "/api/v1/drills/{pk}/": {"GET": V},
    "/api/v1/drills/{pk}/cancel/": {"POST": C},
}
WHO = [None, "nobody", *ROLES]


def served() -> dict[str, set[str]]:
    routes: dict[str, set[str]] = {}
    for path, _regex, method, _view in EndpointEnumerator().get_api_endpoints():
        routes.setdefault(path, set()).add(method)
    return routes


def test_the_matrix_lists_every_url_and_method_the_api_serves():
    assert {path: set(methods) for path, methods in MATRIX.items()} == served()


def expected(row: dict[str, str], method: str, who: str | None) -> set[int] | str:
    """The answers allowed for one cell: a set of statuses, or "served" (any non-refusal below 500)."""
    cell = row.get(method)
    if SECRET in row.values():  # alert intake checks nothing before the method
        return {401} if cell else {405}
    if who is None:
        return {401}
    if cell is None:  # a method the URL does not serve
        return {405} if who == "admin" else {403} if who == "nobody" else {403, 405}
    if who == "nobody" or ROLES.index(who) < ROLES.index(cell):
        return {403}
    return "served"


@pytest.mark.parametrize("path", sorted(MATRIX))
def test_every_role_and_method_on(path, api, incident):
    url = path.format(
        pk=incident.public_id if path.startswith(INC) else 999999,
        kind="generic",
        name="no_such_control",
        run_id=999999,
        username="no-such-person",
    )
    wrong = []
    for who in WHO:
        client = api(who)
        for method in METHODS:
            response = getattr(client, method.lower())(url, {} if method != "GET" else None, format="json")
            allowed = expected(MATRIX[path], method, who)
            code = response.status_code
            ok = code in allowed if allowed != "served" else code not in (401, 403, 405) and code < 500
            if not ok:
                wrong.append(f"{method} {url} as {who}: {code}, expected {allowed}")
            if code == 401:
                assert response.has_header("WWW-Authenticate"), (method, url, who)
    assert not wrong, "\n".join(wrong)
