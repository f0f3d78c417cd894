"""Atlassian Statuspage v1: create the incident with our services' components, update, resolve."""

from __future__ import annotations

from django.conf import settings

from incidents.comms.models import Notification
from pitchey_incidents.http import TransportError, request

from .base import Channel, register, render

IMPACT = {"P0": "critical", "P1": "major", "P2": "minor", "P3": "none"}
COMPONENT_STATUS = {
    "P0": "major_outage",
    "P1": "partial_outage",
    "P2": "degraded_performance",
    "P3": "degraded_performance",
}


@register
class Statuspage(Channel):
    name = "statuspage"
    label = "Statuspage"
    can_reconcile = True  # a lost create is found again by its name among the unresolved incidents

    def enabled(self) -> bool:
        return bool(settings.STATUSPAGE_API_KEY and settings.STATUSPAGE_PAGE_ID)

    def wants(self, kind, incident, policy) -> bool:
        if kind == "declared":
            rule = policy.communications.filter(audience="status_page").first() if policy else None
            return bool(rule and rule.requirement == "required")
        if kind in ("status_update", "resolved"):
            return Notification.objects.filter(incident=incident, channel=self.name, kind="declared").exists()
        return False

    def _url(self, path: str) -> str:
        return f"{settings.STATUSPAGE_API_URL}/pages/{settings.STATUSPAGE_PAGE_ID}{path}"

    def _headers(self) -> dict[str, str]:
        return {"Authorization": f"OAuth {settings.STATUSPAGE_API_KEY}"}

    @staticmethod
    def name_for(ctx: dict) -> str:
        return f"[{ctx['id']}] {ctx['title']}"

    def body(self, notification) -> dict:
        ctx = notification.context
        resolved = notification.kind == "resolved"
        ids = [c for c in ctx.get("component_ids", []) if c]
        status = "operational" if resolved else COMPONENT_STATUS[ctx["severity"]]
        incident = {
            "name": self.name_for(ctx),
            "status": "resolved" if resolved else ctx["public_status"],
            "body": render(notification.kind, ctx, prefix="public_"),
            "component_ids": ids,
            "components": {c: status for c in ids},
            "deliver_notifications": True,
        }
        if notification.kind == "declared":
            incident["impact_override"] = IMPACT[ctx["severity"]]
        return {"incident": incident}

    def _created_id(self, notification) -> str:
        create = (
            Notification.objects.filter(incident_id=notification.incident_id, channel=self.name, kind="declared")
            .only("status", "response")
            .first()
        )
        if create is None or create.status == "failed":
            raise TransportError("the Statuspage incident was never created", permanent=True)
        if not create.response.get("id"):
            raise TransportError("waiting for the Statuspage incident to be created")
        return create.response["id"]

    def send(self, notification) -> dict:
        if notification.kind == "declared":
            resp = request("POST", self._url("/incidents"), json=self.body(notification), headers=self._headers())
            return {"id": (resp.json or {}).get("id")}
        sp_id = self._created_id(notification)
        request("PATCH", self._url(f"/incidents/{sp_id}"), json=self.body(notification), headers=self._headers())
        return {"id": sp_id}

    def reconcile(self, notification) -> dict | None:
        if notification.kind != "declared":
            return None  # an update (PATCH) is idempotent: sending it again is harmless
        resp = request("GET", self._url("/incidents/unresolved"), headers=self._headers(), ok=(200,))
        wanted = self.name_for(notification.context)
        for item in resp.json or []:
            if isinstance(item, dict) and item.get("name") == wanted:
                return {"id": item.get("id")}
        return None
