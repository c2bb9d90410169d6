"""A real SMTP server (aiosmtpd) on a free port, and sessions with unmatched charges."""

from __future__ import annotations

import email
import email.policy
import socket
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from email.message import EmailMessage
from typing import Any

import pytest
from aiosmtpd.controller import Controller

from chasing.services import employee_contacts_import
from sessions_app.models import ProcessingSession
from tests.api.conftest import (  # noqa: F401  (the API clients of every door's tests)
    anonymous_api,
    api,
    client_for,
    fast_password_hashing,
    outsider_api,
    staff,
    staff_api,
    viewer_api,
)


@dataclass
class SmtpInbox:
    """What the server received. `refuse_next` makes it answer the next N messages with
    a temporary failure (451), as a busy mail server does."""

    messages: list[EmailMessage] = field(default_factory=list)
    refuse_next: int = 0
    refused: int = 0

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        if self.refuse_next > 0:
            self.refuse_next -= 1
            self.refused += 1
            return "451 4.3.0 Mail server busy, try again later"
        message = email.message_from_bytes(envelope.content, policy=email.policy.default)
        self.messages.append(message)  # type: ignore[arg-type]
        return "250 Message accepted for delivery"

    def to(self, address: str) -> list[EmailMessage]:
        return [m for m in self.messages if m["To"] == address]


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture
def smtp_server(settings: Any) -> Iterator[SmtpInbox]:
    inbox = SmtpInbox()
    controller = Controller(inbox, hostname="127.0.0.1", port=_free_port())
    controller.start()
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST = "127.0.0.1"
    settings.EMAIL_PORT = controller.port
    settings.EMAIL_USE_TLS = False
    settings.EMAIL_USE_SSL = False
    settings.EMAIL_HOST_USER = ""
    settings.EMAIL_HOST_PASSWORD = ""
    settings.EMAIL_TIMEOUT = 10
    try:
        yield inbox
    finally:
        controller.stop()


def text_part(message: EmailMessage) -> str:
    part = message.get_body(preferencelist=("plain",))
    assert part is not None
    return str(part.get_content())


def html_part(message: EmailMessage) -> str:
    part = message.get_body(preferencelist=("html",))
    assert part is not None
    return str(part.get_content())


DIRECTORY_CSV = (
    "employee_id,email,manager_email\n"
    "E1001,alice@example.com,maria@example.com\n"
    "E1002,bob@example.com,\n"
    "E1004,dmitri@example.com,maria@example.com\n"
    "E1005,ellen@example.com,\n"
    "E1007,grace@example.com,tom@example.com\n"
)
# With the sample card statement and receipts v1, the charges without a receipt are:
UNMATCHED = {
    "E1001": [("2026-10-05", "HILTON GARDEN INN", "35.25")],
    "E1002": [
        ("2026-10-03", "DELL MARKETING", "1,250.00"),
        ("2026-10-09", "DELL MARKETING - CREDIT", "-45.00"),
    ],
    "E1003": [("2026-10-11", "OFFICE DEPOT", "89.99")],
    "E1004": [("2026-10-13", "MARRIOTT", "200.00"), ("2026-10-13", "STARBUCKS", "12.30")],
    "E1006": [("2026-10-21", "AMAZON WEB SERVICES", "999.99")],
    "E1007": [("2026-10-22", "UBER", "42.00"), ("2026-10-23", "UBER", "18.00")],
}
TOTALS = {
    "E1001": "35.25",
    "E1002": "1,205.00",
    "E1004": "212.30",
    "E1007": "60.00",
}
EMAILS = {
    "E1001": "alice@example.com",
    "E1002": "bob@example.com",
    "E1004": "dmitri@example.com",
    "E1007": "grace@example.com",
}


@pytest.fixture
def directory(engagement: Any, operator: Any) -> Any:
    return employee_contacts_import(
        engagement=engagement, data=DIRECTORY_CSV.encode(), actor=operator
    )


@pytest.fixture
def session(make_session: Callable[..., ProcessingSession]) -> ProcessingSession:
    """CAR + receipts v1 of the samples, recalculated."""
    return make_session()


@pytest.fixture
def deliver(django_capture_on_commit_callbacks: Any) -> Callable[[], Any]:
    """Run what a service queued on commit (q2 runs tasks inline in tests)."""
    return lambda: django_capture_on_commit_callbacks(execute=True)
