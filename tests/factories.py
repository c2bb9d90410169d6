from __future__ import annotations

import datetime
from decimal import Decimal

import factory
from django.contrib.auth import get_user_model

from sessions_app.models import (
    EmployeeRevision,
    Engagement,
    Membership,
    ProcessingSession,
)


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = get_user_model()
        django_get_or_create = ("username",)

    username = factory.Sequence(lambda n: f"user{n}")
    email = factory.LazyAttribute(lambda u: f"{u.username}@example.com")
    password = factory.django.Password("correct-horse-battery")


class EngagementFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Engagement
        django_get_or_create = ("slug",)

    name = factory.Sequence(lambda n: f"Client {n}")
    slug = factory.LazyAttribute(lambda e: e.name.lower().replace(" ", "-"))


class MembershipFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Membership

    user = factory.SubFactory(UserFactory)
    engagement = factory.SubFactory(EngagementFactory)
    role = Membership.Role.OPERATOR


class ProcessingSessionFactory(factory.django.DjangoModelFactory):
    """A bare session row, for tests that do not need files (the services build real ones)."""

    class Meta:
        model = ProcessingSession

    engagement = factory.SubFactory(EngagementFactory)
    name = factory.Sequence(lambda n: f"October 2026 #{n}")
    period_start = datetime.date(2026, 10, 1)
    period_end = datetime.date(2026, 10, 31)
    tolerance = Decimal("1.00")
    status = ProcessingSession.Status.COMPLETED


class EmployeeRevisionFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = EmployeeRevision

    session = factory.SubFactory(ProcessingSessionFactory)
    employee_id = factory.Sequence(lambda n: f"E{n:05d}")
    employee_name = factory.Faker("name")
    car_amount = Decimal("100.00")
    receipt_amount = Decimal("100.00")
    difference = factory.LazyAttribute(lambda r: r.receipt_amount - r.car_amount)
    status = EmployeeRevision.Status.MATCHED
