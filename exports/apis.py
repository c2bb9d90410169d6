"""The scripts' door to exports: change summary, proof, preview, generate (idempotent),
history, download, void, mark-exported and bulk export.

Viewers read and download; operators generate and mark; staff void and bulk-export."""

from __future__ import annotations

import io
from typing import Any

from django.core.exceptions import PermissionDenied
from django.db.models import prefetch_related_objects
from django.http import FileResponse, Http404
from django.utils import timezone
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import status
from rest_framework.generics import GenericAPIView
from rest_framework.permissions import IsAdminUser, IsAuthenticated
from rest_framework.renderers import JSONRenderer
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from core.api import FirstRendererNegotiation, not_found_as, validated
from core.errors import ValidationFailed
from exports import serializers as s
from exports.models import ExportBatch
from exports.selectors import (
    change_summary,
    export_history,
    export_preview,
    get_batch_for,
    session_proof,
)
from exports.services import (
    export_batch_create,
    export_batch_file,
    export_batch_mark_exported,
    export_batch_void,
    exports_bulk_create,
)
from exports.writers import content_type_for
from sessions_app.access import session_for
from sessions_app.models import ProcessingSession

IDEMPOTENCY_HEADER = "Idempotency-Key"


def batch_for(user: Any, pk: int, *, write: bool = False) -> ExportBatch:
    with not_found_as("No such export batch."):
        return get_batch_for(user, pk, write=write)


def batch_answer(batch: ExportBatch, *, answer: int = status.HTTP_200_OK) -> Response:
    return Response(s.ExportBatchSerializer(batch).data, status=answer)


def file_response(data: bytes, *, filename: str, file_format: str) -> FileResponse:
    response = FileResponse(
        io.BytesIO(data),
        as_attachment=True,
        filename=filename,
        content_type=content_type_for(file_format),
    )
    return response


# --- Reads ----------------------------------------------------------------------------------------


class ChangeSummaryApi(APIView):
    @extend_schema(tags=["exports"], responses=s.ChangeSummarySerializer)
    def get(self, request: Request, pk: int) -> Response:
        session = session_for(request.user, pk)
        return Response(s.ChangeSummarySerializer(change_summary(session)).data)


class SessionProofApi(APIView):
    @extend_schema(
        tags=["exports"],
        responses=s.SessionProofSerializer,
        description="statement_total = exported + pending + exceptions, to the cent; when it "
        "does not balance, `offending_employees` names who causes it.",
    )
    def get(self, request: Request, pk: int) -> Response:
        session = session_for(request.user, pk)
        return Response(s.SessionProofSerializer(session_proof(session)).data)


class ExportPreviewApi(APIView):
    @extend_schema(
        tags=["exports"],
        parameters=[
            OpenApiParameter(
                "export_type", str, OpenApiParameter.PATH, enum=list(ExportBatch.ExportType)
            ),
            s.ExportPreviewQuerySerializer,
        ],
        responses=s.ExportPreviewSerializer,
        description="What an export would contain, before anything is generated: counts, "
        "total amount, warnings and the employees.",
    )
    def get(self, request: Request, pk: int, export_type: str) -> Response:
        session = session_for(request.user, pk)
        if export_type not in ExportBatch.ExportType.values:
            raise Http404(f"No export type '{export_type}': use pvault or exceptions.")
        query = validated(s.ExportPreviewQuerySerializer, request.query_params)
        preview = export_preview(
            session, export_type=export_type, delta_only=not query["include_exported"]
        )
        # The rows name their last batch and resolver: two queries, not two per row.
        prefetch_related_objects(preview.employees, "last_export_batch", "resolved_by")
        return Response(s.ExportPreviewSerializer(preview).data)


# --- Generate and list ----------------------------------------------------------------------------


def idempotency_key(request: Request) -> str | None:
    key = request.headers.get(IDEMPOTENCY_HEADER, "").strip()
    if not key.isprintable():
        raise ValidationFailed(
            f"{IDEMPOTENCY_HEADER} must be printable text.",
            details={IDEMPOTENCY_HEADER: ["Control characters are not allowed."]},
        )
    if len(key) > s.IDEMPOTENCY_KEY_MAX:
        raise ValidationFailed(
            f"{IDEMPOTENCY_HEADER} is longer than {s.IDEMPOTENCY_KEY_MAX} characters.",
            details={IDEMPOTENCY_HEADER: ["Too long."]},
        )
    return key or None


