"""The scripts' door to sessions, receipts, employees, import profiles and the user (§13).

Each endpoint checks access with session_for / get_engagement_for (404 for another
engagement's object, 403 for a viewer writing), parses its input, calls the service and
serialises the answer. Errors become JSON in core.api_errors."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.db.models import OuterRef, QuerySet, Subquery
from drf_spectacular.utils import extend_schema
from rest_framework import status
from rest_framework.generics import GenericAPIView
from rest_framework.parsers import MultiPartParser
from rest_framework.permissions import IsAdminUser, IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from core.api import ordering_from, ordering_parameter, validated
from core.errors import InvalidFile, RowError, ValidationFailed
from recalc.models import ACTIVE_JOB_STATUSES, RecalcJob
from recalc.serializers import RecalcJobSerializer
from sessions_app import serializers as s
from sessions_app.access import get_revision_for, session_for
from sessions_app.bulk import sessions_bulk_close
from sessions_app.models import (
    Engagement,
    ImportProfile,
    Membership,
    ProcessingSession,
    ReceiptVersion,
    UserPreference,
)
from sessions_app.selectors import (
    employee_rows,
    engagements_for_user,
    get_engagement_for,
    session_list_for_user,
)
from sessions_app.services import (
    import_profile_save,
    receipt_version_reapply,
    receipt_version_upload,
    revision_resolve,
    session_card_replace,
    session_close,
    session_create,
    session_update,
    user_current_session_switch,
)

SESSION_ORDERING = ("period_start", "name", "status", "created_at", "id")
EMPLOYEE_ORDERING = (
    "employee_id",
    "employee_name",
    "car_amount",
    "receipt_amount",
    "difference",
    "status",
)
# Multipart framing around the files; anything beyond the file limits plus this is refused
# before a byte of the body is read.
MULTIPART_OVERHEAD_BYTES = 1024 * 1024


# --- Helpers: parsing what scripts send -----------------------------------------------------------


def upload_size_guard(request: Request, *, files: int) -> None:
    """Refuse an oversized upload from its Content-Length, before Django spools it to disk.
    The file services check each file's own size again (settings.UPLOAD_MAX_MB)."""
    limit = settings.UPLOAD_MAX_MB * 1024 * 1024 * files + MULTIPART_OVERHEAD_BYTES
    try:
        length = int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        length = 0
    if length > limit:
        message = f"The upload is larger than {settings.UPLOAD_MAX_MB} MB per file."
        raise InvalidFile([RowError(None, None, None, message)], file_label="The upload")


def profile_named(engagement: Engagement, name: str | None, *, field: str) -> ImportProfile | None:
    """Scripts name import profiles; an unknown name is a 400 listing the known ones."""
    if not name:
        return None
    profile = ImportProfile.objects.filter(engagement=engagement, name=name).first()
    if profile is None:
        known = list(engagement.import_profiles.values_list("name", flat=True))
        message = f"No import profile named '{name}' in '{engagement.name}'."
        raise ValidationFailed(message, details={field: [message], "known_profiles": known})
    return profile


def with_active_job(sessions: QuerySet[ProcessingSession]) -> QuerySet[ProcessingSession]:
    active = RecalcJob.objects.filter(session=OuterRef("pk"), status__in=ACTIVE_JOB_STATUSES)
    return sessions.annotate(
        active_job_id=Subquery(active.values("pk")[:1]),
        active_job_status=Subquery(active.values("status")[:1]),
    )


def session_row(user: Any, session: ProcessingSession) -> dict[str, Any]:
    """A session as the list shows it, with its counts and its active job."""
    row = with_active_job(session_list_for_user(user)).get(pk=session.pk)
    return s.SessionSerializer(row).data


# --- The user -------------------------------------------------------------------------------------


