"""/api/v1/ (the scripts' door), /api/schema/ and /api/docs/ (SPEC §13)."""

from __future__ import annotations

from csp.decorators import csp_update
from django.urls import include, path, re_path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView

from core import converters  # noqa: F401  (registers the employee_id converter)
from core.api_errors import api_not_found
from exports import apis as exports_api
from recalc import apis as recalc_api
from sessions_app import apis as sessions_api

session_urls = [
    # Before the employee routes: their employee id must not swallow `…/lines/`.
    path("", include("matching.api_urls")),
    path("", sessions_api.SessionDetailApi.as_view(), name="api-session"),
    path("switch/", sessions_api.SessionSwitchApi.as_view(), name="api-session-switch"),
    path("close/", sessions_api.SessionCloseApi.as_view(), name="api-session-close"),
    path("card/", sessions_api.SessionCardReplaceApi.as_view(), name="api-session-card"),
    path("receipts/", sessions_api.ReceiptListUploadApi.as_view(), name="api-receipts"),
    path(
        "receipts/<int:version>/reapply/",
        sessions_api.ReceiptReapplyApi.as_view(),
        name="api-receipts-reapply",
    ),
    path("employees/", sessions_api.EmployeeListApi.as_view(), name="api-employees"),
    path(
        "employees/<employee_id:employee_id>/",
        sessions_api.EmployeeDetailApi.as_view(),
        name="api-employee",
    ),
    path("recalculate/", recalc_api.SessionRecalculateApi.as_view(), name="api-recalculate"),
    path(
        "reprocess-status/",
        recalc_api.SessionReprocessStatusApi.as_view(),
        name="api-reprocess-status",
    ),
    path("change-summary/", exports_api.ChangeSummaryApi.as_view(), name="api-change-summary"),
    path("proof/", exports_api.SessionProofApi.as_view(), name="api-proof"),
    path(
        "export-delta/<str:export_type>/",
        exports_api.ExportPreviewApi.as_view(),
        name="api-export-preview",
    ),
    path("exports/", exports_api.ExportListCreateApi.as_view(), name="api-session-exports"),
    path("mark-exported/", exports_api.MarkExportedApi.as_view(), name="api-mark-exported"),
]

job_urls = [
    path("", recalc_api.JobDetailApi.as_view(), name="api-job"),
    path("diff/", recalc_api.JobDiffApi.as_view(), name="api-job-diff"),
    path("events/", recalc_api.JobEventsApi.as_view(), name="api-job-events"),
    *(
        path(f"{action}/", recalc_api.job_action_view(action).as_view(), name=f"api-job-{action}")
        for action in recalc_api.JOB_ACTIONS
    ),
]

v1_urls = [
    path("me/", sessions_api.MeApi.as_view(), name="api-me"),
    path("sessions/", sessions_api.SessionListCreateApi.as_view(), name="api-sessions"),
    path(
        "sessions/bulk-close/",
        sessions_api.SessionBulkCloseApi.as_view(),
        name="api-sessions-bulk-close",
    ),
    path(
        "sessions/bulk-export/",
        exports_api.BulkExportApi.as_view(),
        name="api-sessions-bulk-export",
    ),
    path("sessions/<int:pk>/", include(session_urls)),
    path(
        "engagements/<slug:slug>/import-profiles/",
        sessions_api.ImportProfileListCreateApi.as_view(),
        name="api-import-profiles",
    ),
    path("jobs/<int:pk>/", include(job_urls)),
    path(
        "exports/<int:pk>/download/", exports_api.ExportDownloadApi.as_view(), name="api-download"
    ),
    path("exports/<int:pk>/void/", exports_api.ExportVoidApi.as_view(), name="api-void"),
    path("analytics/", include("audit.api_urls")),
    path("", include("chasing.api_urls")),
]

urlpatterns = [
    path("v1/", include(v1_urls)),
    path("schema/", SpectacularAPIView.as_view(), name="api-schema"),
    # The split view serves its initialiser as a script file: no inline script under the CSP.
    # Swagger UI sets inline styles on its elements.
    path(
        "docs/",
        csp_update({"style-src": ["'unsafe-inline'"]})(
            SpectacularSwaggerSplitView.as_view(url_name="api-schema")
        ),
        name="api-docs",
    ),
    re_path(r"^[\s\S]*$", api_not_found),
]
