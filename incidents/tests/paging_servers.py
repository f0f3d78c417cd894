"""Local servers for paging people, behaving as the vendors document (docs/communications.md):
an ntfy server (JSON publish), an SMS gateway speaking Twilio's Messages API, and a real SMTP
server (aiosmtpd) that Django's SMTP backend talks to."""

from __future__ import annotations

import base64
import logging
import threading
import time
import uuid
from email import message_from_bytes, policy
from email.message import Message
from urllib.parse import parse_qs

from aiosmtpd.controller import Controller

from incidents.tests.vendors import FakeVendor, _json
from pitchey_incidents.testing import free_port


class FakeNtfy(FakeVendor):
    """ntfy's publish-as-JSON API: ``POST /`` with ``{"topic", "message", "title", "priority", …}``;
    200 with the message (``id``, ``time``, ``event: message``); 400 ``{"code": 40001, …}`` for a bad
    body; 401/403 when the topic is protected and the token is missing or wrong; 429 ``42901``."""

    def __init__(self, protected: dict[str, str] | None = None):
        self.protected = protected or {}  # topic → the access token it needs
        super().__init__()

    def answer(self, record):
        body = record["json"]
        if record["method"] != "POST" or record["path"] != "/":
            return _json(404, {"code": 40401, "http": 404, "error": "page not found"})
        if not isinstance(body, dict) or not body.get("topic"):
            return _json(400, {"code": 40001, "http": 400, "error": "invalid request: topic invalid"})
        needed = self.protected.get(body["topic"])
        if needed and record["headers"].get("Authorization") != f"Bearer {needed}":
            code = 401 if "Authorization" not in record["headers"] else 403
            return _json(code, {"code": code * 100 + 1, "http": code, "error": "unauthorized"})
        message = {
            "id": uuid.uuid4().hex[:12],
            "time": int(time.time()),
            "expires": int(time.time()) + 43200,
            "event": "message",
            "topic": body["topic"],
            "title": body.get("title", ""),
            "message": body.get("message", "triggered"),
            "priority": body.get("priority", 3),
        }
        return _json(200, message)

    def messages(self, topic: str | None = None) -> list[dict]:
        return [r["json"] for r in self.posts("/") if r["json"] and topic in (None, r["json"].get("topic"))]

    def first_at(self, topic: str) -> float | None:
        with self.lock:
            return next((r["at"] for r in self.requests if (r["json"] or {}).get("topic") == topic), None)


class FakeTwilio(FakeVendor):
    """``POST /2010-04-01/Accounts/{sid}/Messages.json``, form-encoded To/From/Body, HTTP basic auth
    (account SID and auth token): 201 with a ``sid``; 401 code 20003; 400 code 21211 for a number
    that is not valid; 429 code 20429 (scripted with ``fail_next``)."""

    def __init__(self, sid: str = "AC" + "0" * 32, token: str = "twilio-token", invalid: set[str] | None = None):
        self.sid, self.token = sid, token
        self.invalid = invalid or set()
        super().__init__()

    def answer(self, record):
        expected = "Basic " + base64.b64encode(f"{self.sid}:{self.token}".encode()).decode()
        if record["headers"].get("Authorization") != expected:
            return _json(401, {"code": 20003, "message": "Authenticate", "status": 401})
        if record["method"] != "POST" or record["path"] != f"/2010-04-01/Accounts/{self.sid}/Messages.json":
            return _json(404, {"code": 20404, "message": "The requested resource was not found", "status": 404})
        form = {k: v[0] for k, v in parse_qs(record["raw"].decode()).items()}
        if form.get("To") in self.invalid or not form.get("To", "").startswith("+"):
            msg = f"The 'To' number {form.get('To')} is not a valid phone number."
            return _json(
                400,
                {"code": 21211, "message": msg, "more_info": "https://www.twilio.com/docs/errors/21211", "status": 400},
            )
        if not form.get("Body") or not form.get("From"):
            return _json(400, {"code": 21602, "message": "Message body is required.", "status": 400})
        sid = "SM" + uuid.uuid4().hex
        doc = {"sid": sid, "account_sid": self.sid, "to": form["To"], "from": form["From"], "body": form["Body"]}
        return _json(201, {**doc, "status": "queued", "num_segments": "1", "direction": "outbound-api"})

    def sms(self) -> list[dict]:
        with self.lock:
            return [
                {k: v[0] for k, v in parse_qs(r["raw"].decode()).items()}
                for r in self.requests
                if r["method"] == "POST" and r["path"].endswith("/Messages.json")
            ]


class SmtpServer:
    """A real SMTP server on a free port; ``messages`` are the parsed emails it accepted."""

    def __init__(self):
        self.messages: list[Message] = []
        self.arrived: list[float] = []
        self.lock = threading.Lock()
        owner = self

        class Handler:
            async def handle_DATA(self, server, session, envelope):
                msg = message_from_bytes(envelope.content, policy=policy.default)
                msg["X-Envelope-To"] = ",".join(envelope.rcpt_tos)
                with owner.lock:
                    owner.messages.append(msg)
                    owner.arrived.append(time.monotonic())
                return "250 Message accepted for delivery"

        logging.getLogger("mail.log").setLevel(logging.WARNING)
        self.port = free_port()
        self.controller = Controller(Handler(), hostname="127.0.0.1", port=self.port)
        self.controller.start()

    def to(self, address: str) -> list[Message]:
        with self.lock:
            return [m for m in self.messages if address in m["X-Envelope-To"]]

    def stop(self) -> None:
        self.controller.stop()


def body_of(msg) -> str:
    return msg.get_content()


class FakeMattermost(FakeVendor):
    """Incoming webhooks at ``/hooks/<key>``: a Slack-compatible JSON body with ``text`` or
    ``attachments`` → 200 ``ok``; none → 400 with Mattermost's app error."""

    def answer(self, record):
        body = record["json"]
        if record["method"] != "POST" or not record["path"].startswith("/hooks/"):
            return _json(404, {"id": "api.context.404.app_error", "message": "Sorry, we could not find the page."})
        if not isinstance(body, dict) or not (body.get("text") or body.get("attachments")):
            error = {"id": "web.incoming_webhook.text.app_error", "message": "No text specified.", "status_code": 400}
            return _json(400, error)
        return 200, {"Content-Type": "text/plain"}, b"ok"

    def messages(self, hook: str = "") -> list[dict]:
        return [r["json"] for r in self.posts("/hooks/") if r["path"].endswith(hook)]


class FakeTeams(FakeVendor):
    """A Workflows "when a Teams webhook request is received" trigger: a message whose attachments
    are Adaptive Cards → 202 Accepted, empty body; anything else → 400."""

    def answer(self, record):
        body = record["json"]
        cards = (body or {}).get("attachments") if isinstance(body, dict) else None
        ok = (
            isinstance(cards, list)
            and cards
            and all(
                c.get("contentType") == "application/vnd.microsoft.card.adaptive"
                and (c.get("content") or {}).get("type") == "AdaptiveCard"
                for c in cards
            )
        )
        if record["method"] != "POST" or not ok:
            return _json(400, {"error": {"code": "TriggerInputSchemaMismatch", "message": "invalid request body"}})
        return 202, {}, b""

    def cards(self) -> list[dict]:
        return [r["json"]["attachments"][0]["content"] for r in self.posts("/workflows/")]