def me_payload(user: Any) -> dict[str, Any]:
    roles = dict(Membership.objects.filter(user=user).values_list("engagement_id", "role"))
    visible = list(engagements_for_user(user).order_by("name"))
    engagements = [
        {"id": e.pk, "slug": e.slug, "name": e.name, "role": roles.get(e.pk, "operator")}
        for e in visible
    ]
    preference = (
        UserPreference.objects.filter(user=user)
        .select_related("default_engagement", "current_session__engagement")
        .first()
    )
    default = preference.default_engagement if preference else None
    current = preference.current_session if preference else None
    return {
        "user": {
            "id": user.pk,
            "username": user.get_username(),
            "email": user.email,
            "is_staff": user.is_staff,
        },
        "engagements": engagements,
        "default_engagement": default.slug if default and default in visible else None,
        "current_session": _current_session(current, {e.pk for e in visible}),
    }


def _current_session(current: ProcessingSession | None, visible: set[int]) -> Any:
    # A session of an engagement the user has since left is not theirs to see any more.
    if current is None or current.engagement_id not in visible:
        return None
    return {
        "id": current.pk,
        "name": current.name,
        "engagement": current.engagement.slug,
        "status": current.status,
    }


class MeApi(APIView):
    @extend_schema(tags=["me"], responses=s.MeSerializer)
    def get(self, request: Request) -> Response:
        return Response(me_payload(request.user))


class SessionSwitchApi(APIView):
    @extend_schema(tags=["me"], request=None, responses=s.MeSerializer)
    def post(self, request: Request, pk: int) -> Response:
        session = session_for(request.user, pk)
        user_current_session_switch(user=request.user, session=session)
        return Response(me_payload(request.user))


# --- Sessions -------------------------------------------------------------------------------------


class SessionListCreateApi(GenericAPIView):
    parser_classes = [MultiPartParser]

    @extend_schema(
        tags=["sessions"],
        parameters=[
            s.SessionListQuerySerializer,
            ordering_parameter(SESSION_ORDERING, "-period_start"),
        ],
        responses=s.SessionSerializer(many=True),
    )
    def get(self, request: Request) -> Response:
        query = validated(s.SessionListQuerySerializer, request.query_params)
        ordering = ordering_from(request, SESSION_ORDERING, ["-period_start"])
        sessions = with_active_job(session_list_for_user(request.user, **query)).order_by(*ordering)
        page = self.paginate_queryset(sessions)
        return self.get_paginated_response(s.SessionSerializer(page, many=True).data)

    @extend_schema(
        tags=["sessions"],
        request=s.SessionCreateSerializer,
        responses={201: s.SessionSerializer},
    )
    def post(self, request: Request) -> Response:
        upload_size_guard(request, files=2)
        data = validated(s.SessionCreateSerializer, request.data)
        engagement = get_engagement_for(request.user, data["engagement"], write=True)
        session = session_create(
            engagement=engagement,
            name=data["name"],
            period_start=data["period_start"],
            period_end=data["period_end"],
            tolerance=data["tolerance"],
            card_file=data["card_file"],
            card_profile=profile_named(engagement, data.get("card_profile"), field="card_profile"),
            receipts_file=data.get("receipts_file"),
            receipts_profile=profile_named(
                engagement, data.get("receipts_profile"), field="receipts_profile"
            ),
            actor=request.user,
        )
        return Response(session_row(request.user, session), status=status.HTTP_201_CREATED)


class SessionDetailApi(APIView):
    @extend_schema(tags=["sessions"], responses=s.SessionSerializer)
    def get(self, request: Request, pk: int) -> Response:
        session = session_for(request.user, pk)
        return Response(session_row(request.user, session))

    @extend_schema(
        tags=["sessions"], request=s.SessionUpdateSerializer, responses=s.SessionSerializer
    )
    def patch(self, request: Request, pk: int) -> Response:
        session = session_for(request.user, pk, write=True)
        data = validated(s.SessionUpdateSerializer, request.data)
        session = session_update(
            session=session,
            name=data.get("name"),
            tolerance=data.get("tolerance"),
            actor=request.user,
        )
        return Response(session_row(request.user, session))


