"""/api/v1/sessions/{id}/… routes of line matching (SPEC §13)."""

from __future__ import annotations

from django.urls import path

import core.converters  # noqa: F401 - registers the employee_id converter
from matching import apis

employee = "employees/<employee_id:employee_id>/lines/"

urlpatterns = [
    path(employee, apis.EmployeeLinesApi.as_view(), name="api-employee-lines"),
    path(f"{employee}match/", apis.EmployeeLinesMatchApi.as_view(), name="api-lines-match"),
    path(f"{employee}unmatch/", apis.EmployeeLinesUnmatchApi.as_view(), name="api-lines-unmatch"),
    path("unmatched-charges/", apis.UnmatchedChargesApi.as_view(), name="api-unmatched-charges"),
]
