"""The email a user gets when a job they started ends."""

from __future__ import annotations

from django.conf import settings
from django.core.mail import EmailMultiAlternatives
from django.template.loader import render_to_string

from recalc.models import RecalcJob


def job_end_email_send(*, job_id: int) -> None:
    job = RecalcJob.objects.select_related("session", "created_by").get(pk=job_id)
    if job.created_by is None or not job.created_by.email:
        return
    context = {"job": job, "session": job.session, "user": job.created_by}
    subject = f"[Closebook] {job.session.name}: recalculation {job.status}"
    message = EmailMultiAlternatives(
        subject=subject,
        body=render_to_string("recalc/email/job_end.txt", context),
        from_email=settings.DEFAULT_FROM_EMAIL,
        to=[job.created_by.email],
    )
    message.attach_alternative(render_to_string("recalc/email/job_end.html", context), "text/html")
    message.send(fail_silently=True)
