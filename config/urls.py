from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path

urlpatterns = [
    path("admin/", admin.site.urls),
    path("login/", auth_views.LoginView.as_view(), name="login"),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("api/", include("config.api_urls")),
    path("audit/", include("audit.urls")),
    path("exports/", include("exports.urls")),
    path("", include("recalc.urls")),
    path("", include("sessions_app.urls")),
]
