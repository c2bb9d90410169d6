"""Recalculation jobs of a session: start one, watch its panel, cancel, apply, discard, resume."""

from django.urls import path

from recalc import views

app_name = "recalc"

session = "sessions/<int:pk>/"

urlpatterns = [
    path(f"{session}recalculate/", views.session_recalculate_view, name="session_recalculate"),
    path(f"{session}jobs/<int:job_pk>/", views.job_panel, name="job_panel"),
    path(f"{session}jobs/<int:job_pk>/cancel/", views.job_cancel, name="job_cancel"),
    path(f"{session}jobs/<int:job_pk>/apply/", views.job_apply, name="job_apply"),
    path(f"{session}jobs/<int:job_pk>/discard/", views.job_discard, name="job_discard"),
    path(f"{session}jobs/<int:job_pk>/resume/", views.job_resume, name="job_resume"),
]