class SessionCloseApi(APIView):
    @extend_schema(
        tags=["sessions"], request=s.SessionCloseSerializer, responses=s.SessionSerializer
    )
    def post(self, request: Request, pk: int) -> Response:
        session = session_for(request.user, pk, write=True)
        data = validated(s.SessionCloseSerializer, request.data)
        session = session_close(session=session, reason=data["reason"], actor=request.user)
        return Response(session_row(request.user, session))


class SessionCardReplaceApi(APIView):
    parser_classes = [MultiPartParser]

    @extend_schema(
        tags=["sessions"],
        request=s.CardReplaceSerializer,
        responses={202: s.SessionAndJobSerializer},
        description="Replaces the card statement (CAR) and queues the recalculation of every "
        "employee. Allowed only before the session's first pVault export (409 "
        "card_replace_not_allowed after it, even if that batch was voided); a file identical "
        "to the current statement is refused (409 duplicate_file) unless `force`.",
    )
    def post(self, request: Request, pk: int) -> Response:
        session = session_for(request.user, pk, write=True)
        upload_size_guard(request, files=1)
        data = validated(s.CardReplaceSerializer, request.data)
        job = session_card_replace(
            session=session,
            file=data["file"],
            profile=profile_named(session.engagement, data.get("profile"), field="profile"),
            note=data["note"],
            force=data["force"],
            actor=request.user,
        )
        job.refresh_from_db()
        return Response(
            {"session": session_row(request.user, session), "job": RecalcJobSerializer(job).data},
            status=status.HTTP_202_ACCEPTED,
        )


class SessionBulkCloseApi(APIView):
    permission_classes = [IsAuthenticated, IsAdminUser]

    @extend_schema(
        tags=["sessions"],
        request=s.SessionBulkCloseSerializer,
        responses=s.BulkResultsSerializer,
        description="Staff only. Each session is closed on its own; `results` says, per "
        "session, whether it closed and why not.",
    )
    def post(self, request: Request) -> Response:
        data = validated(s.SessionBulkCloseSerializer, request.data)
        ids = list(dict.fromkeys(data["session_ids"]))
        found = ProcessingSession.objects.select_related("engagement").in_bulk(ids)
        results = sessions_bulk_close(
            sessions=[found[pk] for pk in ids if pk in found],
            reason=data["reason"],
            actor=request.user,
        )
        by_id = {item["session_id"]: item for item in results}
        missing = {"ok": False, "error": "No such session."}
        ordered = [by_id.get(pk, {"session_id": pk, **missing}) for pk in ids]
        return Response({"results": ordered})


# --- Import profiles ------------------------------------------------------------------------------


class ImportProfileListCreateApi(GenericAPIView):
    @extend_schema(tags=["import profiles"], responses=s.ImportProfileSerializer(many=True))
    def get(self, request: Request, slug: str) -> Response:
        engagement = get_engagement_for(request.user, slug)
        profiles = engagement.import_profiles.select_related("created_by").order_by("name", "pk")
        page = self.paginate_queryset(profiles)
        return self.get_paginated_response(s.ImportProfileSerializer(page, many=True).data)

    @extend_schema(
        tags=["import profiles"],
        request=s.ImportProfileInputSerializer,
        responses={201: s.ImportProfileSerializer, 200: s.ImportProfileSerializer},
        description="Creates the profile (201) or updates the one of that name (200).",
    )
    def post(self, request: Request, slug: str) -> Response:
        engagement = get_engagement_for(request.user, slug, write=True)
        data = validated(s.ImportProfileInputSerializer, request.data)
        existed = engagement.import_profiles.filter(name=data["name"].strip()).exists()
        profile = import_profile_save(engagement=engagement, data=data, actor=request.user)
        answer = status.HTTP_200_OK if existed else status.HTTP_201_CREATED
        return Response(s.ImportProfileSerializer(profile).data, status=answer)


# --- Receipts -------------------------------------------------------------------------------------


def version_and_job(version: ReceiptVersion) -> dict[str, Any]:
    job = version.recalc_jobs.order_by("-pk").first()
    return {
        "version": s.ReceiptVersionSerializer(version).data,
        "job": RecalcJobSerializer(job).data if job else None,
    }


