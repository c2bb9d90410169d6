"""Sending composed emails: in a django-q2 task, never in a request; SMTP errors retried with
backoff; a final failure recorded and shown; each email sent at most once."""

from __future__ import annotations

import datetime
import logging
import smtplib

from django.conf import settings
from django.core.mail import EmailMultiAlternatives
from django.db import transaction
from django.db.models import Q
from django.utils import timezone
from django_q.tasks import async_task

from audit.models import ActivityEvent
from audit.services import activity_event_record, notification_send
from chasing.models import DeliveryAttempt, OutboundEmail

logger = logging.getLogger(__name__)
DELIVER_TASK = "chasing.tasks.outbound_email_deliver_task"
# Errors worth another try: the mail server refused for now, or could not be reached.
RETRYABLE = (smtplib.SMTPException, OSError)
LOST_TASK_AFTER = datetime.timedelta(minutes=10)


def retry_delays() -> list[int]:
    """Seconds to wait after the 1st, 2nd, … failure; past the last one the email fails."""
    return list(settings.CHASING_RETRY_DELAYS)


def outbound_email_enqueue(email: OutboundEmail) -> None:
    """Hand the email to a worker once the transaction that composed it has committed."""
    transaction.on_commit(lambda: async_task(DELIVER_TASK, email.pk))


def _claim(email_id: int, now: datetime.datetime) -> bool:
    """One conditional UPDATE: whoever flips the row to `sending` sends it; a repeated or
    late task finds it sending, sent or failed and does nothing."""
    due = Q(status=OutboundEmail.Status.QUEUED) | Q(
        status=OutboundEmail.Status.RETRYING, next_attempt_at__lte=now
    )
    claimed = OutboundEmail.objects.filter(due, pk=email_id).update(
        status=OutboundEmail.Status.SENDING
    )
    return claimed == 1


def outbound_email_deliver(
    *, email_id: int, now: datetime.datetime | None = None
) -> OutboundEmail | None:
    """Sends one email if it is due. Returns it, or None when there was nothing to do."""
    now = now or timezone.now()
    if not _claim(email_id, now):
        return None
    email = OutboundEmail.objects.select_related("engagement").get(pk=email_id)
    try:
        _send(email)
    except RETRYABLE as error:
        _failed_attempt(email, error, now, retry=True)
    except Exception as error:  # a message the backend cannot send at all: no retry helps
        logger.exception("Email %s could not be sent", email.pk)
        _failed_attempt(email, error, now, retry=False)
    else:
        _sent(email, now)
    return email


def outbound_emails_deliver_due(*, now: datetime.datetime | None = None) -> int:
    """Every email whose retry is due (and any whose first task was lost), by the minute
    schedule. Returns how many were tried."""
    now = now or timezone.now()
    retry_due = Q(status=OutboundEmail.Status.RETRYING, next_attempt_at__lte=now)
    # A queued email whose task never ran (a broker that lost it) is picked up here too;
    # the claim makes a late original task a no-op.
    task_lost = Q(status=OutboundEmail.Status.QUEUED, created_at__lte=now - LOST_TASK_AFTER)
    due = list(
        OutboundEmail.objects.filter(retry_due | task_lost)
        .order_by("pk")
        .values_list("pk", flat=True)
    )
    for email_id in due:
        outbound_email_deliver(email_id=email_id, now=now)
    return len(due)


def _send(email: OutboundEmail) -> None:
    message = EmailMultiAlternatives(
        subject=email.subject,
        body=email.text_body,
        from_email=settings.DEFAULT_FROM_EMAIL,
        to=[email.to],
    )
    message.attach_alternative(email.html_body, "text/html")
    if email.attachment_name:
        message.attach(email.attachment_name, email.attachment_content, "text/csv")
    message.send(fail_silently=False)


def _sent(email: OutboundEmail, now: datetime.datetime) -> None:
    with transaction.atomic():
        DeliveryAttempt.objects.create(email=email, succeeded=True)
        email.status = OutboundEmail.Status.SENT
        email.attempts += 1
        email.sent_at = now
        email.next_attempt_at = None
        email.last_error = ""
        email.save(update_fields=["status", "attempts", "sent_at", "next_attempt_at", "last_error"])


def _failed_attempt(
    email: OutboundEmail, error: Exception, now: datetime.datetime, *, retry: bool
) -> None:
    reason = f"{type(error).__name__}: {error}"[:1000]
    delays = retry_delays()
    with transaction.atomic():
        DeliveryAttempt.objects.create(email=email, succeeded=False, error=reason)
        email.attempts += 1
        email.last_error = reason
        if retry and email.attempts <= len(delays):
            email.status = OutboundEmail.Status.RETRYING
            email.next_attempt_at = now + datetime.timedelta(seconds=delays[email.attempts - 1])
        else:
            email.status = OutboundEmail.Status.FAILED
            email.next_attempt_at = None
            _record_final_failure(email)
        email.save(update_fields=["status", "attempts", "last_error", "next_attempt_at"])


def _record_final_failure(email: OutboundEmail) -> None:
    """A lost email is never silent: an audit event on the session (or engagement), and a
    notification to the person who asked for it."""
    request = getattr(email, "receipt_request", None)
    message = (
        f"Email to {email.to} could not be delivered after {email.attempts} "
        f"attempt{'s' if email.attempts != 1 else ''}: {email.last_error}"
    )
    activity_event_record(
        verb=ActivityEvent.Verb.EMAIL_FAILED,
        message=message,
        engagement=email.engagement,
        session=request.session if request is not None else None,
        details={"email": email.pk, "to": email.to, "error": email.last_error},
        actor_label="system",
    )
    if email.notify_user is not None:
        notification_send(user=email.notify_user, message=message, level="error")
