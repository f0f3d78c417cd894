"""Customer email through Django's email backend, from the runbook's customer template."""

from __future__ import annotations

import smtplib

from django.conf import settings
from django.core.mail import EmailMessage

from pitchey_incidents.http import TransportError

from .base import Channel, register, render


@register
class Email(Channel):
    name = "email"
    label = "Customer email"

    def enabled(self) -> bool:
        return bool(settings.CUSTOMER_EMAILS)

    def wants(self, kind, incident, policy) -> bool:
        if kind not in ("declared", "status_update", "resolved") or policy is None:
            return False
        rule = policy.communications.filter(audience="customer_email").first()
        return bool(rule and rule.requirement == "required")

    def message(self, notification) -> EmailMessage:
        ctx = dict(notification.context)
        recipients = ctx.get("recipients") or settings.CUSTOMER_EMAILS
        subject = render("customer_email", ctx, prefix="subject_") if "subject" not in ctx else ctx["subject"]
        body = render("customer_email", ctx) if notification.kind != "message" else render("message", ctx)
        return EmailMessage(
            subject=" ".join(subject.split()),
            body=body,
            from_email=settings.DEFAULT_FROM_EMAIL,
            to=[settings.DEFAULT_FROM_EMAIL],
            bcc=list(recipients),  # customers never see each other's addresses
            headers={"Message-ID": f"<notification-{notification.id}@{ctx.get('site', 'pitchey-incidents')}>"},
        )

    def send(self, notification) -> dict:
        try:
            notification_message = self.message(notification)
            notification_message.send(fail_silently=False)
        except smtplib.SMTPRecipientsRefused as exc:
            raise TransportError(f"recipients refused: {len(exc.recipients)}", permanent=True) from None
        except (smtplib.SMTPException, OSError) as exc:
            raise TransportError(f"email: {exc.__class__.__name__}: {exc}"[:200]) from None
        return {}
