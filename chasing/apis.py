"""The scripts' door to chasing (SPEC §13, §16): the directory, receipt requests and report
subscriptions. Access through get_engagement_for / session_for; every write is a service."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework import status
from rest_framework.generics import GenericAPIView
from rest_framework.parsers import MultiPartParser
from rest_framework.request import Request
from rest_framework.response import Response

from chasing import serializers as s
from chasing.selectors import contacts_for, subscriptions_for
from chasing.services import (
    employee_contacts_import,
    receipt_requests_send,
    report_subscription_create,
)
from core.api import validated
from sessions_app.access import get_engagement_for, session_for
from sessions_app.apis import upload_size_guard


class ContactListImportApi(GenericAPIView):
    parser_classes = [MultiPartParser]

    @extend_schema(tags=["chasing"], responses=s.ContactSerializer(many=True))
    def get(self, request: Request, slug: str) -> Response:
        engagement = get_engagement_for(request.user, slug)
        page = self.paginate_queryset(contacts_for(engagement))
        return self.get_paginated_response(s.ContactSerializer(page, many=True).data)

    @extend_schema(
        tags=["chasing"],
        request=s.ContactImportInputSerializer,
        responses=s.ContactImportSummarySerializer,
        description="Loads the employee directory; any row error refuses the whole file "
        "(400 `invalid_file`) and nothing changes.",
    )
    def post(self, request: Request, slug: str) -> Response:
        engagement = get_engagement_for(request.user, slug, write=True)
        upload_size_guard(request, files=1)
        data = validated(s.ContactImportInputSerializer, request.data)
        summary = employee_contacts_import(
            engagement=engagement, data=data["file"].read(), actor=request.user
        )
        return Response(s.ContactImportSummarySerializer(summary.as_dict()).data)


class SessionRemindersApi(GenericAPIView):
    @extend_schema(
        tags=["chasing"],
        request=s.ReminderInputSerializer,
        responses=s.ReminderOutcomeSerializer,
        description="One email per employee with unmatched charges and a contact. "
        "`dry_run` answers the same without sending or recording anything.",
    )
    def post(self, request: Request, pk: int) -> Response:
        session = session_for(request.user, pk, write=True)
        data = validated(s.ReminderInputSerializer, request.data)
        outcome = receipt_requests_send(
            session=session,
            actor=request.user,
            note=data["note"],
            employee_ids=data.get("employee_ids"),
            force=data["force"],
            dry_run=data["dry_run"],
        )
        return Response(s.ReminderOutcomeSerializer(outcome.as_dict()).data)


class ReportSubscriptionListCreateApi(GenericAPIView):
    @extend_schema(tags=["chasing"], responses=s.ReportSubscriptionSerializer(many=True))
    def get(self, request: Request, slug: str) -> Response:
        engagement = get_engagement_for(request.user, slug)
        page = self.paginate_queryset(subscriptions_for(engagement))
        return self.get_paginated_response(s.ReportSubscriptionSerializer(page, many=True).data)

    @extend_schema(
        tags=["chasing"],
        request=s.ReportSubscriptionSerializer,
        responses={201: s.ReportSubscriptionSerializer},
    )
    def post(self, request: Request, slug: str) -> Response:
        engagement = get_engagement_for(request.user, slug, write=True)
        data = validated(s.ReportSubscriptionSerializer, request.data)
        subscription = report_subscription_create(
            engagement=engagement,
            email=data["email"],
            frequency=data.get("frequency", "weekly"),
            actor=request.user,
        )
        return Response(
            s.ReportSubscriptionSerializer(subscription).data, status=status.HTTP_201_CREATED
        )
