"""Operator pages of line matching. Included before sessions_app's routes, whose employee
id would otherwise take `…/lines/` for part of the id."""

from __future__ import annotations

from django.urls import path

import core.converters  # noqa: F401 - registers the employee_id converter
from matching import views

app_name = "matching"

lines = "sessions/<int:pk>/employees/<employee_id:employee_id>/lines/"

urlpatterns = [
    path(lines, views.employee_lines_panel, name="employee_lines"),
    path(f"{lines}match/", views.lines_match_view, name="lines_match"),
    path(f"{lines}unmatch/", views.lines_unmatch_view, name="lines_unmatch"),
    path(
        "sessions/<int:pk>/unmatched-charges/",
        views.unmatched_charges_page,
        name="unmatched_charges",
    ),
]
