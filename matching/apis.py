"""The scripts' door to line matching (SPEC §13, §14): one employee's lines, match,
unmatch, and the session's chase list (JSON pages or CSV)."""

from __future__ import annotations

from typing import Any

from django.http import HttpResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema
from rest_framework.generics import GenericAPIView
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from audit.csv import csv_response
from core.api import FirstRendererNegotiation, ordering_from, ordering_parameter, validated
from matching import serializers as s
from matching.selectors import (
    CHASE_ORDERING,
    chase_list,
    employee_lines,
)
from matching.services import lines_match, lines_unmatch
from sessions_app.access import get_revision_for, session_for

CHASE_CSV_HEADER = (
    "employee_id", "employee_name", "line_number", "date", "merchant", "amount",
)  # fmt: skip


def lines_answer(lines: Any) -> Response:
    return Response(s.EmployeeLinesSerializer(lines).data)


class EmployeeLinesApi(APIView):
    @extend_schema(tags=["matching"], responses=s.EmployeeLinesSerializer)
    def get(self, request: Request, pk: int, employee_id: str) -> Response:
        session = session_for(request.user, pk)
        get_revision_for(session, employee_id)
        return lines_answer(employee_lines(session=session, employee_id=employee_id))


class EmployeeLinesMatchApi(APIView):
    @extend_schema(
        tags=["matching"],
        request=s.MatchSerializer,
        responses=s.EmployeeLinesSerializer,
        description="Pair a card line with a receipt line by hand (any amounts, a note). "
        "409 invalid_state if either is already paired; 409 stale_version if `version` is "
        "not the lines version you saw.",
    )
    def post(self, request: Request, pk: int, employee_id: str) -> Response:
        session = session_for(request.user, pk, write=True)
        get_revision_for(session, employee_id)
        data = validated(s.MatchSerializer, request.data)
        lines = lines_match(
            session=session,
            employee_id=employee_id,
            card_line_id=data["card_line"],
            receipt_line_id=data["receipt_line"],
            note=data["note"],
            actor=request.user,
            expected_version=data.get("version"),
        )
        return lines_answer(lines)


class EmployeeLinesUnmatchApi(APIView):
    @extend_schema(
        tags=["matching"],
        request=s.UnmatchSerializer,
        responses=s.EmployeeLinesSerializer,
        description="Undo the pair of a card line; the automatic rounds leave it alone until "
        "it is matched by hand.",
    )
    def post(self, request: Request, pk: int, employee_id: str) -> Response:
        session = session_for(request.user, pk, write=True)
        get_revision_for(session, employee_id)
        data = validated(s.UnmatchSerializer, request.data)
        lines = lines_unmatch(
            session=session,
            employee_id=employee_id,
            card_line_id=data["card_line"],
            note=data["note"],
            actor=request.user,
            expected_version=data.get("version"),
        )
        return lines_answer(lines)


class UnmatchedChargesApi(GenericAPIView):
    # `?format=csv` is this endpoint's own switch, not DRF's renderer override: errors stay
    # JSON whatever is asked.
    content_negotiation_class = FirstRendererNegotiation

    @extend_schema(
        tags=["matching"],
        parameters=[
            s.ChaseQuerySerializer,
            ordering_parameter(CHASE_ORDERING, "employee_id"),
        ],
        responses={
            200: s.UnmatchedChargeSerializer(many=True),
            (200, "text/csv"): OpenApiTypes.BINARY,
        },
        description="The chase list: card lines of the session without a receipt.",
    )
    def get(self, request: Request, pk: int) -> Response | HttpResponse:
        session = session_for(request.user, pk)
        query = validated(s.ChaseQuerySerializer, request.query_params)
        ordering = ordering_from(request, CHASE_ORDERING, [])
        charges = chase_list(
            session=session,
            employee=query.get("employee"),
            search=query.get("search"),
            ordering=ordering,
        )
        if query.get("format") == "csv":
            return chase_csv(session, charges)
        page = self.paginate_queryset(charges)
        return self.get_paginated_response(s.UnmatchedChargeSerializer(page, many=True).data)


def chase_csv(session: Any, charges: Any) -> HttpResponse:
    rows = (
        (c.employee_id, c.employee_name or "", c.line_number, c.date, c.merchant, c.amount)
        for c in charges.iterator(chunk_size=2000)
    )
    return csv_response(f"unmatched-charges-session-{session.pk}.csv", CHASE_CSV_HEADER, rows)


__all__ = [
    "EmployeeLinesApi",
    "EmployeeLinesMatchApi",
    "EmployeeLinesUnmatchApi",
    "UnmatchedChargesApi",
]
