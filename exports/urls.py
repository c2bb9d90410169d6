from django.urls import path

from exports import views

app_name = "exports"

urlpatterns = [
    path("sessions/<int:pk>/new/", views.export_new, name="export_new"),
    path("sessions/<int:pk>/preview/", views.export_preview_view, name="export_preview"),
    path("<int:pk>/download/", views.batch_download, name="batch_download"),
]
