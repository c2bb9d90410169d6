"""GET /api/v1/analytics/sessions/: the figures of the analytics page, for staff."""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework.permissions import IsAdminUser, IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from audit.analytics import session_analytics
from audit.serializers import AnalyticsQuerySerializer, SessionAnalyticsSerializer
from core.api_errors import api_exception_handler
from sessions_app.models import Engagement


class SessionAnalyticsApi(APIView):
    permission_classes = [IsAuthenticated, IsAdminUser]

    def get_exception_handler(self) -> Any:
        # The API's one error body, whatever the project-wide handler setting says.
        return api_exception_handler

    @extend_schema(
        operation_id="analytics_sessions",
        summary="Session analytics across all engagements (staff only)",
        parameters=[
            OpenApiParameter("date_from", str, description="YYYY-MM-DD, inclusive"),
            OpenApiParameter("date_to", str, description="YYYY-MM-DD, inclusive"),
        ],
        responses={200: SessionAnalyticsSerializer},
        tags=["analytics"],
    )
    def get(self, request: Request) -> Response:
        query = AnalyticsQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        result = session_analytics(
            engagements=Engagement.objects.all(),
            date_from=query.validated_data.get("date_from"),
            date_to=query.validated_data.get("date_to"),
        )
        return Response(SessionAnalyticsSerializer(result).data)