class ReceiptListUploadApi(GenericAPIView):
    parser_classes = [MultiPartParser]

    @extend_schema(tags=["receipts"], responses=s.ReceiptVersionSerializer(many=True))
    def get(self, request: Request, pk: int) -> Response:
        session = session_for(request.user, pk)
        versions = session.receipt_versions.select_related(
            "profile", "copied_from", "uploaded_by"
        ).order_by("version")
        page = self.paginate_queryset(versions)
        return self.get_paginated_response(s.ReceiptVersionSerializer(page, many=True).data)

    @extend_schema(
        tags=["receipts"],
        request=s.ReceiptUploadSerializer,
        responses={202: s.VersionAndJobSerializer},
        description="Stores the next receipts version and queues its recalculation (or, "
        "with `preview`, a job that stops before applying).",
    )
    def post(self, request: Request, pk: int) -> Response:
        session = session_for(request.user, pk, write=True)
        upload_size_guard(request, files=1)
        data = validated(s.ReceiptUploadSerializer, request.data)
        version = receipt_version_upload(
            session=session,
            file=data["file"],
            mode=data["mode"],
            note=data["note"],
            force=data["force"],
            preview=data["preview"],
            profile=profile_named(session.engagement, data.get("profile"), field="profile"),
            actor=request.user,
        )
        return Response(version_and_job(version), status=status.HTTP_202_ACCEPTED)


class ReceiptReapplyApi(APIView):
    @extend_schema(
        tags=["receipts"],
        request=s.ReceiptReapplySerializer,
        responses={202: s.VersionAndJobSerializer},
        description="Rollback: a new version holding the lines in effect as of `version`.",
    )
    def post(self, request: Request, pk: int, version: int) -> Response:
        session = session_for(request.user, pk, write=True)
        data = validated(s.ReceiptReapplySerializer, request.data)
        new_version = receipt_version_reapply(
            session=session, version_number=version, note=data["note"], actor=request.user
        )
        return Response(version_and_job(new_version), status=status.HTTP_202_ACCEPTED)


# --- Employees ------------------------------------------------------------------------------------


class EmployeeListApi(GenericAPIView):
    @extend_schema(
        tags=["employees"],
        parameters=[
            s.EmployeeListQuerySerializer,
            ordering_parameter(EMPLOYEE_ORDERING, "employee_id"),
        ],
        responses=s.EmployeeRevisionSerializer(many=True),
    )
    def get(self, request: Request, pk: int) -> Response:
        session = session_for(request.user, pk)
        query = validated(s.EmployeeListQuerySerializer, request.query_params)
        ordering = ordering_from(request, EMPLOYEE_ORDERING, ["employee_id"])
        rows = employee_rows(
            session,
            search=query.get("search") or "",
            status=query.get("status") or "",
            change=query.get("change") or "",
            exported=query.get("exported"),
            ordering=ordering,
        )
        page = self.paginate_queryset(rows)
        return self.get_paginated_response(s.EmployeeRevisionSerializer(page, many=True).data)


class EmployeeDetailApi(APIView):
    @extend_schema(tags=["employees"], responses=s.EmployeeRevisionSerializer)
    def get(self, request: Request, pk: int, employee_id: str) -> Response:
        session = session_for(request.user, pk)
        return Response(s.EmployeeRevisionSerializer(get_revision_for(session, employee_id)).data)

    @extend_schema(
        tags=["employees"],
        request=s.EmployeeResolveSerializer,
        responses=s.EmployeeRevisionSerializer,
        description="Resolve an exception with a note. Send the `version` you saw: a revision "
        "changed since then is refused with 409 stale_version.",
    )
    def patch(self, request: Request, pk: int, employee_id: str) -> Response:
        session = session_for(request.user, pk, write=True)
        revision = get_revision_for(session, employee_id)
        data = validated(s.EmployeeResolveSerializer, request.data)
        revision = revision_resolve(
            revision=revision,
            note=data["note"],
            expected_version=data["version"],
            actor=request.user,
        )
        return Response(s.EmployeeRevisionSerializer(get_revision_for(session, employee_id)).data)