class ExportListCreateApi(GenericAPIView):
    @extend_schema(tags=["exports"], responses=s.ExportBatchSerializer(many=True))
    def get(self, request: Request, pk: int) -> Response:
        session = session_for(request.user, pk)
        page = self.paginate_queryset(export_history(session))
        return self.get_paginated_response(s.ExportBatchSerializer(page, many=True).data)

    @extend_schema(
        tags=["exports"],
        parameters=[
            OpenApiParameter(
                IDEMPOTENCY_HEADER,
                str,
                OpenApiParameter.HEADER,
                description="Retrying with the same key returns the same batch (200) "
                "instead of generating a second one.",
            )
        ],
        request=s.ExportCreateSerializer,
        responses={201: s.ExportBatchSerializer, 200: s.ExportBatchSerializer},
        description="Generate an export batch. 409 nothing_to_export when there is nothing "
        "new; 409 confirm_required when a full export would resend employees without "
        "`confirm` and a `reason`.",
    )
    def post(self, request: Request, pk: int) -> Response:
        session = session_for(request.user, pk, write=True)
        key = idempotency_key(request)
        data = validated(s.ExportCreateSerializer, request.data)
        batch, created = export_batch_create(
            session=session,
            export_type=data["export_type"],
            delta_only=data["delta_only"],
            mark_as_exported=data["mark_as_exported"],
            confirm=data["confirm"],
            reason=data["reason"],
            idempotency_key=key,
            file_format=data["file_format"],
            actor=request.user,
        )
        batch = batch_for(request.user, batch.pk)
        return batch_answer(batch, answer=status.HTTP_201_CREATED if created else 200)


# --- One batch ------------------------------------------------------------------------------------


class ExportDownloadApi(APIView):
    renderer_classes = [JSONRenderer]
    content_negotiation_class = FirstRendererNegotiation

    @extend_schema(
        tags=["exports"],
        responses={
            (200, "text/csv"): OpenApiTypes.BINARY,
            (200, content_type_for("xlsx")): OpenApiTypes.BINARY,
        },
        description="The stored file, byte for byte as generated (its sha256 is checked "
        "first and sent in X-Content-SHA256). Viewers may download.",
    )
    def get(self, request: Request, pk: int) -> FileResponse:
        batch = batch_for(request.user, pk)
        data = export_batch_file(batch=batch, actor=request.user)
        response = file_response(
            data, filename=f"{batch.batch_code}.{batch.file_format}", file_format=batch.file_format
        )
        response["X-Content-SHA256"] = batch.sha256
        return response


class ExportVoidApi(APIView):
    @extend_schema(
        tags=["exports"],
        request=s.ExportVoidSerializer,
        responses=s.ExportBatchSerializer,
        description="Staff only. Restores each employee's previous export snapshot; 409 "
        "invalid_state when a later batch includes the same employees.",
    )
    def post(self, request: Request, pk: int) -> Response:
        batch = batch_for(request.user, pk, write=True)
        if not request.user.is_staff:
            raise PermissionDenied("Only staff can void an export batch.")
        data = validated(s.ExportVoidSerializer, request.data)
        export_batch_void(batch=batch, reason=data["reason"], actor=request.user)
        return batch_answer(batch_for(request.user, pk))


class MarkExportedApi(APIView):
    @extend_schema(
        tags=["exports"],
        request=s.MarkExportedSerializer,
        responses=s.MarkExportedResultSerializer,
        description="Record that pVault loaded a batch generated without marking (all its "
        "employees, or those listed).",
    )
    def post(self, request: Request, pk: int) -> Response:
        session = session_for(request.user, pk, write=True)
        data = validated(s.MarkExportedSerializer, request.data)
        batch = ExportBatch.objects.filter(pk=data["batch_id"], session=session).first()
        if batch is None:
            raise Http404("No such export batch in this session.")
        marked = export_batch_mark_exported(
            batch=batch, employee_ids=data["employee_ids"], actor=request.user
        )
        batch = batch_for(request.user, batch.pk)
        return Response({"marked": marked, "batch": s.ExportBatchSerializer(batch).data})


# --- Bulk -----------------------------------------------------------------------------------------


class BulkExportApi(APIView):
    permission_classes = [IsAuthenticated, IsAdminUser]
    renderer_classes = [JSONRenderer]
    content_negotiation_class = FirstRendererNegotiation

    @extend_schema(
        tags=["exports"],
        request=s.BulkExportSerializer,
        responses={(200, content_type_for("zip")): OpenApiTypes.BINARY},
        description="Staff only. One ZIP: a file per session and a manifest; one batch per "
        "session. A session that fails is reported without stopping the others: the "
        "per-session results are in the ZIP's manifest.csv and, as JSON, manifest.json; "
        "the X-Export-Summary header only counts them (`sessions=3 ok=2 failed=1`), so "
        "its size does not grow with the number of sessions.",
    )
    def post(self, request: Request) -> FileResponse:
        data = validated(s.BulkExportSerializer, request.data)
        ids = list(dict.fromkeys(data["session_ids"]))
        found = ProcessingSession.objects.select_related("engagement").in_bulk(ids)
        result = exports_bulk_create(
            sessions=[found[pk] for pk in ids if pk in found],
            export_type=data["export_type"],
            delta_only=data["delta_only"],
            actor=request.user,
            missing_session_ids=[pk for pk in ids if pk not in found],
        )
        ok = result.ok_count
        stamp = timezone.now().strftime("%Y%m%d-%H%M%S")
        response = file_response(
            result.zip_bytes, filename=f"closebook-exports-{stamp}.zip", file_format="zip"
        )
        response["X-Export-Summary"] = (
            f"sessions={len(result.results)} ok={ok} failed={len(result.results) - ok}"
        )
        return response
